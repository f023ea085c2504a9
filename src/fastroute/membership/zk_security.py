# SPDX-License-Identifier: Apache-2.0
"""ZooKeeper access control (digest identities, ACLs) and TLS settings (docs/cluster.md §9).

Credentials are taken by reference only (an environment variable or a file) and never
appear in a repr, an error, a log line or CLI output: objects here show the user name
and where the credential came from, nothing else. The digest id (`user:base64(sha1(
user:password))`, ZooKeeper Administrator's Guide, "digest" scheme) is a password hash
and is treated like the password.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import re
import stat
import threading
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..redact import quoted

__all__ = ["ZooKeeperACL", "ZooKeeperAuth", "ZooKeeperTLS", "zookeeper_settings"]

_USER = re.compile(r"[A-Za-z0-9_.@-]{1,128}")
_DIGEST_ID = re.compile(r"([A-Za-z0-9_.@-]{1,128}):([A-Za-z0-9+/]{27}=)")
MAX_CREDENTIAL_BYTES = 4096


def _digest(user: str, password: str) -> str:
    # ZooKeeper DigestAuthenticationProvider.generateDigest: base64(sha1("user:password"))
    return base64.b64encode(hashlib.sha1(f"{user}:{password}".encode()).digest()).decode()


class ZooKeeperAuth:
    """One digest identity (`user`, password) a process authenticates as.

    Build it by reference: `ZooKeeperAuth.from_env("FASTROUTE_ZK_AUTH")` or
    `ZooKeeperAuth.from_file("/etc/fastroute/zk-writer")`; either holds `USER:PASSWORD`.
    ZooKeeper's digest scheme accepts any password at login, so a wrong password shows
    up later as a permission error on the first protected operation.
    """

    __slots__ = ("user", "source", "_password")

    def __init__(self, user: str, password: str, *, source: str = "argument"):
        if not isinstance(user, str) or not _USER.fullmatch(user):
            raise ValueError(f"auth: user name must be 1-128 characters of A-Z a-z 0-9 _ . @ -, got {quoted(user)}")
        if not isinstance(password, str) or not password:
            # never echo a password-like value, not even masked
            raise ValueError(f"auth: password for user {user!r} must be a non-empty str "
                             f"(got {type(password).__name__})")
        if len(password.encode()) > MAX_CREDENTIAL_BYTES:
            raise ValueError(f"auth: password for user {user!r} is longer than {MAX_CREDENTIAL_BYTES} bytes")
        self.user, self.source, self._password = user, source, password

    @classmethod
    def parse(cls, text: str, *, source: str, setting: str) -> "ZooKeeperAuth":
        if not isinstance(text, str):
            raise TypeError(f"{setting}: expected str holding USER:PASSWORD, got {type(text).__name__}")
        if len(text.encode()) > MAX_CREDENTIAL_BYTES:
            raise ValueError(f"{setting}: {source} is longer than {MAX_CREDENTIAL_BYTES} bytes")
        text = text.strip("\r\n")
        user, sep, password = text.partition(":")
        if not sep or not user or not password:
            raise ValueError(f"{setting}: {source} must hold USER:PASSWORD (one line); its content is not shown")
        try:
            return cls(user, password, source=source)
        except ValueError as exc:
            raise ValueError(f"{setting}: {source}: {exc}") from None

    @classmethod
    def from_env(cls, name: str) -> "ZooKeeperAuth":
        """Reads `USER:PASSWORD` from environment variable `name`."""
        if not isinstance(name, str) or not name or "=" in name or "\x00" in name:
            raise ValueError(f"zk_auth_env: expected an environment variable name, got {quoted(name)}")
        value = os.environ.get(name)
        if value is None:
            raise ValueError(f"zk_auth_env: environment variable {name!r} is not set")
        return cls.parse(value, source=f"environment variable {name!r}", setting="zk_auth_env")

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "ZooKeeperAuth":
        """Reads `USER:PASSWORD` from the first line of `path`; warns if the file is
        readable by group or others (the credential should be 0600)."""
        if not isinstance(path, (str, os.PathLike)) or not str(path):
            raise ValueError(f"zk_auth_file: expected a file path, got {quoted(path)}")
        p = Path(path)
        try:
            mode = p.stat().st_mode
            if not stat.S_ISREG(mode):
                raise ValueError(f"zk_auth_file: {str(p)!r} is not a regular file")
            if p.stat().st_size > MAX_CREDENTIAL_BYTES:
                raise ValueError(f"zk_auth_file: {str(p)!r} is longer than {MAX_CREDENTIAL_BYTES} bytes")
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise ValueError(f"zk_auth_file: cannot read {str(p)!r}: {reason}") from None
        if mode & 0o077:
            warnings.warn(f"zk_auth_file: {str(p)!r} is readable by group or others (mode {stat.S_IMODE(mode):o}); "
                          "chmod 600 it", stacklevel=2)
        lines = text.splitlines()
        return cls.parse(lines[0] if lines else "", source=f"file {str(p)!r}", setting="zk_auth_file")

    def digest_id(self) -> str:
        """`user:base64(sha1(user:password))`: what an ACL names this identity by.
        A password hash: store it like a credential (e.g. in the ACL file), never log it."""
        return f"{self.user}:{_digest(self.user, self._password)}"

    def _kazoo_auth_data(self) -> list[tuple[str, str]]:
        return [("digest", f"{self.user}:{self._password}")]

    def _secrets(self) -> tuple[str, ...]:
        return (self._password, _digest(self.user, self._password))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ZooKeeperAuth) and self.digest_id() == other.digest_id()

    def __hash__(self) -> int:
        return hash(("ZooKeeperAuth", self.user))

    def __repr__(self) -> str:
        return f"ZooKeeperAuth(user={self.user!r}, from {self.source})"

    def __reduce__(self):
        # a credential must not travel by accident (Dask, multiprocessing): load it where it is used
        raise TypeError("ZooKeeperAuth cannot be pickled: load the credential in each process "
                        "(ZooKeeperAuth.from_env / from_file)")


def _identity(value: object, setting: str) -> tuple[str, str]:
    """(user, digest id) of a ZooKeeperAuth or a digest id string."""
    if isinstance(value, ZooKeeperAuth):
        return value.user, value.digest_id()
    if isinstance(value, str):
        match = _DIGEST_ID.fullmatch(value)
        if match:
            try:
                if len(base64.b64decode(match.group(2), validate=True)) == 20:
                    return match.group(1), value
            except (binascii.Error, ValueError):
                pass
        # the value may be a password typed by mistake: describe it, never show it
        raise ValueError(f"{setting}: expected a ZooKeeperAuth or a digest id 'USER:BASE64SHA1' "
                         f"(ZooKeeperAuth.digest_id()), got a str of {len(value)} characters that is not one")
    raise TypeError(f"{setting}: expected a ZooKeeperAuth or a digest id str, got {type(value).__name__}")


class ZooKeeperACL:
    """The ACL every znode fastroute creates carries.

    writers: identities with all permissions (register, change membership, lock,
    campaign); readers: READ only (routers following membership and leaders).
    Each is a ZooKeeperAuth or a digest id string `user:base64(sha1(user:password))`.
    world_read: also let unauthenticated clients read (off by default).
    ZooKeeper ACLs are per znode and not inherited (Administrator's Guide, "ACLs"):
    znodes created before the ACL was configured keep theirs; see
    ZooKeeperCoordinator.secure_tree().
    """

    __slots__ = ("_writers", "_readers", "world_read")

    def __init__(self, writers: Iterable[Any], readers: Iterable[Any] = (), *, world_read: bool = False):
        self._writers = self._identities(writers, "acl.writers")
        if not self._writers:
            raise ValueError("acl.writers: at least one writer identity is required "
                             "(otherwise nobody could change or delete the znodes)")
        self._readers = self._identities(readers, "acl.readers")
        if not isinstance(world_read, bool):
            raise TypeError(f"acl.world_read: expected True or False, got {type(world_read).__name__}")
        self.world_read = world_read

    @staticmethod
    def _identities(values: object, setting: str) -> tuple[tuple[str, str], ...]:
        if isinstance(values, (str, bytes, ZooKeeperAuth)) or not isinstance(values, Iterable):
            raise TypeError(f"{setting}: expected a list of identities, got {type(values).__name__}")
        if isinstance(values, (set, frozenset)):  # ordered, so the ACL is the same in every process
            raise TypeError(f"{setting}: expected a list or tuple, got an unordered {type(values).__name__}")
        out, seen = [], set()
        for i, value in enumerate(values):
            user, ident = _identity(value, f"{setting}[{i}]")
            if ident not in seen:
                seen.add(ident)
                out.append((user, ident))
        return tuple(out)

    @property
    def writer_users(self) -> tuple[str, ...]:
        return tuple(user for user, _ in self._writers)

    @property
    def reader_users(self) -> tuple[str, ...]:
        return tuple(user for user, _ in self._readers)

    def grants_write(self, auth: ZooKeeperAuth | None) -> bool:
        return auth is not None and any(ident == auth.digest_id() for _, ident in self._writers)

    def kazoo_acl(self) -> list:
        from kazoo.security import ACL, Id, Permissions

        acl = [ACL(Permissions.ALL, Id("digest", ident)) for _, ident in self._writers]
        acl += [ACL(Permissions.READ, Id("digest", ident)) for _, ident in self._readers
                if all(ident != w for _, w in self._writers)]
        if self.world_read:
            acl.append(ACL(Permissions.READ, Id("world", "anyone")))
        return acl

    def _secrets(self) -> tuple[str, ...]:
        return tuple(ident.partition(":")[2] for _, ident in self._writers + self._readers)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, source: str = "acl") -> "ZooKeeperACL":
        unknown = set(doc) - {"writers", "readers", "world_read"}
        if unknown:
            raise ValueError(f"{source}: unknown keys {sorted(unknown)}; allowed: ['readers', 'world_read', 'writers']")
        return cls(doc.get("writers", ()), doc.get("readers", ()), world_read=doc.get("world_read", False))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, ZooKeeperACL) and self._writers == other._writers
                and self._readers == other._readers and self.world_read == other.world_read)

    def __hash__(self) -> int:
        return hash((self._writers, self._readers, self.world_read))

    def __repr__(self) -> str:
        return (f"ZooKeeperACL(writers={list(self.writer_users)!r}, readers={list(self.reader_users)!r}, "
                f"world_read={self.world_read})")


class ZooKeeperTLS:
    """TLS to ZooKeeper's `secureClientPort`; the server certificate is always verified.

    ca: PEM file of the CA(s) that sign the servers' certificates (None: the system
    trust store). check_hostname: the certificate must name the host as written in
    the connect string (a DNS name or an IP address in subjectAltName).
    cert/key: a client certificate and key (PEM), for servers with `ssl.clientAuth=need`
    (ZooKeeper's default). There is no way to turn verification off.
    """

    __slots__ = ("ca", "cert", "key", "check_hostname")

    def __init__(self, ca: str | os.PathLike | None = None, *, cert: str | os.PathLike | None = None,
                 key: str | os.PathLike | None = None, check_hostname: bool = True):
        self.ca = self._file(ca, "tls_ca")
        self.cert = self._file(cert, "tls_cert")
        self.key = self._file(key, "tls_key")
        if (self.cert is None) != (self.key is None):
            raise ValueError("tls_cert, tls_key: give both (a client certificate and its key) or neither")
        if not isinstance(check_hostname, bool):
            raise TypeError(f"tls_check_hostname: expected True or False, got {type(check_hostname).__name__}")
        self.check_hostname = check_hostname

    @staticmethod
    def _file(value: object, setting: str) -> str | None:
        if value is None:
            return None
        if not isinstance(value, (str, os.PathLike)) or not str(value):
            raise TypeError(f"{setting}: expected a file path, got {type(value).__name__}")
        path = str(value)
        if not os.path.isfile(path):
            raise ValueError(f"{setting}: {path!r} is not a readable file")
        return path

    def ssl_context(self):
        """The client context kazoo builds from the same settings (kazoo handlers/utils.py
        create_tcp_connection): TLS client, certificate required, default + given CAs."""
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
        context.check_hostname = self.check_hostname
        context.verify_mode = ssl.CERT_REQUIRED
        try:
            if self.ca:
                context.load_verify_locations(self.ca)
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(f"tls_ca: {self.ca!r} is not a PEM CA bundle ({exc})") from None
        try:
            if self.cert:
                context.load_cert_chain(self.cert, self.key)
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(f"tls_cert, tls_key: cannot load {self.cert!r} with {self.key!r} ({exc})") from None
        return context

    def kazoo_options(self) -> dict[str, Any]:
        return {"use_ssl": True, "verify_certs": True, "check_hostname": self.check_hostname, "ca": self.ca,
                "certfile": self.cert, "keyfile": self.key}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, source: str = "tls") -> "ZooKeeperTLS":
        unknown = set(doc) - {"ca", "cert", "key", "check_hostname"}
        if unknown:
            raise ValueError(f"{source}: unknown keys {sorted(unknown)}; allowed: ['ca', 'cert', 'check_hostname', 'key']")
        return cls(doc.get("ca"), cert=doc.get("cert"), key=doc.get("key"),
                   check_hostname=doc.get("check_hostname", True))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ZooKeeperTLS) and all(getattr(self, a) == getattr(other, a) for a in self.__slots__)

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, a) for a in self.__slots__))

    def __repr__(self) -> str:
        return f"ZooKeeperTLS(ca={self.ca!r}, cert={self.cert!r}, check_hostname={self.check_hostname})"


class RedactingFilter(logging.Filter):
    """Replaces credentials in kazoo's log records: at DEBUG kazoo logs every request,
    including the Auth packet (`auth='user:password'`) and the digest ids of ACLs, and
    at level 5 the session password (kazoo protocol/connection.py `_submit`, `_connect`).

    One filter on one shared logger; each coordinator registers its secrets under a
    token and withdraws them on close."""

    _SESSION_PASSWORD = re.compile(r"(session_passwd: )\S+")

    def __init__(self) -> None:
        super().__init__()
        self._by_owner: dict[object, tuple[str, ...]] = {}
        self._secrets: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def add(self, owner: object, secrets: Iterable[str]) -> None:
        with self._lock:
            self._by_owner[owner] = tuple(s for s in secrets if s)
            self._rebuild()

    def discard(self, owner: object) -> None:
        with self._lock:
            self._by_owner.pop(owner, None)
            self._rebuild()

    def _rebuild(self) -> None:
        every = {s for group in self._by_owner.values() for s in group}
        self._secrets = tuple(sorted(every, key=len, reverse=True))  # longest first: no partial leftovers

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return self._SESSION_PASSWORD.sub(r"\1***", text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # pragma: no cover - a broken record: drop its arguments
            message = str(record.msg)
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None:
            text = str(record.exc_info[1])
            if self.redact(text) != text:
                record.exc_info, record.exc_text = None, None
                record.msg = f"{record.msg} (exception text withheld: it held a credential)"
        return True


#: kazoo's logger for fastroute's coordinators: a child of "kazoo.client", so levels and
#: handlers set on "kazoo" still apply; its filter masks the registered credentials.
KAZOO_LOG = logging.getLogger("kazoo.client.fastroute")
REDACTOR = RedactingFilter()
KAZOO_LOG.addFilter(REDACTOR)


_SETTINGS_KEYS = {"hosts", "cluster", "root", "session_timeout", "connect_timeout", "auth_env", "auth_file", "acl",
                  "tls"}


def zookeeper_settings(doc: Mapping[str, Any], *, source: str = "zookeeper") -> dict[str, Any]:
    """Coordinator keyword arguments from a `[zookeeper]` TOML table (docs/cluster.md §9):

        hosts = "zk1:2281,zk2:2281"
        cluster = "payments"
        auth_env = "FASTROUTE_ZK_AUTH"        # or auth_file = "/etc/fastroute/zk-writer"
        [zookeeper.acl]
        writers = ["deployer:BASE64SHA1="]
        readers = ["router:BASE64SHA1="]
        [zookeeper.tls]
        ca = "/etc/fastroute/zk-ca.pem"

    Credentials only by reference; an inline `password` or `auth` key is an error.
    """
    if not isinstance(doc, Mapping):
        raise ValueError(f"{source}: must be a table")
    unknown = set(doc) - _SETTINGS_KEYS
    if unknown:
        hint = " (credentials only by reference: auth_env or auth_file)" if unknown & {"auth", "password"} else ""
        raise ValueError(f"{source}: unknown keys {sorted(unknown)}{hint}; allowed: {sorted(_SETTINGS_KEYS)}")
    out: dict[str, Any] = {}
    for key in ("hosts", "cluster", "root"):
        if key in doc:
            if not isinstance(doc[key], str):
                raise ValueError(f"{source}.{key}: must be a string")
            out[key] = doc[key]
    for key in ("session_timeout", "connect_timeout"):
        if key in doc:
            out[key] = doc[key]
    if "auth_env" in doc and "auth_file" in doc:
        raise ValueError(f"{source}: give auth_env or auth_file, not both")
    if "auth_env" in doc:
        out["auth"] = ZooKeeperAuth.from_env(doc["auth_env"])
    elif "auth_file" in doc:
        out["auth"] = ZooKeeperAuth.from_file(doc["auth_file"])
    if "acl" in doc:
        if not isinstance(doc["acl"], Mapping):
            raise ValueError(f"{source}.acl: must be a table")
        out["acl"] = ZooKeeperACL.from_dict(doc["acl"], source=f"{source}.acl")
    if "tls" in doc:
        if not isinstance(doc["tls"], Mapping):
            raise ValueError(f"{source}.tls: must be a table")
        out["tls"] = ZooKeeperTLS.from_dict(doc["tls"], source=f"{source}.tls")
    return out

# SPDX-License-Identifier: Apache-2.0
"""A real ZooKeeper on 127.0.0.1 for integration tests (docs/cluster.md §2 recipe,
fast-expiry profile). No fallbacks: if it cannot start, the test fails.

TLS (docs/cluster.md §9): `make_test_pki(dir)` makes a CA, a server certificate for
IP 127.0.0.1 and a second, unrelated CA with openssl; `ZooKeeperServer(dir, tls=pki)`
then also listens on a `secureClientPort` (Netty connection factory, PEM key and trust
stores, no client certificate required)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ZOOKEEPER_JAR = Path("/usr/share/java/zookeeper.jar")
# Debian's zookeeper.jar manifest lists netty-handler but not netty-codec, which the TLS
# handler needs (NoClassDefFoundError ByteToMessageDecoder on the first TLS client).
NETTY_CODEC_JAR = Path("/usr/share/java/netty-codec.jar")
TICK_S = 0.5  # tickTime=500: sessions expire within timeout + one tick (ExpiryQueue buckets)
PORT_ATTEMPTS = 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def four_letter(port: int, word: bytes = b"ruok", timeout: float = 0.5) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(word)
        chunks = []
        while chunk := s.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


class PortClash(RuntimeError):
    """The chosen port was taken between picking it and the server binding it."""


@dataclass(frozen=True)
class ZooKeeperPKI:
    ca: Path                # PEM CA certificate that signed `server_cert`
    server_cert: Path       # subjectAltName IP:127.0.0.1 only
    server_key: Path
    server_keystore: Path   # key + certificate in one PEM file (ZooKeeper's PEM key store)
    other_ca: Path          # a CA that signed nothing the server presents
    client_cert: Path       # a client certificate signed by `ca` (for ssl.clientAuth=need)
    client_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    openssl = shutil.which("openssl")
    assert openssl, "openssl not found: run scripts/ensure-system-deps.sh (Debian openssl)"
    done = subprocess.run([openssl, *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"openssl {' '.join(args[:2])} failed: {done.stderr[-2000:]}"


def make_test_pki(workdir: Path) -> ZooKeeperPKI:
    """A throw-away CA and server certificate (RSA 2048, valid 2 days), made at test time."""
    d = Path(workdir)
    d.mkdir(parents=True, exist_ok=True)
    for name in ("ca", "other-ca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem",
                 "-days", "2", "-subj", f"/CN=fastroute test {name}", "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=fastroute test zookeeper", cwd=d)
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
                                  "basicConstraints=CA:FALSE\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", "2",
             "-days", "2", "-out", "server.pem", "-extfile", "server.ext", cwd=d)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr",
             "-subj", "/CN=fastroute test client", cwd=d)
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n")
    _openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", "3",
             "-days", "2", "-out", "client.pem", "-extfile", "client.ext", cwd=d)
    keystore = d / "server-keystore.pem"
    keystore.write_text((d / "server.key").read_text() + (d / "server.pem").read_text())
    for path in d.iterdir():
        if path.suffix == ".key" or path == keystore:
            path.chmod(0o600)
    return ZooKeeperPKI(d / "ca.pem", d / "server.pem", d / "server.key", keystore, d / "other-ca.pem",
                        d / "client.pem", d / "client.key")


class ZooKeeperServer:
    """Standalone server; `stop()`/`start()` keep the data dir, like a restart.

    tls: a ZooKeeperPKI: also serve TLS on `secure_port` (`secure_hosts`). The plain port
    stays open: readiness is checked with four-letter words there.
    client_auth: ZooKeeper's `ssl.clientAuth` ("none", or "need": clients must present a
    certificate signed by the CA; the server does not match it to the client's host).
    tls_protocol: `ssl.protocol` (ZooKeeper's default TLSv1.2, or TLSv1.3)."""

    def __init__(self, workdir: Path, port: int | None = None, *, tls: ZooKeeperPKI | None = None,
                 client_auth: str = "none", tls_protocol: str = "TLSv1.2"):
        java = shutil.which("java")
        assert java, "java not found: run scripts/ensure-system-deps.sh (Debian default-jre-headless)"
        assert ZOOKEEPER_JAR.exists(), f"{ZOOKEEPER_JAR} missing: run scripts/ensure-system-deps.sh (Debian zookeeper)"
        self.java, self.dir = java, Path(workdir)
        self.port_fixed = port is not None  # a caller-chosen port is kept; a free one is re-picked on a clash
        self.tls, self.client_auth, self.tls_protocol = tls, client_auth, tls_protocol
        if tls is not None:
            assert NETTY_CODEC_JAR.exists(), f"{NETTY_CODEC_JAR} missing: run scripts/ensure-system-deps.sh"
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        self._configure(port or free_port())
        self.proc: subprocess.Popen | None = None

    def _configure(self, port: int) -> None:
        self.port = port
        text = (f"tickTime={int(TICK_S * 1000)}\ndataDir={self.dir / 'data'}\nclientPort={self.port}\n"
                "clientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=ruok,srvr,stat,mntr,conf\n"
                "minSessionTimeout=1000\nmaxSessionTimeout=60000\n")
        if self.tls is not None:
            self.secure_port = free_port()
            # ZooKeeper 3.8 Administrator's Guide, "Communication using the Netty framework"
            # and "ssl.*" options; PEM stores are read by X509Util's PEMFileLoader.
            text += (f"secureClientPort={self.secure_port}\nsecureClientPortAddress=127.0.0.1\n"
                     "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n"
                     f"ssl.keyStore.location={self.tls.server_keystore}\nssl.keyStore.type=PEM\n"
                     f"ssl.trustStore.location={self.tls.ca}\nssl.trustStore.type=PEM\n"
                     # hostnameVerification: the server would match client certificates to the
                     # client host (reverse DNS of 127.0.0.1); the client side always checks
                     f"ssl.clientAuth={self.client_auth}\nssl.hostnameVerification=false\n"
                     f"ssl.protocol={self.tls_protocol}\nssl.enabledProtocols={self.tls_protocol}\n"
                     + ("ssl.ciphersuites=TLS_AES_128_GCM_SHA256,TLS_AES_256_GCM_SHA384\n"
                        if self.tls_protocol == "TLSv1.3" else ""))
        (self.dir / "zoo.cfg").write_text(text)

    def timing(self) -> dict:
        """tickTime and session timeout bounds as the running server reports them
        (`conf`), in seconds: what session-expiry bounds must be derived from."""
        conf = dict(line.split("=", 1) for line in four_letter(self.port, b"conf").decode().splitlines() if "=" in line)
        return {"tick_s": int(conf["tickTime"]) / 1000, "min_session_s": int(conf["minSessionTimeout"]) / 1000,
                "max_session_s": int(conf["maxSessionTimeout"]) / 1000}

    def negotiated_session_s(self, requested_s: float) -> float:
        """ZooKeeper clamps a client's requested timeout to [min, max]SessionTimeout."""
        t = self.timing()
        return min(max(requested_s, t["min_session_s"]), t["max_session_s"])

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def secure_hosts(self) -> str:
        assert self.tls is not None, "server started without tls="
        return f"127.0.0.1:{self.secure_port}"

    def start(self, timeout: float = 30.0) -> None:
        """Starts the server; a free port taken by someone else meanwhile is re-picked."""
        for attempt in range(PORT_ATTEMPTS):
            try:
                return self._start_once(timeout)
            except PortClash:
                if self.port_fixed or attempt == PORT_ATTEMPTS - 1:
                    raise
                self._configure(free_port())

    def _start_once(self, timeout: float) -> None:
        classpath = f"/etc/zookeeper/conf:{ZOOKEEPER_JAR}" + (f":{NETTY_CODEC_JAR}" if self.tls else "")
        log = open(self.dir / "zk.log", "ab")
        self.proc = subprocess.Popen([self.java, "-Xmx256m", "-cp", classpath,
                                      "org.apache.zookeeper.server.ZooKeeperServerMain", str(self.dir / "zoo.cfg")],
                                     stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "ZOO_LOG_DIR": str(self.dir)})
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_tail()
                error = PortClash if "Address already in use" in tail else RuntimeError
                raise error(f"ZooKeeper exited with {self.proc.returncode}: {tail}")
            try:
                # `ruok` answers before sessions are served; `srvr` reports Mode: once serving
                if four_letter(self.port) == b"imok" and b"Mode:" in four_letter(self.port, b"srvr"):
                    if self.tls is None or _listening(self.secure_port):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"ZooKeeper did not answer ruok on {self.hosts} within {timeout} s: {self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def log_tail(self, lines: int = 20) -> str:
        path = self.dir / "zk.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

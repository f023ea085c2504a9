# SPDX-License-Identifier: Apache-2.0
"""`load_haproxy(text, backend, version=None)`: the selector a HAProxy backend
describes (docs/algorithms.md §7), honouring `defaults`.

Keyed (`balance source|uri|url_param NAME|hdr(NAME)`, with `hash-type
map-based|consistent [sdbm|djb2|wt6|crc32] [avalanche]` and per-server
`hash-key id|addr|addr-port`): `get_node(key)` / `route(keys)` answer with
the server NAME. The key is what HAProxy hashes: the parameter value, the
URI (the part before `?` is kept, unless `whole`), the header value (its
first comma-separated part), or the client address for `source`.
Keyless: `static-rr` and `roundrobin` (fwrr) reproduce HAProxy's request
sequence; `leastconn`, `first` (by server `id`, with `maxconn`) and
`random(<draws>)` are HAProxyLeastConn / HAProxyFirst / HAProxyRandom
(docs/algorithms.md §8.6), their picks following acquire()/release().

Health-check settings (`check`, `inter`, `fastinter`, `downinter`, `rise`,
`fall`, `port`, `agent-check`, `agent-port`, `agent-inter`, `agent-send`,
`timeout check`, `option httpchk`, `http-check send|expect`), `slowstart`,
`maxconn`, `backup`, `disabled` and `default-server` lines are parsed onto
HAProxyServer; `haproxy_checks(text, backend, sink=...)` builds the
fastroute.checks.HealthChecker they describe (docs/checks.md §6). `listen`
sections (with `bind`) load like backends. Unsupported directives and server
keywords: a warning naming the line, an error with `strict=True`.

`version` (e.g. "2.6.12" or the first line of `haproxy -v`) selects the
consistent-hash id key: HAProxy 3.0–3.2 builds without the 2025-10 fix hash
the server id twice (§7.2 step 4); `legacy_id_key=` overrides the guess.
"""
from __future__ import annotations

import ipaddress
import re
import warnings
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np

from .. import balancers
from ..health import HAProxySlowStart
from ..placement import HAProxyConsistentHash, HAProxyMapHash
from ..placement.haproxy import HAPROXY_HASH_FUNCTIONS as _HASH_FUNCTIONS
from ..redact import quoted
from ._rules import check_strict, one_slow_start, request_path_view
from ._rules import unsupported as _unsupported

_MAX_ID = 2**31 - 1
# Server keywords that cannot change which server a key maps to offline (value-taking, flags).
_HARMLESS_SERVER_VALUE = {"verify", "sni", "cookie", "observe", "error-limit", "on-error", "resolvers",
                          "init-addr", "alpn", "proto", "check-sni", "ca-file", "crt", "agent-addr", "addr",
                          "init-state"}
_HARMLESS_SERVER_FLAG = {"ssl", "send-proxy", "send-proxy-v2", "check-ssl", "check-send-proxy", "enabled"}
_HARMLESS_BACKEND = {"mode", "timeout", "option", "http-reuse", "retries", "log", "http-request", "http-response",
                     "fullconn", "stick-table", "stick", "maxconn"}
# Check and load keywords mapped onto HAProxyServer (value-taking): keyword -> attribute.
_TIME_KEYWORDS = {"inter": "inter", "fastinter": "fastinter", "downinter": "downinter", "agent-inter": "agent_inter",
                  "slowstart": "slowstart"}
_INT_KEYWORDS = {"rise": ("rise", 1, 2**16), "fall": ("fall", 1, 2**16), "port": ("check_port", 1, 65535),
                 "agent-port": ("agent_port", 1, 65535), "maxconn": ("maxconn", 0, 2**31 - 1),
                 "maxqueue": ("maxqueue", 0, 2**31 - 1), "minconn": ("minconn", 0, 2**31 - 1)}
_TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@dataclass
class HAProxyServer:
    name: str
    address: str
    weight: int = 1
    backup: bool = False
    disabled: bool = False
    puid: int = 0
    hash_key: str = "id"
    line: int = 0
    check: bool = False
    inter: float | None = None  # seconds; None = HAProxy's default (2 s)
    fastinter: float | None = None
    downinter: float | None = None
    rise: int | None = None
    fall: int | None = None
    check_port: int | None = None
    agent_check: bool = False
    agent_port: int | None = None
    agent_inter: float | None = None
    agent_send: str | None = None
    slowstart: float | None = None  # seconds
    maxconn: int | None = None
    maxqueue: int | None = None
    minconn: int | None = None


@dataclass
class HAProxyBackend:
    name: str
    balance: str = "roundrobin"
    balance_arg: str | None = None
    uri_whole: bool = False
    hash_type: str = "map-based"
    hash: str = "sdbm"  # hash-type function (sdbm, HAProxy's default)
    avalanche: bool = False
    servers: list[HAProxyServer] = field(default_factory=list)
    kind: str = "backend"  # or "listen"
    binds: list[str] = field(default_factory=list)
    #: `option httpchk`: (method, uri, Host header or None); None = TCP connect checks
    httpchk: tuple[str, str, str | None] | None = None
    #: `http-check expect`: ("status", code) | ("string", text) | ("rstring", regex) | None
    http_expect: tuple[str, object] | None = None
    check_timeout: float | None = None  # `timeout check`, seconds
    #: `hash-balance-factor`: percent, 0 = off, else > 100 (docs/algorithms.md §5.2)
    hash_balance_factor: int = 0
    strict: bool = False
    default_server: dict = field(default_factory=dict)


def _sections(text: str):
    """(keyword, name, [(tokens, line)]) per section; comments stripped."""
    current = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        tokens = line.split()
        if tokens[0] in ("global", "defaults", "frontend", "backend", "listen", "resolvers", "userlist", "peers",
                         "program", "cache", "http-errors", "ring", "mailers"):
            current = (tokens[0], tokens[1] if len(tokens) > 1 else "", [], lineno)
            yield current
        elif current is None:
            raise ValueError(f"haproxy config line {lineno}: {quoted(tokens[0])} outside any section")
        else:
            current[2].append((tokens, lineno))


def parse_backend(text: str, backend: str, *, strict: bool = False) -> HAProxyBackend:
    be = HAProxyBackend(backend, strict=check_strict(strict))
    defaults: list = []
    found = None
    names = []
    for kind, name, lines, _ in _sections(text):
        if kind == "defaults":
            defaults = lines
        elif kind in ("backend", "listen"):
            names.append(name)
            if name == backend:
                if found is not None:
                    raise ValueError(f"backend: {quoted(backend)} is defined twice")
                found = (defaults, lines)
                be.kind = kind
    if found is None:
        raise ValueError(f"backend: no backend or listen section {quoted(backend)}; found {quoted(names)}")
    for source, lines in (("defaults", found[0]), ("backend", found[1])):
        for tokens, lineno in lines:
            _apply(be, tokens, lineno, in_defaults=source == "defaults")
    if not be.servers:
        raise ValueError(f"backend {backend}: no server lines")
    for s in be.servers:  # cfgparse: a minconn above maxconn (or alone) raises maxconn to it
        if s.minconn and s.minconn > (s.maxconn or 0):
            s.maxconn = s.minconn
    used = {s.puid for s in be.servers if s.puid}
    next_id = 1
    for s in be.servers:  # unset ids take the lowest free number, in declaration order
        if not s.puid:
            while next_id in used:
                next_id += 1
            s.puid = next_id
            used.add(next_id)
    return be


def _apply(be: HAProxyBackend, tokens: list[str], lineno: int, in_defaults: bool) -> None:
    head, args = tokens[0], tokens[1:]
    where = f"haproxy config line {lineno}"
    if head == "balance":
        if not args:
            raise ValueError(f"{where}: balance needs an algorithm")
        algo = args[0]
        m = re.fullmatch(r"hdr\(([^)]+)\)", algo)
        if m:
            be.balance, be.balance_arg = "hdr", m.group(1)
        elif algo == "url_param":
            if len(args) < 2:
                raise ValueError(f"{where}: balance url_param needs a parameter name")
            be.balance, be.balance_arg = "url_param", args[1]
        elif algo == "uri":
            be.balance, be.uri_whole = "uri", "whole" in args[1:]
            unsupported = [a for a in args[1:] if a != "whole"]
            if unsupported:
                raise ValueError(f"{where}: balance uri options {unsupported} are not supported")
        elif algo in ("roundrobin", "static-rr", "leastconn", "first", "source"):
            be.balance = algo
        elif re.fullmatch(r"random(\(.*\))?", algo):
            # backend.c: `random` alone is random(2); the number of draws must be at least 1
            m = re.fullmatch(r"random(?:\(([0-9]+)\))?", algo)
            if not m or (m.group(1) is not None and not 1 <= int(m.group(1)) <= balancers.MAX_CHOICE_COUNT):
                raise ValueError(f"{where}: balance random(<draws>) needs an integer number of draws in "
                                 f"[1, {balancers.MAX_CHOICE_COUNT}], got {quoted(algo)}")
            be.balance, be.balance_arg = "random", m.group(1) or "2"
        else:
            raise ValueError(f"{where}: unsupported balance algorithm {quoted(algo)}")
    elif head == "hash-type":
        if not args or args[0] not in ("map-based", "consistent"):
            raise ValueError(f"{where}: expected 'hash-type map-based|consistent [function] [avalanche]'")
        be.hash_type = args[0]
        rest = args[1:]
        be.avalanche = "avalanche" in rest
        funcs = [a for a in rest if a != "avalanche"]
        if len(funcs) > 1 or (funcs and funcs[0] not in _HASH_FUNCTIONS):
            raise ValueError(f"{where}: hash function must be one of {_HASH_FUNCTIONS}, got {funcs}")
        be.hash = funcs[0] if funcs else "sdbm"
        if be.hash_type == "consistent" and not funcs:
            be.avalanche = True  # `hash-type consistent` alone means sdbm + avalanche (§7.1)
    elif head in ("server", "default-server"):
        if head == "server" and in_defaults:
            return  # HAProxy refuses servers in defaults; nothing to route to
        if head == "default-server":
            be.default_server.update(_server_keywords(be, args, 0, where))
            return
        if len(args) < 2:
            raise ValueError(f"{where}: server needs a name and an address")
        srv = HAProxyServer(args[0], args[1], line=lineno)
        for attr, value in {**be.default_server, **_server_keywords(be, args, 2, where, srv=srv)}.items():
            setattr(srv, attr, value)
        if any(s.name == srv.name for s in be.servers):
            raise ValueError(f"{where}: server {quoted(srv.name)} declared twice")
        be.servers.append(srv)
    elif head == "bind" and be.kind == "listen" and not in_defaults:
        be.binds.extend(args[:1])
    elif head == "option" and args[:1] == ["httpchk"]:
        rest = args[1:]
        method, uri = ("OPTIONS", "/") if not rest else (("OPTIONS", rest[0]) if len(rest) == 1 else rest[:2])
        be.httpchk = (method, uri, None)
    elif head == "http-check" and args[:1] == ["expect"]:
        rest = args[1:]
        if len(rest) == 2 and rest[0] == "status" and rest[1].isdigit() and 100 <= int(rest[1]) <= 599:
            be.http_expect = ("status", int(rest[1]))
        elif len(rest) >= 2 and rest[0] in ("string", "rstring"):
            be.http_expect = (rest[0], " ".join(rest[1:]))
        else:
            _unsupported(where, f"http-check expect form {quoted(' '.join(rest))}", be.strict, stacklevel=5)
    elif head == "http-check" and args[:1] == ["send"]:
        method, uri, host = be.httpchk or ("GET", "/", None)
        i, rest = 0, args[1:]
        while i < len(rest):
            if rest[i] == "meth" and i + 1 < len(rest):
                method = rest[i + 1]
            elif rest[i] == "uri" and i + 1 < len(rest):
                uri = rest[i + 1]
            elif rest[i] == "hdr" and i + 2 < len(rest) and rest[i + 1].lower() == "host":
                host = rest[i + 2]
                i += 1
            else:
                _unsupported(where, f"http-check send argument {quoted(rest[i])}", be.strict, stacklevel=5)
                i -= 1
            i += 2
        be.httpchk = (method, uri, host)
    elif head == "timeout" and args[:1] == ["check"]:
        if len(args) != 2:
            raise ValueError(f"{where}: timeout check needs one time value")
        be.check_timeout = _time(args[1], where)
    elif head == "hash-balance-factor":
        # cfgparse: 0 (off) or > 100; applied at request time by HAProxyHash.bounded() (§5.3).
        if len(args) != 1 or not args[0].isdigit() or (0 < int(args[0]) <= 100) or int(args[0]) >= 2**32:
            raise ValueError(f"{where}: hash-balance-factor must be 0 or a percentage > 100, got {quoted(' '.join(args))}")
        be.hash_balance_factor = int(args[0])
    elif head in _HARMLESS_BACKEND or head.startswith("timeout"):
        pass
    elif in_defaults:
        pass  # other defaults (timeouts, logging) do not change server choice
    else:
        _unsupported(where, f"directive {quoted(head)} in {be.kind} {be.name}", be.strict, stacklevel=5)


def _time(value: str, where: str) -> float:
    """HAProxy time: an integer with an optional unit (us, ms, s, m, h, d); milliseconds by default."""
    m = re.fullmatch(r"(\d+)(us|ms|s|m|h|d)?", value)
    if not m:
        raise ValueError(f"{where}: bad time {quoted(value)} (expected e.g. 200, 2s, 500ms)")
    seconds = int(m.group(1)) * _TIME_UNITS[m.group(2) or "ms"]
    if seconds > 86400.0:
        raise ValueError(f"{where}: time {quoted(value)} is over one day")
    return seconds


def _server_keywords(be: HAProxyBackend, args: list[str], i: int, where: str, srv: HAProxyServer | None = None):
    """Attribute values set by the keywords of a `server` (from args[i]) or `default-server` line."""
    out: dict = {}
    while i < len(args):
        kw = args[i]
        value = args[i + 1] if i + 1 < len(args) else None
        takes_value = kw in ("weight", "id", "hash-key", "agent-send") or kw in _TIME_KEYWORDS or \
            kw in _INT_KEYWORDS or kw in _HARMLESS_SERVER_VALUE
        if takes_value and value is None:
            raise ValueError(f"{where}: {kw} needs a value")
        if kw == "hash-key":
            if value not in ("id", "addr", "addr-port"):
                raise ValueError(f"{where}: hash-key {quoted(value)} is not supported (id, addr, addr-port)")
            out["hash_key"] = value
        elif kw in ("weight", "id"):
            if not value.isdigit():
                raise ValueError(f"{where}: {kw} must be an integer, got {quoted(value)}")
            if kw == "weight":
                if int(value) > 256:
                    raise ValueError(f"{where}: weight must be <= 256")
                out["weight"] = int(value)
            else:
                if srv is None:
                    _unsupported(where, "default-server keyword 'id'", be.strict, stacklevel=6)
                    i += 2
                    continue
                puid = int(value)
                if not 1 <= puid <= _MAX_ID:  # HAProxy ids are positive 32-bit ints
                    raise ValueError(f"{where}: id must be in [1, {_MAX_ID}], got {value}")
                clash = next((s for s in be.servers if s.puid == puid), None)
                if clash is not None:
                    raise ValueError(f"{where}: id {puid} is already used by server {quoted(clash.name)} "
                                     f"(line {clash.line}); HAProxy refuses duplicate ids")
                out["puid"] = puid
        elif kw in _TIME_KEYWORDS:
            seconds = _time(value, where)
            if seconds <= 0 and kw != "slowstart":
                raise ValueError(f"{where}: {kw} must be > 0")
            out[_TIME_KEYWORDS[kw]] = seconds
        elif kw in _INT_KEYWORDS:
            attr, low, high = _INT_KEYWORDS[kw]
            if not value.isdigit() or not low <= int(value) <= high:
                raise ValueError(f"{where}: {kw} must be an integer in [{low}, {high}], got {quoted(value)}")
            out[attr] = int(value)
        elif kw == "agent-send":
            out["agent_send"] = value
        elif kw in ("backup", "disabled", "check", "agent-check"):
            out[kw.replace("-", "_")] = True
            i += 1
            continue
        elif kw in ("no-check", "no-agent-check", "no-backup", "enabled"):
            if kw != "enabled":
                out[kw[3:].replace("-", "_")] = False
            else:
                out["disabled"] = False
            i += 1
            continue
        elif kw in _HARMLESS_SERVER_VALUE:
            pass
        elif kw in _HARMLESS_SERVER_FLAG:
            i += 1
            continue
        else:
            _unsupported(where, f"server keyword {quoted(kw)}", be.strict, stacklevel=6)
            i += 1
            continue
        i += 2
    return out


def parse_version(version: str | None) -> tuple[int, int] | None:
    if version is None:
        return None
    if not isinstance(version, str):
        raise TypeError(f"version: expected a version string such as '2.6.12', got {type(version).__name__}")
    m = re.search(r"(\d+)\.(\d+)", version)
    if not m:
        raise ValueError(f"version: cannot read a HAProxy version from {quoted(version)}")
    return int(m.group(1)), int(m.group(2))


def _ipv4_le(server: HAProxyServer) -> tuple[int, int]:
    address = server.address
    where = f"haproxy config line {server.line}: server {server.name!r}"
    host, _, port = address.rpartition(":") if ":" in address else (address, "", "0")
    try:
        packed = ipaddress.IPv4Address(host).packed
    except ValueError:
        raise ValueError(f"{where}: hash-key {server.hash_key} needs an IPv4 address, got {quoted(address)}") from None
    if port and not (port.isdigit() and int(port) <= 65535):
        raise ValueError(f"{where}: port must be an integer in [0, 65535], got {quoted(port)}")
    return int.from_bytes(packed, "little"), int(port or 0)


class HAProxyHash:
    """A keyed HAProxy backend: get_node(key) → server name, route(keys)."""

    def __init__(self, be: HAProxyBackend, legacy_id_key: bool):
        self.backend = be
        usable = [s for s in be.servers if not s.disabled and not s.backup and s.weight > 0]
        if not usable:
            usable = [s for s in be.servers if not s.disabled and s.backup and s.weight > 0][:1]
        if not usable:
            raise ValueError(f"backend {be.name}: no usable server")
        self.servers = usable
        self.nodes = tuple(s.name for s in usable)
        weights = [s.weight for s in usable]
        common = dict(hash=be.hash, avalanche=be.avalanche)
        if be.hash_type == "map-based":
            self._table = HAProxyMapHash(self.nodes, weights, **common)
        else:
            keys = {s.hash_key for s in usable}
            if len(keys) > 1:
                raise ValueError(f"backend {be.name}: mixed hash-key settings are not supported")
            key = keys.pop()
            addrs, ports = zip(*[_ipv4_le(s) for s in usable]) if key != "id" else ([0] * len(usable),
                                                                                             [0] * len(usable))
            self._table = HAProxyConsistentHash(self.nodes, weights, hash_key=key,
                                                legacy_id_key=key == "id" and legacy_id_key,
                                                server_ids=[s.puid for s in usable], addresses=list(addrs),
                                                ports=list(ports), **common)
        self._source = be.balance == "source"

    def _key(self, key):
        be = self.backend
        if self._source:
            return key
        if be.balance in ("uri", "hdr") and not isinstance(key, str):
            raise TypeError(f"key: balance {be.balance} keys are the request's text (str), got {type(key).__name__}")
        if be.balance == "uri" and not be.uri_whole:
            key = key.split("?", 1)[0]
        elif be.balance == "hdr":
            key = key.split(",", 1)[0]
        if key == "":
            raise ValueError("key: empty; HAProxy falls back to round robin for an empty key")
        return key

    def get_index(self, key) -> int:
        if len(self.nodes) == 1:
            return 0  # one usable server: HAProxy uses hash 0, i.e. that server
        if self._source:
            return self._table.get_index_unfinished(_source_value(key))
        return self._table.get_index(self._key(key))

    def get_node(self, key) -> str:
        return self.nodes[self.get_index(key)]

    @property
    def weights(self) -> tuple[int, ...]:
        return tuple(s.weight for s in self.servers)

    def replicas(self, key, n: int) -> tuple[str, ...]:
        """The key's failover order: the servers clockwise from its point (consistent hashing)."""
        if len(self.nodes) == 1:
            return self.nodes[:1]
        if self._source:
            raise ValueError(f"backend {self.backend.name}: balance source has no failover order in fastroute; "
                             "bounded loads need balance uri|url_param|hdr")
        return self._table.replicas(self._key(key), n)

    def bounded(self, view=None):
        """The backend's `hash-balance-factor` applied at request time: a
        fastroute.BoundedLoad with HAProxy's slot rule (docs/algorithms.md §5.3)."""
        from fractions import Fraction

        from ..bounded import BoundedLoad

        factor = self.backend.hash_balance_factor
        if not factor:
            raise ValueError(f"backend {self.backend.name}: no hash-balance-factor configured")
        if self.backend.hash_type != "consistent":
            raise ValueError(f"backend {self.backend.name}: hash-balance-factor needs hash-type consistent "
                             "(HAProxy bounds loads only on its consistent tree)")
        return BoundedLoad(self, balance_factor=Fraction(factor, 100), view=view, rule="haproxy")

    def route(self, keys) -> np.ndarray:
        if self._source or self.backend.balance in ("uri", "hdr") or len(self.nodes) == 1:
            return np.array([self.get_index(k) for k in keys], dtype=np.int32)
        from .._keys import first_empty_key

        empty = first_empty_key(keys)
        if empty is not None:
            raise ValueError(f"keys[{empty}]: empty key; HAProxy falls back to round robin for an empty key")
        return self._table.route(keys)


def _source_value(address) -> int:
    """`balance source`: the address as big-endian 32-bit words XORed together (§7.1)."""
    ip = ipaddress.ip_address(address.strip() if isinstance(address, str) else address)
    value = int(ip)
    if ip.version == 4:
        return value
    out = 0
    for k in range(4):
        out ^= (value >> (32 * k)) & 0xFFFFFFFF
    return out


class StaticRoundRobin:
    """`balance static-rr`: HAProxy's weighted map table walked in order."""

    def __init__(self, be: HAProxyBackend):
        usable = [s for s in be.servers if not s.disabled and not s.backup and s.weight > 0]
        if not usable:
            raise ValueError(f"backend {be.name}: no usable server")
        self.nodes = tuple(s.name for s in usable)
        table = HAProxyMapHash(self.nodes, [s.weight for s in usable])
        self._order = table.route_hashed(np.arange(table.slot_count, dtype=np.uint64)).tolist()
        self._next = 0

    def pick_index(self) -> int:
        idx = self._order[self._next % len(self._order)]
        self._next += 1
        return idx

    def pick(self) -> str:
        return self.nodes[self.pick_index()]


def _check_health(be: HAProxyBackend):
    """HAProxyHealth(rise, fall) when servers have `check` (so report_check() takes the
    active results, as HAProxy does), else "none": HAProxy never marks an unchecked
    server DOWN (without `observe` request errors do not count), so the loader does
    not take fastroute's default policy either (docs/request_path.md §2)."""
    checked = [s for s in be.servers if s.check]
    if not checked:
        return "none"
    pairs = {(s.rise or 2, s.fall or 3) for s in checked}
    if len(pairs) > 1:
        raise ValueError(f"backend {be.name}: servers' rise/fall differ {sorted(pairs)}; fastroute applies one "
                         "health policy per balancer (haproxy_checks() runs per-server rise/fall)")
    from ..health import HAProxyHealth

    rise, fall = pairs.pop()
    return HAProxyHealth(rise=rise, fall=fall)


def load_haproxy(text: str, backend: str, version: str | None = None, *, legacy_id_key: bool | None = None,
                 strict: bool = False):
    """The selector that behaves as `backend` (or `listen`) in `text`."""
    if not isinstance(text, str):
        raise TypeError(f"text: expected the config as str, got {type(text).__name__}")
    be = parse_backend(text, backend, strict=strict)
    if legacy_id_key is None:
        v = parse_version(version)
        legacy_id_key = v is not None and (3, 0) <= v < (3, 3)
    if be.balance in ("source", "uri", "url_param", "hdr"):
        return HAProxyHash(be, legacy_id_key)
    if be.balance == "static-rr":
        return StaticRoundRobin(be)
    names = [s.name for s in be.servers]
    weights = [max(s.weight, 0) for s in be.servers]
    backups = [s.name for s in be.servers if s.backup]
    health = _check_health(be)
    # slowstart: HAProxy's 1/16-step ramp; maxconn: a full server is skipped by the LB algorithms
    # (fwrr_get_next_server / srv_dynamic_maxconn); 0 means no limit
    slow_start = one_slow_start(be.servers, "slowstart", f"backend {backend}", HAProxySlowStart, strict)
    limits = {s.name: s.maxconn for s in be.servers if s.maxconn}
    view = request_path_view(names, backups, health, slow_start, limits)
    kw = dict(upstream=view) if view is not None else dict(backups=backups, health=health)
    if be.balance == "roundrobin":
        sel = balancers.HAProxyRoundRobin(names, weights, **kw)
        for s in be.servers:
            if s.disabled:
                sel.set_state(s.name, "down")
        return sel
    # leastconn, first, random(<draws>): HAProxy's own algorithms (docs/algorithms.md §8.6); maxconn goes
    # to the balancer too, as the LB algorithms skip a full server (fwlc/fas_get_next_server)
    for s in be.servers:
        where = f"haproxy config line {s.line}: server {s.name!r}"
        if s.maxconn and s.minconn and s.minconn != s.maxconn:
            _unsupported(where, "minconn other than maxconn (srv_dynamic_maxconn follows the backend's load; "
                         "fastroute keeps maxconn)", be.strict, stacklevel=3)
        if s.maxconn and s.slowstart:
            _unsupported(where, "maxconn with slowstart (HAProxy also ramps maxconn up; fastroute keeps maxconn)",
                         be.strict, stacklevel=3)
    maxconn = [s.maxconn or 0 for s in be.servers]
    if be.balance == "leastconn":
        # fwlc_get_next_server skips a server at maxconn + maxqueue (served + queued; fastroute's in-flight)
        sel = balancers.HAProxyLeastConn(names, weights, maxconn=[m + (s.maxqueue or 0) if m else 0
                                                                   for m, s in zip(maxconn, be.servers)], **kw)
    elif be.balance == "first":
        sel = balancers.HAProxyFirst(names, weights, maxconn=maxconn, server_ids=[s.puid for s in be.servers], **kw)
    else:  # random
        if slow_start is not None:
            _unsupported(f"backend {backend}", "slowstart with balance random (the ring keeps the configured "
                         "weights while a server ramps up)", be.strict, stacklevel=3)
        sel = balancers.HAProxyRandom(names, weights, draws=int(be.balance_arg), maxconn=maxconn,
                                      server_ids=[s.puid for s in be.servers], **kw)
    for s in be.servers:
        if s.disabled:
            sel.set_state(s.name, "down")
    return sel


def haproxy_checks(text: str, backend: str, *, sink=None, strict: bool = False, **options):
    """The fastroute.checks.HealthChecker that runs the checks `backend` declares:
    one target per server with `check` (and not `disabled`), its per-server
    inter / fastinter / downinter / rise / fall / port, `timeout check`, an
    HTTP check from `option httpchk` / `http-check send|expect` (else TCP
    connect) and the agent from `agent-check` / `agent-port` / `agent-inter` /
    `agent-send`. `options` go to HealthChecker (clock, seed, on_transition)."""
    from ..checks import AgentCheck, CheckTarget, CheckTiming, HealthChecker, HttpCheck, TcpCheck

    if not isinstance(text, str):
        raise TypeError(f"text: expected the config as str, got {type(text).__name__}")
    be = parse_backend(text, backend, strict=strict)
    targets = []
    for s in be.servers:
        where = f"haproxy config line {s.line}: server {s.name!r}"
        if s.agent_check and not s.check:
            _unsupported(where, "agent-check without check (fastroute runs an agent beside a health check)",
                        be.strict, stacklevel=3)
        if not s.check or s.disabled:
            continue
        host, _, port = s.address.rpartition(":")
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            if s.check_port is None:
                raise ValueError(f"{where}: address {quoted(s.address)} has no port; add `port N` for its check")
            host, port = s.address, str(s.check_port)
        if s.agent_check and s.agent_port is None:
            raise ValueError(f"{where}: agent-check needs agent-port (HAProxy refuses it too)")
        timing = CheckTiming(inter=s.inter or 2.0, fastinter=s.fastinter, downinter=s.downinter,
                             rise=s.rise or 2, fall=s.fall or 3, timeout=be.check_timeout)
        targets.append(CheckTarget(s.name, host.strip("[]"), int(port), check_port=s.check_port,
                                   agent_port=s.agent_port if s.agent_check else None, timing=timing,
                                   agent_inter=s.agent_inter))
    if not targets:
        raise ValueError(f"backend {backend}: no server has `check`")
    if be.httpchk is None:
        check = TcpCheck()
    else:
        method, uri, host = be.httpchk
        kind, value = be.http_expect or (None, None)
        check = HttpCheck(method=method, path=uri, host=host,
                          expect_status=value if kind == "status" else None,
                          body=re.compile(value) if kind == "rstring" else value if kind == "string" else None)
    sends = {s.agent_send for s in be.servers if s.agent_check}
    if len(sends) > 1:
        raise ValueError(f"backend {backend}: servers use different agent-send strings; fastroute sends one")
    agent = None
    if any(t.agent_port for t in targets):
        send = sends.pop() if sends else None
        agent = AgentCheck(send=send.encode().decode("unicode_escape").encode("latin-1") if send else None)
    return HealthChecker(targets, sink=sink, check=check, agent=agent, **options)

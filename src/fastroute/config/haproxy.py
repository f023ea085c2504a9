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
sequence; `leastconn`, `first` and `random` return the closest fastroute
balancer (their exact HAProxy sequences depend on live state: a warning says so).

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
from ..placement import HAProxyConsistentHash, HAProxyMapHash
from ..placement.haproxy import HAPROXY_HASH_FUNCTIONS as _HASH_FUNCTIONS
from ..redact import quoted

_MAX_ID = 2**31 - 1
# Server keywords that cannot change which server a key maps to offline.
_HARMLESS_SERVER = {"check", "inter", "fastinter", "downinter", "rise", "fall", "port", "maxconn", "maxqueue",
                    "ssl", "verify", "sni", "cookie", "send-proxy", "send-proxy-v2", "check-ssl", "observe",
                    "error-limit", "on-error", "resolvers", "init-addr", "alpn", "proto", "slowstart"}
_HARMLESS_BACKEND = {"mode", "timeout", "option", "http-reuse", "retries", "default-server", "log",
                     "http-request", "http-response", "http-check", "fullconn", "stick-table", "stick",
                     "hash-balance-factor"}


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


@dataclass
class HAProxyBackend:
    name: str
    balance: str = "roundrobin"
    balance_arg: str | None = None
    uri_whole: bool = False
    hash_type: str = "map-based"
    hash_function: str = "sdbm"
    avalanche: bool = False
    servers: list[HAProxyServer] = field(default_factory=list)


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


def parse_backend(text: str, backend: str) -> HAProxyBackend:
    be = HAProxyBackend(backend)
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
    if found is None:
        raise ValueError(f"backend: no backend or listen section {quoted(backend)}; found {quoted(names)}")
    for source, lines in (("defaults", found[0]), ("backend", found[1])):
        for tokens, lineno in lines:
            _apply(be, tokens, lineno, in_defaults=source == "defaults")
    if not be.servers:
        raise ValueError(f"backend {backend}: no server lines")
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
        elif algo in ("roundrobin", "static-rr", "leastconn", "first", "source", "random"):
            be.balance = algo
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
        be.hash_function = funcs[0] if funcs else "sdbm"
        if be.hash_type == "consistent" and not funcs:
            be.avalanche = True  # `hash-type consistent` alone means sdbm + avalanche (§7.1)
    elif head == "server" and not in_defaults:
        if len(args) < 2:
            raise ValueError(f"{where}: server needs a name and an address")
        srv = HAProxyServer(args[0], args[1], line=lineno)
        i = 2
        while i < len(args):
            kw = args[i]
            if kw in ("weight", "id", "hash-key"):
                if i + 1 >= len(args):
                    raise ValueError(f"{where}: {kw} needs a value")
                value = args[i + 1]
                if kw == "hash-key":
                    if value not in ("id", "addr", "addr-port"):
                        raise ValueError(f"{where}: hash-key {quoted(value)} is not supported (id, addr, addr-port)")
                    srv.hash_key = value
                else:
                    if not value.isdigit():
                        raise ValueError(f"{where}: {kw} must be an integer, got {quoted(value)}")
                    if kw == "weight":
                        srv.weight = int(value)
                        if srv.weight > 256:
                            raise ValueError(f"{where}: weight must be <= 256")
                    else:
                        srv.puid = int(value)
                        if not 1 <= srv.puid <= _MAX_ID:  # HAProxy ids are positive 32-bit ints
                            raise ValueError(f"{where}: id must be in [1, {_MAX_ID}], got {value}")
                        clash = next((s for s in be.servers if s.puid == srv.puid), None)
                        if clash is not None:
                            raise ValueError(f"{where}: id {srv.puid} is already used by server {quoted(clash.name)} "
                                             f"(line {clash.line}); HAProxy refuses duplicate ids")
                i += 2
            elif kw == "backup":
                srv.backup = True
                i += 1
            elif kw == "disabled":
                srv.disabled = True
                i += 1
            elif kw in _HARMLESS_SERVER:
                i += 2 if kw in ("inter", "fastinter", "downinter", "rise", "fall", "port", "maxconn", "maxqueue",
                                 "verify", "sni", "cookie", "observe", "error-limit", "on-error", "resolvers",
                                 "init-addr", "alpn", "proto", "slowstart") else 1
            else:
                raise ValueError(f"{where}: unsupported server keyword {quoted(kw)}")
        if any(s.name == srv.name for s in be.servers):
            raise ValueError(f"{where}: server {quoted(srv.name)} declared twice")
        be.servers.append(srv)
    elif head in _HARMLESS_BACKEND or head.startswith("timeout"):
        if head == "hash-balance-factor":
            warnings.warn(f"{where}: hash-balance-factor depends on live load; offline routing ignores it",
                          stacklevel=4)
    elif in_defaults:
        pass  # other defaults (timeouts, logging) do not change server choice
    else:
        raise ValueError(f"{where}: unsupported directive {quoted(head)} in backend {be.name}")


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
        common = dict(hash=be.hash_function, avalanche=be.avalanche)
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

    def route(self, keys) -> np.ndarray:
        if self._source or self.backend.balance in ("uri", "hdr") or len(self.nodes) == 1:
            return np.array([self.get_index(k) for k in keys], dtype=np.int32)
        from .._keys import key_batch_arg

        arg, _ = key_batch_arg(keys)
        empty = _first_empty_key(arg)
        if empty is not None:
            raise ValueError(f"keys[{empty}]: empty key; HAProxy falls back to round robin for an empty key")
        return self._table.route(keys)


def _first_empty_key(arg: tuple) -> int | None:
    """Position of the first empty key in a normalised batch (one rule for every input type)."""
    kind = arg[0]
    if kind == "objects":
        return next((i for i, k in enumerate(arg[1]) if isinstance(k, (str, bytes)) and not k), None)
    if kind in ("varlen32", "varlen64"):
        lengths = np.diff(arg[2])
    elif kind in ("fixed_bytes", "ucs4"):
        width = arg[2]
        if width == 0:
            return 0  # a zero-width dtype holds only empty keys
        lengths = arg[1].reshape(-1, width)[:, 0].astype(np.int64)  # NUL-padded: empty iff the first unit is NUL
    else:
        return None  # integer keys are never empty
    hits = np.flatnonzero(lengths == 0)
    return int(hits[0]) if hits.size else None


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


def load_haproxy(text: str, backend: str, version: str | None = None, *, legacy_id_key: bool | None = None):
    """The selector that behaves as `backend` (or `listen`) in `text`."""
    if not isinstance(text, str):
        raise TypeError(f"text: expected the config as str, got {type(text).__name__}")
    be = parse_backend(text, backend)
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
    if be.balance == "roundrobin":
        sel = balancers.HAProxyRoundRobin(names, weights, backups=backups)
        for s in be.servers:
            if s.disabled:
                sel.set_state(s.name, "down")
        return sel
    warnings.warn(f"backend {backend}: balance {be.balance} depends on live state; fastroute returns the closest "
                  "balancer, not HAProxy's exact sequence", stacklevel=2)
    if be.balance == "leastconn":
        sel = balancers.LeastConnections(names, weights, backups=backups)
    elif be.balance == "random":
        sel = balancers.WeightedRandom(names, [float(w) for w in weights], backups=backups)
    else:  # first
        sel = balancers.SmoothWeightedRoundRobin(names, weights, backups=backups)
    for s in be.servers:
        if s.disabled:
            sel.set_state(s.name, "down")
    return sel

# SPDX-License-Identifier: Apache-2.0
"""`load_nginx(text, upstream)`: the selector an nginx `upstream` block describes.

Supported inside the block: `server ADDR [weight=N] [max_fails=N]
[fail_timeout=T] [max_conns=N] [slow_start=T] [backup] [down]`, `hash $var
[consistent]`, `ip_hash`, `least_conn`, `random [two [least_conn]]`, default
round robin; `include FILE|GLOB;` anywhere (relative to `base_path=`, or to the
directory of the config when `text` is a path). Directives that cannot change
where a request goes (`keepalive*`, `zone`) are accepted with a warning;
other unsupported directives and server parameters: a warning naming the line
(the item is ignored), an error with `strict=True` (docs/checks.md §6). Servers
keep the name exactly as written in the config. `slow_start` becomes the
returned balancer's view's slow start (linear from zero), `max_conns` a
per-node limit of the view's circuit breaker, which fastroute.httpx /
fastroute.aiohttp apply (a full node is skipped, docs/checks.md §6).

Keyed selectors (`hash`, `ip_hash`) answer `get_node(key)` / `route(keys)`:
the key is the evaluated `$var` (for ip_hash, the client address). Keyless
ones are fastroute balancers (`pick()`, `lease()`), in nginx's exact
sequence for a single worker process.
"""
from __future__ import annotations

import glob
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import balancers
from ..health import NginxHealth, SlowStart
from ..placement import IPHash, NginxConsistentHash, NginxPlainHash
from ..redact import quoted
from ._rules import check_strict, one_slow_start, request_path_view, unsupported

_HARMLESS = {"keepalive", "keepalive_requests", "keepalive_time", "keepalive_timeout", "zone", "sticky_cookie_insert"}
_TIME_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@dataclass
class NginxServer:
    name: str
    weight: int = 1
    max_fails: int = 1
    fail_timeout: float = 10.0
    backup: bool = False
    down: bool = False
    line: int | str = 0
    max_conns: int = 0  # 0 = no limit (nginx's default)
    slow_start: float = 0.0  # seconds; 0 = off


@dataclass
class NginxUpstream:
    name: str
    servers: list[NginxServer] = field(default_factory=list)
    method: str = "round_robin"  # round_robin | hash | hash_consistent | ip_hash | least_conn | random ...
    hash_key: str | None = None


def _tokens(text: str):
    """(token, line) pairs; `{`, `}` and `;` are tokens; quotes and comments honoured."""
    i, line, n = 0, 1, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c in "{};":
            yield c, line
            i += 1
        elif c in "'\"":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                raise ValueError(f"nginx config line {line}: unterminated quoted string")
            yield text[i + 1:j], line
            line += text[i:j].count("\n")
            i = j + 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in "{};":
                j += 1
            yield text[i:j], line
            i = j


#: nginx allows nested includes; a cycle or a runaway chain stops here.
MAX_INCLUDE_DEPTH = 16


def _expand_includes(toks, base: Path | None, depth: int = 0, label: str = ""):
    """Tokens with every `include PATH;` replaced by the tokens of the file(s) it names
    (a glob, as nginx allows, in sorted order). Lines of included files read 'N of FILE'."""
    out = []
    i = 0
    while i < len(toks):
        tok, line = toks[i]
        if tok == "include" and i + 2 < len(toks) and toks[i + 2][0] == ";":
            where = f"nginx config line {line}{label}"
            if base is None:
                raise ValueError(f"{where}: include needs base_path= (or pass the config as a path)")
            if depth >= MAX_INCLUDE_DEPTH:
                raise ValueError(f"{where}: includes nested deeper than {MAX_INCLUDE_DEPTH} (a cycle?)")
            pattern = toks[i + 1][0]
            full = pattern if os.path.isabs(pattern) else str(base / pattern)
            files = sorted(glob.glob(full)) if glob.has_magic(pattern) else [full]
            for name in files:
                try:
                    included = Path(name).read_text()
                except OSError as exc:
                    raise ValueError(f"{where}: cannot read include {quoted(pattern)}: {exc.strerror}") from None
                sub = [(t, f"{n} of {Path(name).name}") for t, n in _tokens(included)]
                out.extend(_expand_includes(sub, Path(name).parent, depth + 1, f" of {Path(name).name}"))
            i += 3
            continue
        out.append((tok, line))
        i += 1
    return out


def _find_upstream(text: str, name: str, base: Path | None = None) -> list[tuple[list[tuple[str, int]], int]]:
    """Directives (token lists) of `upstream NAME { ... }` anywhere in the text."""
    toks = _expand_includes(list(_tokens(text)), base)
    found = []
    names = []
    i = 0
    while i < len(toks):
        if toks[i][0] == "upstream" and i + 2 < len(toks) and toks[i + 2][0] == "{":
            names.append(toks[i + 1][0])
            block_name, start_line = toks[i + 1][0], toks[i][1]
            i += 3
            directives, current = [], []
            while i < len(toks) and toks[i][0] != "}":
                tok = toks[i]
                if tok[0] == ";":
                    if current:
                        directives.append(current)
                    current = []
                elif tok[0] == "{":
                    raise ValueError(f"nginx config line {tok[1]}: unexpected block inside upstream {block_name}")
                else:
                    current.append(tok)
                i += 1
            if i >= len(toks):
                raise ValueError(f"nginx config line {start_line}: upstream {block_name} is not closed")
            if current:
                raise ValueError(f"nginx config line {current[0][1]}: missing ';' after {quoted(current[0][0])}")
            if block_name == name:
                found.append((directives, start_line))
        i += 1
    if not found:
        raise ValueError(f"upstream: no upstream {quoted(name)} in the config; found {quoted(names)}")
    if len(found) > 1:
        raise ValueError(f"upstream: {quoted(name)} is defined {len(found)} times")
    return found[0][0]


# nginx's own limits are wider; these keep every table and counter in range.
_MAX_WEIGHT = 1_000_000
_MAX_FAILS = 2**31 - 1


def _int(param: str, value: str, line: int, minimum: int, maximum: int) -> int:
    if not re.fullmatch(r"\d+", value):
        raise ValueError(f"nginx config line {line}: bad value in {quoted(param)}: expected an integer")
    number = int(value)
    if not minimum <= number <= maximum:
        raise ValueError(f"nginx config line {line}: bad value in {quoted(param)}: must be in [{minimum}, {maximum}]")
    return number


def _time(value: str, line: int) -> float:
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", value)
    if not m:
        raise ValueError(f"nginx config line {line}: bad time {quoted(value)}")
    return int(m.group(1)) * _TIME_UNITS[m.group(2) or "s"]


def parse_upstream(text: str, upstream: str, *, strict: bool = False, base_path=None) -> NginxUpstream:
    strict = check_strict(strict)
    base = Path(base_path) if base_path is not None else None
    up = NginxUpstream(upstream)
    for directive in _find_upstream(text, upstream, base):
        (head, line), args = directive[0], [t for t, _ in directive[1:]]
        if head == "server":
            if not args:
                raise ValueError(f"nginx config line {line}: server needs an address")
            srv = NginxServer(args[0], line=line)
            for param in args[1:]:
                key, _, value = param.partition("=")
                try:
                    if key == "weight" and value:
                        srv.weight = _int(param, value, line, 1, _MAX_WEIGHT)
                    elif key == "max_fails" and value:
                        srv.max_fails = _int(param, value, line, 0, _MAX_FAILS)
                    elif key == "fail_timeout" and value:
                        srv.fail_timeout = _time(value, line)
                    elif key == "max_conns" and value:
                        srv.max_conns = _int(param, value, line, 0, _MAX_FAILS)
                    elif key == "slow_start" and value:
                        srv.slow_start = _time(value, line)
                    elif param == "backup":
                        srv.backup = True
                    elif param == "down":
                        srv.down = True
                    else:
                        unsupported(f"nginx config line {line}", f"server parameter {quoted(param)}", strict)
                except ValueError as exc:
                    if str(exc):
                        raise
                    raise ValueError(f"nginx config line {line}: bad value in {quoted(param)}") from None
            if any(s.name == srv.name for s in up.servers):
                raise ValueError(f"nginx config line {line}: server {quoted(srv.name)} listed twice (unsupported)")
            up.servers.append(srv)
        elif head == "hash":
            if not args or len(args) > 2 or (len(args) == 2 and args[1] != "consistent"):
                raise ValueError(f"nginx config line {line}: expected 'hash $key [consistent]'")
            up.method = "hash_consistent" if len(args) == 2 else "hash"
            up.hash_key = args[0]
        elif head in ("ip_hash", "least_conn"):
            if args:
                raise ValueError(f"nginx config line {line}: {head} takes no arguments")
            up.method = head
        elif head == "random":
            if args not in ([], ["two"], ["two", "least_conn"]):
                raise ValueError(f"nginx config line {line}: expected 'random [two [least_conn]]'")
            up.method = "random_two" if args else "random"
        elif head in _HARMLESS:
            warnings.warn(f"nginx config line {line}: {quoted(head)} ignored (does not change the chosen server)",
                          stacklevel=3)
        else:
            unsupported(f"nginx config line {line}", f"directive {quoted(head)} in upstream {upstream}", strict)
    if not up.servers:
        raise ValueError(f"upstream {upstream}: no server lines")
    if up.method in ("hash", "hash_consistent", "ip_hash") and any(s.backup for s in up.servers):
        bad = next(s for s in up.servers if s.backup)
        raise ValueError(f"nginx config line {bad.line}: 'backup' cannot be used with {up.method} (nginx rejects it)")
    if up.method in ("hash", "hash_consistent", "ip_hash", "random", "random_two") and \
            any(s.slow_start for s in up.servers):
        bad = next(s for s in up.servers if s.slow_start)
        raise ValueError(f"nginx config line {bad.line}: 'slow_start' cannot be used with {up.method} "
                         "(nginx: not with hash, ip_hash or random)")
    return up


class NginxHash:
    """`hash $key [consistent]`: get_node(key) / route(keys) where nginx sends it.

    A `down` server is skipped as nginx does: consistent → the next point
    clockwise owned by a usable server; plain → the next hash attempt.
    """

    def __init__(self, upstream: NginxUpstream, consistent: bool):
        self.upstream = upstream
        self.nodes = tuple(s.name for s in upstream.servers)
        self.weights = tuple(s.weight for s in upstream.servers)
        self.consistent = consistent
        self._down = np.array([s.down for s in upstream.servers])
        self._usable = int((~self._down).sum())
        if not self._usable:
            raise ValueError(f"upstream {upstream.name}: every server is down")
        try:
            self._table = (NginxConsistentHash if consistent else NginxPlainHash)(self.nodes, self.weights)
        except ValueError as exc:
            heaviest = max(upstream.servers, key=lambda s: s.weight)
            raise ValueError(f"nginx config line {heaviest.line}: server {quoted(heaviest.name)} weight={heaviest.weight}: "
                             f"{exc}") from None

    def get_index(self, key) -> int:
        if not self._down.any():
            return self._table.get_index(key)
        if self.consistent:
            return next(i for i in self._table.replica_indices(key, len(self.nodes)) if not self._down[i])
        return self._plain_with_down(key)

    def get_node(self, key) -> str:
        return self.nodes[self.get_index(key)]

    def replicas(self, key, n: int) -> tuple[str, ...]:
        """The key's failover order, `down` servers skipped (fastroute.BoundedLoad walks it):
        consistent → clockwise from its point, as nginx retries; plain → the table's order."""
        if not self._down.any():
            return self._table.replicas(key, n)
        if not self.consistent:
            raise ValueError(f"upstream {self.upstream.name}: plain hash with down servers retries by nginx's "
                             "21 hash attempts, which have no fixed failover order")
        usable = [self.nodes[i] for i in self._table.replica_indices(key, len(self.nodes)) if not self._down[i]]
        return tuple(usable[:n])

    def route(self, keys) -> np.ndarray:
        if not self._down.any():
            return self._table.route(keys)
        if self.consistent:
            reps = self._table.route_replicas(keys, len(self.nodes))
            usable = ~self._down[reps]
            return reps[np.arange(len(reps)), usable.argmax(axis=1)].astype(np.int32)
        # Same batch (any key collection) as the other paths; attempts computed in Rust.
        return self._table.route_usable(keys, (~self._down).tolist())

    def _plain_with_down(self, key) -> int:
        # docs/algorithms.md §6.3: nginx's 21 hash attempts (computed in Rust); then round robin,
        # whose first pick is the first usable server.
        for i in self._table.attempts(key):
            if not self._down[i]:
                return i
        return int(np.flatnonzero(~self._down)[0])


class NginxIPHash:
    """`ip_hash`: get_node(client_address); down servers skipped in nginx's retry order."""

    def __init__(self, upstream: NginxUpstream):
        self.upstream = upstream
        self.nodes = tuple(s.name for s in upstream.servers)
        self._down = [s.down for s in upstream.servers]
        if all(self._down):
            raise ValueError(f"upstream {upstream.name}: every server is down")
        self._table = IPHash(self.nodes, [s.weight for s in upstream.servers])

    def get_index(self, address) -> int:
        if not any(self._down):
            return self._table.get_index(address)
        return next(i for i in self._table.replica_indices(address, len(self.nodes)) if not self._down[i])

    def get_node(self, address) -> str:
        return self.nodes[self.get_index(address)]

    def route(self, addresses) -> np.ndarray:
        if not any(self._down):
            return self._table.route(addresses)
        return np.array([self.get_index(a) for a in addresses], dtype=np.int32)


def load_nginx(text, upstream: str, *, strict: bool = False, base_path=None):
    """The selector that behaves as `upstream` in `text` (a whole nginx.conf or
    just the upstream block, as str) or in the file at `text` (a pathlib.Path
    or other os.PathLike; includes are then relative to its directory)."""
    if isinstance(text, os.PathLike):
        path = Path(text)
        try:
            content = path.read_text()
        except OSError as exc:
            raise ValueError(f"text: cannot read the config file {quoted(str(path))}: {exc.strerror}") from None
        if base_path is None:
            base_path = path.parent
        text = content
    if not isinstance(text, str):
        raise TypeError(f"text: expected the config as str or a path (os.PathLike), got {type(text).__name__}")
    up = parse_upstream(text, upstream, strict=strict, base_path=base_path)
    if up.method in ("hash", "hash_consistent"):
        return NginxHash(up, consistent=up.method == "hash_consistent")
    if up.method == "ip_hash":
        return NginxIPHash(up)
    names = [s.name for s in up.servers]
    weights = [s.weight for s in up.servers]
    backups = [s.name for s in up.servers if s.backup]
    fails = {(s.max_fails, s.fail_timeout) for s in up.servers}
    if len(fails) > 1:
        raise ValueError(f"upstream {upstream}: per-server max_fails/fail_timeout differ; fastroute applies one "
                         "health policy per balancer")
    max_fails, fail_timeout = fails.pop()
    health = NginxHealth(max_fails=max_fails, fail_timeout=fail_timeout)
    # nginx Plus slow_start: weight grows linearly from zero (Envoy's ramp with aggression 1, no floor);
    # max_conns: a server at its limit is skipped (ngx_http_upstream_get_round_robin_peer)
    slow_start = one_slow_start(up.servers, "slow_start", f"upstream {upstream}",
                                lambda s: SlowStart(s, aggression=1.0, min_weight_percent=0.0), strict)
    limits = {s.name: s.max_conns for s in up.servers if s.max_conns}
    view = request_path_view(names, backups, health, slow_start, limits)
    kw = dict(upstream=view) if view is not None else dict(backups=backups, health=health)
    if up.method == "least_conn":
        sel = balancers.LeastConnections(names, weights, **kw)
    elif up.method == "random":
        sel = balancers.WeightedRandom(names, [float(w) for w in weights], **kw)
    elif up.method == "random_two":
        sel = balancers.LeastRequest(names, [float(w) for w in weights], choice_count=2, **kw)
    else:
        sel = balancers.SmoothWeightedRoundRobin(names, weights, **kw)
    for s in up.servers:
        if s.down:
            sel.set_state(s.name, "down")
    return sel

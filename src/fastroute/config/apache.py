# SPDX-License-Identifier: Apache-2.0
"""`load_apache(text_or_path, balancer)`: the fastroute.HttpdBalancer an Apache
httpd 2.4 `balancer://NAME` describes (docs/apache.md §1).

Read: `<Proxy "balancer://NAME">` blocks with `BalancerMember` and `ProxySet`
inside; `BalancerMember balancer://NAME URL …` and `ProxySet balancer://NAME …`
outside them (also `ProxySet URL …` for one member); the key=value parameters
of `ProxyPass PATH balancer://NAME/ …`; `ProxyHCTemplate` / `ProxyHCExpr`;
`BalancerGrowth`. Everything else in a whole httpd.conf is skipped; inside
the target's <Proxy> block only access-control directives are accepted.
Member parameters that choose members are applied (loadfactor, lbset,
status, route, redirect, retry, hcpasses, hcfails); connection parameters
(timeout, max, ttl, keepalive, …) are kept in `HttpdMember.extra` and do not
change a pick. A value httpd refuses is a ValueError naming the line; an
unknown parameter or directive follows the nginx/HAProxy rule (warning, or
ValueError with strict=True, docs/checks.md §6).

`apache_checks(text, balancer, sink=…)` builds the fastroute.checks.HealthChecker
for the hcmethod/hcuri/hcinterval members declare; the balancer applies
mod_proxy_hcheck's pass/fail counting itself (`report_check`).
"""
from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..httpd_balancer import DEFAULT_RETRY, HttpdBalancer, HttpdMember, loadfactor_units, parse_status
from ..redact import mask_card_numbers, quoted
from ._rules import check_strict, unsupported

_ACCESS = {"require", "order", "allow", "deny", "satisfy", "authtype", "authname", "authuserfile",
           "authbasicprovider", "<requireall>", "<requireany>"}
#: set_worker_param keys that change no member choice (connection handling): kept, not applied
_CONNECTION_PARAMS = {"ttl", "min", "max", "smax", "acquire", "timeout", "iobuffersize", "receivebuffersize",
                      "keepalive", "disablereuse", "enablereuse", "addressttl", "flushpackets", "flushwait",
                      "ping", "connectiontimeout", "flusher", "upgrade", "responsefieldsize", "secret"}
_HC_PARAMS = {"hcmethod", "hcinterval", "hcpasses", "hcfails", "hcuri", "hcexpr", "hctemplate"}
_HC_METHODS = ("NONE", "TCP", "OPTIONS", "HEAD", "GET", "OPTIONS11", "HEAD11", "GET11")
HC_DEFAULT_INTERVAL = 30.0  # mod_proxy_hcheck HCHECK_WATHCHDOG_DEFAULT_INTERVAL
_TIMEOUT_UNITS = {"ms": 0.001, "s": 1.0, "mi": 60.0, "hr": 3600.0}
MAX_CONFIG_CHARS = 16 * 1024 * 1024


@dataclass
class ApacheBalancerConfig:
    name: str
    members: list[HttpdMember] = field(default_factory=list)
    params: dict = field(default_factory=dict)       # balancer parameter → value text (last wins)
    lines: dict = field(default_factory=dict)        # parameter → line it came from
    hc: dict = field(default_factory=dict)           # member name → {hc param: value}
    not_enforced: list = field(default_factory=list)  # what is parsed and kept but not applied
    strict: bool = False


def _logical_lines(text: str):
    """(line number, text) of each directive: `\\` continues a line, `#` starts a comment line."""
    buf, start = "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not buf:
            start = n
            if not line or line.startswith("#"):
                continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        yield start, buf + line
        buf = ""
    if buf.strip():
        yield start, buf


def _words(line: str, where: str):
    """ap_getword_conf: whitespace-separated words; "…" / '…' quote, backslash escapes inside quotes."""
    out, i, n = [], 0, len(line)
    while i < n:
        while i < n and line[i].isspace():
            i += 1
        if i >= n:
            break
        word = []
        while i < n and not line[i].isspace():
            c = line[i]
            if c in "\"'":
                j = i + 1
                while j < n and line[j] != c:
                    if line[j] == "\\" and j + 1 < n:
                        j += 1
                    word.append(line[j])
                    j += 1
                if j >= n:
                    raise ValueError(f"{where}: unterminated quoted string")
                i = j + 1
            else:
                word.append(c)
                i += 1
        out.append("".join(word))
    return out


def _balancer_name(value: str) -> str | None:
    """'balancer://NAME[/path]' → 'name' (httpd lowercases scheme://hostname); else None."""
    if not value.lower().startswith("balancer://"):
        return None
    return value[len("balancer://"):].split("/", 1)[0].lower()


def _int(value: str, where: str, key: str, low: int | None, high: int | None, rule: str) -> int:
    if not re.fullmatch(r"[+-]?\d{1,12}", value.strip()):
        raise ValueError(f"{where}: {key}={quoted(value)}: expected an integer ({rule})")
    number = int(value)
    if (low is not None and number < low) or (high is not None and number > high):
        raise ValueError(f"{where}: {key}={quoted(value)}: {rule}")
    return number


def _seconds(value: str, where: str, key: str, default_unit: str = "s") -> float:
    """ap_timeout_parameter_parse: a number with an optional ms / s / mi / hr unit."""
    m = re.fullmatch(r"(\d{1,12})(ms|s|mi|hr)?", value.strip().lower())
    if not m:
        raise ValueError(f"{where}: {key}={quoted(value)}: expected a time such as 30, 500ms, 5s, 2mi or 1hr")
    return int(m.group(1)) * _TIMEOUT_UNITS[m.group(2) or default_unit]


def _on_off(value: str, where: str, key: str) -> bool:
    v = value.lower()
    if v not in ("on", "off"):
        raise ValueError(f"{where}: {key}={quoted(value)}: must be On|Off")
    return v == "on"


def _member_param(m: HttpdMember, key: str, value: str, where: str, cfg: ApacheBalancerConfig) -> None:
    """One BalancerMember / ProxySet-on-a-member parameter, checked as set_worker_param does."""
    k = key.lower()
    if k == "loadfactor":
        try:
            m.lbfactor = loadfactor_units(value)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    elif k == "lbset":
        m.lbset = _int(value, where, key, 0, 99, "lbset must be between 0 and 99")
    elif k == "retry":
        m.retry = float(_int(value, where, key, 0, None, "Retry must be a positive value"))
    elif k in ("route", "redirect"):
        if len(value) >= 64:
            raise ValueError(f"{where}: {key} length must be < 64 characters")
        setattr(m, k, value)
    elif k == "status":
        try:
            m.status = "".join(c for c in _status_letters(parse_status(value, parse_status(m.status) if m.status
                                                                          else 0, name=key)))
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    elif k in ("hcpasses", "hcfails"):
        setattr(m, k, _int(value, where, key, 0, None, f"{k[2:].capitalize()} must be a positive value"))
        cfg.hc.setdefault(m.name, {})[k] = value
    elif k in _HC_PARAMS:
        _hc_param(m, k, value, where, cfg)
    elif k in _CONNECTION_PARAMS:
        m.extra[k] = value
    else:
        unsupported(where, f"BalancerMember parameter {quoted(key)}", cfg.strict, stacklevel=6)


def _status_letters(flags: int) -> str:
    from ..httpd_balancer import STATUS_LETTERS
    return "".join(c for c, bit in STATUS_LETTERS.items() if flags & bit)


def _hc_param(m: HttpdMember, k: str, value: str, where: str, cfg: ApacheBalancerConfig) -> None:
    hc = cfg.hc.setdefault(m.name, {})
    if k == "hcmethod":
        if value.upper() not in _HC_METHODS:
            if value.upper() in ("CPING", "PROVIDER"):
                raise ValueError(f"{where}: Health check method {quoted(value)} not (yet) implemented")
            raise ValueError(f"{where}: hcmethod={quoted(value)}: Unknown method (httpd knows {_HC_METHODS})")
        hc[k] = value.upper()
    elif k == "hcinterval":
        seconds = _seconds(value, where, k)
        if seconds < 0.1:
            raise ValueError(f"{where}: hcinterval: Interval must be a positive value greater than 100ms")
        hc[k] = seconds
    elif k == "hctemplate":
        template = cfg.params.get(("template", value.lower()))
        if template is None:
            raise ValueError(f"{where}: Unknown ProxyHCTemplate name: {quoted(value)}")
        for tk, tv in template.items():
            _member_param(m, tk, tv, where, cfg)
    else:  # hcuri, hcexpr
        hc[k] = value


def _balancer_param(cfg: ApacheBalancerConfig, key: str, value: str, where: str) -> None:
    """One ProxySet / ProxyPass balancer parameter, checked as set_balancer_param does."""
    k = key.lower()
    if k == "lbmethod":
        if value.lower() not in ("byrequests", "bybusyness", "bytraffic", "heartbeat"):
            raise ValueError(f"{where}: lbmethod={quoted(value)}: unknown lbmethod")
        value = value.lower()
    elif k in ("nofailover", "scolonpathdelim", "failontimeout", "forcerecovery"):
        _on_off(value, where, key)
    elif k == "stickysessionsep":
        if len(value) != 1 and value.lower() != "off":
            raise ValueError(f"{where}: stickysessionsep must be a single character or Off")
    elif k == "maxattempts":
        _int(value, where, key, 0, None, "maximum number of attempts must be a positive number")
    elif k == "failonstatus":
        codes = [c for c in re.split(r"[, ]+", value) if c]
        if not codes or not all(re.fullmatch(r"\d{3}", c) and 100 <= int(c) <= 599 for c in codes):
            raise ValueError(f"{where}: failonstatus must be one or more HTTP response codes")
    elif k == "growth":
        _int(value, where, key, 1, 100, "growth must be between 1 and 100")
    elif k == "timeout":
        _int(value, where, key, 1, None, "timeout must be at least one second")
        cfg.not_enforced.append(f"{where}: balancer timeout={value} (waiting for a free member) is not applied: "
                                "fastroute raises NoHealthyNode at once")
    elif k == "nonce":
        pass
    elif k == "stickysession":
        if not value:
            raise ValueError(f"{where}: stickysession must not be empty")
    else:
        unsupported(where, f"balancer parameter {quoted(key)}", cfg.strict, stacklevel=5)
        return
    cfg.params[k] = value
    cfg.lines[k] = where


def _split_params(words, where: str, directive: str):
    params = []
    for w in words:
        if "=" not in w:
            raise ValueError(f"{where}: Invalid {directive} parameter {quoted(w)}. Parameter must be in the "
                             "form 'key=value'")
        k, _, v = w.partition("=")
        params.append((k, v))
    return params


def parse_balancer(text: str, balancer: str, *, strict: bool = False, source: str = "httpd config"
                   ) -> ApacheBalancerConfig:
    """The balancer's members and parameters as written in `text` (a whole httpd.conf or part)."""
    strict = check_strict(strict)
    if not isinstance(balancer, str) or not balancer:
        raise TypeError("balancer: expected the balancer name as a non-empty str ('NAME' or 'balancer://NAME')")
    if len(text) > MAX_CONFIG_CHARS:
        raise ValueError(f"text: config larger than {MAX_CONFIG_CHARS} characters")
    target = _balancer_name(balancer) or balancer.lower()
    cfg = ApacheBalancerConfig(target, strict=strict)
    by_name: dict[str, HttpdMember] = {}
    seen_balancer = False
    sections: list[tuple[str, str | None]] = []  # (section word, balancer name of a <Proxy balancer://…>)
    for n, line in _logical_lines(text):
        where = f"{source} line {n}"
        if line.startswith("</"):
            if sections:
                sections.pop()
            continue
        if line.startswith("<"):
            inner = line[1:].rstrip()
            if inner.endswith(">"):
                inner = inner[:-1]
            words = _words(inner, where)
            if not words:
                raise ValueError(f"{where}: empty section")
            name = None
            if words[0].lower() in ("proxy", "proxymatch") and len(words) > 1:
                name = _balancer_name(words[1])
                if name == target:
                    seen_balancer = True
            sections.append((words[0].lower(), name))
            continue
        words = _words(line, where)
        directive, args = words[0].lower(), words[1:]
        in_proxy = next((s for s in reversed(sections) if s[0] in ("proxy", "proxymatch")), None)
        here = in_proxy[1] if in_proxy else None
        if directive == "balancermember":
            if in_proxy:
                owner, rest = here, args
            else:
                if not args:
                    raise ValueError(f"{where}: BalancerMember must define balancer name when outside <Proxy > "
                                     "section")
                owner, rest = _balancer_name(args[0]), args[1:]
            if owner != target:
                continue
            seen_balancer = True
            plain = [w for w in rest if "=" not in w]
            if len(plain) != 1:
                raise ValueError(f"{where}: BalancerMember must define one remote server URL, got "
                                 f"{len(plain)} words without '='")
            url = plain[0]
            params = _split_params([w for w in rest if "=" in w], where, "BalancerMember")
            if url in by_name:
                # add_member: a second definition shares the worker; its parameters are ignored
                warnings.warn(f"{where}: BalancerMember {quoted(url)} defined twice; httpd shares the first "
                              "definition and ignores these parameters", stacklevel=3)
                continue
            m = HttpdMember(url)
            seen = {}
            for k, v in params:  # apr_table_setn: a repeated key keeps the last value, at the first position
                seen[k.lower()] = (k, v)
            for k, v in seen.values():
                _member_param(m, k, v, where, cfg)
            by_name[url] = m
            cfg.members.append(m)
        elif directive == "proxyset":
            if in_proxy:
                owner, rest = here, args
                name_word = None
            else:
                if not args:
                    raise ValueError(f"{where}: ProxySet needs a balancer or worker name")
                name_word, rest = args[0], args[1:]
                owner = _balancer_name(name_word)
            params = _split_params(rest, where, "ProxySet")
            if owner == target:
                seen_balancer = True
                for k, v in params:
                    _balancer_param(cfg, k, v, where)
            elif owner is None and name_word is not None and name_word in by_name:
                for k, v in params:
                    _member_param(by_name[name_word], k, v, where, cfg)
        elif directive == "proxypass":
            urls = [i for i, w in enumerate(args) if "=" not in w and _balancer_name(w) == target]
            if not urls:
                continue
            seen_balancer = True
            params = _split_params(args[urls[0] + 1:], where, "ProxyPass")
            for k, v in params:
                _balancer_param(cfg, k, v, where)
        elif directive == "proxyhctemplate":
            if not args:
                raise ValueError(f"{where}: ProxyHCTemplate needs a name")
            cfg.params[("template", args[0].lower())] = dict(_split_params(args[1:], where, "ProxyHCTemplate"))
        elif directive == "proxyhcexpr":
            if len(args) < 2:
                raise ValueError(f"{where}: ProxyHCExpr needs a name and an expression")
            cfg.params[("expr", args[0].lower())] = " ".join(args[1:])
        elif directive == "balancergrowth":
            cfg.params["growth"] = str(_int(args[0] if args else "", where, "BalancerGrowth", 0, 1000,
                                           "BalancerGrowth must be between 0 and 1000"))
        elif here == target and in_proxy and directive not in _ACCESS:
            unsupported(where, f"directive {quoted(words[0])} in <Proxy balancer://{mask_card_numbers(target)}>", strict,
                        stacklevel=4)
    if not seen_balancer:
        raise ValueError(f"balancer: no balancer://{mask_card_numbers(target)} in the config")
    if not cfg.members:
        raise ValueError(f"balancer://{mask_card_numbers(target)}: no BalancerMember")
    return cfg


def _read(text, what="text"):
    if isinstance(text, os.PathLike):
        path = Path(text)
        try:
            return path.read_text(), str(path)
        except OSError as exc:
            raise ValueError(f"{what}: cannot read the config file {quoted(str(path))}: {exc.strerror}") from None
    if not isinstance(text, str):
        raise TypeError(f"{what}: expected the config as str or a path (os.PathLike), got {type(text).__name__}")
    return text, "httpd config"


def balancer_from_config(cfg: ApacheBalancerConfig, *, clock=None) -> HttpdBalancer:
    p = cfg.params
    lbmethod = p.get("lbmethod", "byrequests")
    if lbmethod == "heartbeat":
        warnings.warn(f"balancer://{mask_card_numbers(cfg.name)}: lbmethod=heartbeat chooses by mod_heartmonitor's "
                      "reports of each backend's idle slots, which fastroute does not receive; returning the closest balancer, "
                      "bybusyness (fewest requests in flight), not httpd's sequence", stacklevel=3)
        lbmethod = "bybusyness"
    sep = p.get("stickysessionsep", ".")
    for name, hc in cfg.hc.items():
        if "hcexpr" in hc:
            cfg.not_enforced.append(f"member {quoted(name)}: hcexpr={quoted(hc['hcexpr'])} is kept but not enforced "
                                    "(fastroute's HTTP check passes on 2xx/3xx, httpd's rule without hcexpr)")
    return HttpdBalancer(
        cfg.members, lbmethod, stickysession=p.get("stickysession"),
        stickysessionsep=None if sep.lower() == "off" else sep,
        scolonpathdelim=p.get("scolonpathdelim", "off").lower() == "on",
        nofailover=p.get("nofailover", "off").lower() == "on",
        failonstatus=[int(c) for c in re.split(r"[, ]+", p.get("failonstatus", "")) if c],
        failontimeout=p.get("failontimeout", "off").lower() == "on",
        forcerecovery=p.get("forcerecovery", "on").lower() == "on",
        maxattempts=int(p["maxattempts"]) if "maxattempts" in p else None,
        clock=clock, name=cfg.name)


def load_apache(text, balancer: str, *, strict: bool = False, clock=None) -> HttpdBalancer:
    """The HttpdBalancer that behaves as balancer://`balancer` in `text` (a whole
    httpd.conf or a part, as str) or in the file at `text` (os.PathLike).
    Parsed-but-not-enforced settings are listed in the result's `not_enforced`."""
    content, source = _read(text)
    cfg = parse_balancer(content, balancer, strict=strict, source=source)
    sel = balancer_from_config(cfg, clock=clock)
    sel.not_enforced = tuple(cfg.not_enforced)
    sel.hcheck = {k: dict(v) for k, v in cfg.hc.items()}
    for note in cfg.not_enforced:
        warnings.warn(note, stacklevel=2)
    return sel


def apache_checks(text, balancer: str, *, sink=None, strict: bool = False, **options):
    """The fastroute.checks.HealthChecker running the checks mod_proxy_hcheck would:
    one target per member with an hcmethod other than NONE (and not +S, which
    hcheck skips), TCP connect or an HTTP request (method, hcuri) every
    hcinterval. Pass the HttpdBalancer as `sink`: it counts hcpasses/hcfails as
    httpd does (docs/apache.md §6)."""
    from urllib.parse import urlsplit

    from ..checks import CheckTarget, CheckTiming, HttpCheck, TcpCheck
    from ..checks import HealthChecker

    content, source = _read(text)
    cfg = parse_balancer(content, balancer, strict=strict, source=source)
    targets, kinds = [], set()
    for m in cfg.members:
        hc = cfg.hc.get(m.name, {})
        method = hc.get("hcmethod", "NONE")
        if method == "NONE" or "S" in m.status:
            continue
        parts = urlsplit(m.name)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        timing = CheckTiming(inter=hc.get("hcinterval", HC_DEFAULT_INTERVAL), rise=1, fall=1)
        targets.append(CheckTarget(m.name, parts.hostname or "", port, timing=timing))
        kinds.add((method, hc.get("hcuri", "")))
    if not targets:
        raise ValueError(f"balancer://{mask_card_numbers(cfg.name)}: no member has an hcmethod")
    if len(kinds) > 1:
        raise ValueError(f"balancer://{mask_card_numbers(cfg.name)}: members use different hcmethod/hcuri "
                         f"{mask_card_numbers(str(sorted(kinds)))}; "
                         "fastroute runs one check per checker")
    method, uri = kinds.pop()
    check: TcpCheck | HttpCheck
    if method == "TCP":
        check = TcpCheck()
    else:
        check = HttpCheck(method=method.removesuffix("11"), path=uri or "/")
    return HealthChecker(targets, sink=sink, check=check, **options)

# SPDX-License-Identifier: Apache-2.0
"""Cases and outputs of the cross-architecture vector file (issue 19).

tests/data/placement_vectors.json holds, for every case below, what the build
on x86-64 computed. It is not a correctness oracle (the reference tests are):
it pins the bits so another platform (aarch64 under `make arm-test`) must
reproduce them exactly. Regenerate on x86-64 with
`python scripts/make_placement_vectors.py` only when a placement rule changes
on purpose.

Every case is plain data (class name + arguments) stored in the file itself, so
the test rebuilds exactly what was recorded.
"""
from __future__ import annotations

import random

import numpy as np

import fastroute
from fastroute.compat import envoy, uhashring
from fastroute.placement import Ketama

from tests import _internals

SCHEMA = 1

# ---------------------------------------------------------------- inputs


def make_inputs() -> dict:
    """Keys of every kind the engines accept, drawn once from a fixed seed."""
    rng = random.Random(19)
    keys: list = ["", "a", "4111111111111111", "txn-000001", "merchant:42", "é€中", b"", b"\x00\xff\x80",
                  0, 1, -1, 2**63 - 1, -(2**63), 2**64 - 1, 255, 128, -128]
    alphabet = "abcxyz0189-_:é€中\x7f"
    for i in range(300):
        kind = i % 3
        if kind == 0:
            keys.append("".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 40))))
        elif kind == 1:  # bytes >= 0x80 catch char signedness in byte-wise hashes
            keys.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))))
        else:
            keys.append(rng.randrange(-(2**63), 2**64))
    text = [k for k in keys if isinstance(k, str) and k]
    ips = ["10.1.2.3", "10.1.2.200", "192.168.0.1", "255.255.255.255", "0.0.0.0", "127.0.0.1",
           "2001:db8::1", "::1", "fe80::abcd:1234"]
    ips += [f"{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}" for _ in range(120)]
    ips += [":".join(f"{rng.randrange(65536):x}" for _ in range(8)) for _ in range(40)]
    hashes = [0, 1, 2**63 - 1, 2**63, 2**64 - 1] + [rng.randrange(2**64) for _ in range(200)]
    return {"keys": [encode_key(k) for k in keys], "text": text, "ips": ips, "hashes": hashes}


def encode_key(key) -> list:
    if isinstance(key, bytes):
        return ["b", key.hex()]
    if isinstance(key, int):
        return ["i", key]
    return ["s", key]


def decode_key(item: list):
    tag, value = item
    return bytes.fromhex(value) if tag == "b" else value


def decoded_inputs(inputs: dict) -> dict:
    return {"keys": [decode_key(k) for k in inputs["keys"]], "text": list(inputs["text"]),
            "ips": list(inputs["ips"]), "hashes": [int(h) for h in inputs["hashes"]]}


# ---------------------------------------------------------------- cases

NODES = [f"node-{i}" for i in range(7)]
ODD_WEIGHTS = [1.0, 2.5, 0.1, 7.3, 1e-3, 3.0, 0.7]  # shares that are not dyadic: rounding shows
INT_WEIGHTS = [1, 2, 3, 5, 8, 1, 4]

_NGINX = "upstream pay {{\n    {method};\n{servers}}}\n"
_HAPROXY = "backend be\n    balance {balance}\n    hash-type {hash_type}\n{servers}"


def _nginx(method: str) -> str:
    servers = "".join(f"    server 127.0.0.1:{18080 + i} weight={w};\n" for i, w in enumerate(INT_WEIGHTS))
    return _NGINX.format(method=method, servers=servers)


def _haproxy(balance: str, hash_type: str, hash_key: str = "") -> str:
    servers = "".join(f"    server s{i} 127.0.0.{i + 1}:{18080 + i} weight {w}{hash_key}\n"
                      for i, w in enumerate(INT_WEIGHTS))
    return _HAPROXY.format(balance=balance, hash_type=hash_type, servers=servers)


def placement(name, cls, *args, keys="keys", **kwargs) -> dict:
    return {"name": name, "build": "placement", "class": cls, "args": list(args), "kwargs": kwargs, "keys": keys}


CASES: list[dict] = []
for algo in fastroute.HASH_NAMES:
    CASES.append(placement(f"ring-fixed-{algo}", "HashRing", NODES, ODD_WEIGHTS, hash=algo))
CASES += [
    placement("ring-fixed-ppw37.5-after", "HashRing", NODES, ODD_WEIGHTS, points_per_weight=37.5, lookup="after"),
    placement("ring-fixed-nearest", "HashRing", NODES, INT_WEIGHTS, lookup="nearest"),
    placement("ring-normalized", "HashRing", NODES, ODD_WEIGHTS, mode="normalized"),
    placement("ring-normalized-small", "HashRing", NODES, ODD_WEIGHTS, mode="normalized", min_ring_size=97,
              max_ring_size=1000, hash="murmur2"),
    placement("ring-normalized-shares", "HashRing", NODES, [w / sum(ODD_WEIGHTS) for w in ODD_WEIGHTS],
              mode="normalized", weights_are_shares=True),
    placement("maglev", "Maglev", NODES, ODD_WEIGHTS),
    placement("maglev-small-xxh64", "Maglev", NODES, INT_WEIGHTS, table_size=251, hash="xxh64"),
    placement("maglev-shares", "Maglev", NODES, [w / sum(ODD_WEIGHTS) for w in ODD_WEIGHTS], table_size=65537,
              weights_are_shares=True),
    placement("jump", "JumpHash", NODES),
    placement("jump-crc32-211", "JumpHash", [f"j{i}" for i in range(211)], hash="crc32"),
    placement("jumpback", "JumpBackHash", NODES),
    placement("jumpback-crc32-211", "JumpBackHash", [f"j{i}" for i in range(211)], hash="crc32"),
    # A removal history (freed buckets 3 and 0, one re-taken by a new node) and
    # the same table rebuilt from its to_bytes() state.
    {"name": "jumpback-anchor-history", "build": "jumpback_anchor", "nodes": NODES, "hash": "xxh3", "keys": "keys",
     "steps": [["without", "node-3"], ["without", "node-0"], ["without", "node-6"], ["with", "node-7"],
               ["without", "node-5"]]},
    {"name": "jumpback-anchor-murmur2-no-history", "build": "jumpback_anchor", "nodes": NODES, "hash": "murmur2",
     "keys": "keys", "steps": []},
    placement("rendezvous", "Rendezvous", NODES, ODD_WEIGHTS),
    placement("rendezvous-murmur2", "Rendezvous", NODES, INT_WEIGHTS, hash="murmur2"),
    placement("iphash", "IPHash", NODES, INT_WEIGHTS, keys="ips"),
    {"name": "envoy-ringhash-localities", "build": "envoy_ring", "keys": "keys",
     "kwargs": {"hosts": NODES, "weights": INT_WEIGHTS, "localities": ["a", "a", "b", "b", "b", "c", "c"],
                "locality_weights": {"a": 1, "b": 3, "c": 7}, "minimum_ring_size": 4096}},
    {"name": "envoy-maglev-localities", "build": "envoy_maglev", "keys": "keys",
     "kwargs": {"hosts": NODES, "weights": INT_WEIGHTS, "localities": ["a", "a", "b", "b", "b", "c", "c"],
                "locality_weights": {"a": 1, "b": 3, "c": 7}}},
    {"name": "nginx-hash", "build": "nginx", "config": _nginx("hash $k"), "keys": "text"},
    {"name": "nginx-hash-consistent", "build": "nginx", "config": _nginx("hash $k consistent"), "keys": "text"},
    {"name": "nginx-ip-hash", "build": "nginx", "config": _nginx("ip_hash"), "keys": "ips"},
    {"name": "haproxy-uri-consistent", "build": "haproxy", "config": _haproxy("uri", "consistent"), "keys": "text"},
    {"name": "haproxy-hdr-consistent-crc32-avalanche", "build": "haproxy",
     "config": _haproxy("hdr(X-K)", "consistent crc32 avalanche"), "keys": "text"},
    {"name": "haproxy-uri-addr-port", "build": "haproxy",
     "config": _haproxy("uri", "consistent", " hash-key addr-port"), "keys": "text"},
    {"name": "haproxy-uri-map-based", "build": "haproxy", "config": _haproxy("uri", "map-based"), "keys": "text"},
    {"name": "haproxy-source-consistent", "build": "haproxy", "config": _haproxy("source", "consistent"),
     "keys": "ips"},
    {"name": "ketama-libketama", "build": "ketama", "flavor": "libketama", "hash_name": "md5",
     "weights": INT_WEIGHTS, "vnodes": [40] * 7, "keys": "text"},
    {"name": "ketama-libketama-odd", "build": "ketama", "flavor": "libketama", "hash_name": "md5",
     "weights": [600.0, 400.0, 333.0, 1.0, 17.0, 250.0, 99.0], "vnodes": [0] * 7, "keys": "text"},
    {"name": "uhashring-md5", "build": "uhashring", "nodes": {n: w for n, w in zip(NODES, INT_WEIGHTS)},
     "kwargs": {}, "keys": "text"},
    {"name": "uhashring-ketama", "build": "uhashring", "nodes": {n: w for n, w in zip(NODES, INT_WEIGHTS)},
     "kwargs": {"hash_fn": "ketama"}, "keys": "text"},
    {"name": "uhashring-ketama-vnodes", "build": "uhashring",
     "nodes": {n: {"weight": w, "vnodes": 10 + 7 * i} for i, (n, w) in enumerate(zip(NODES, INT_WEIGHTS))},
     "kwargs": {"hash_fn": "ketama", "replicas": 3}, "keys": "text"},
]
HASH_SEEDS = {"xxh3": [0, 19, 2**64 - 1], "xxh64": [0, 19, 2**64 - 1], "murmur2": [0, 19, 2**64 - 1], "crc32": [0]}

# Seeded request-time balancers (Cython core): their float steps (alias table,
# EWMA, active-request bias) must not differ across platforms either.
BALANCERS: list[dict] = [
    {"name": "swrr", "class": "SmoothWeightedRoundRobin", "args": [NODES, INT_WEIGHTS], "kwargs": {}},
    {"name": "haproxy-rr", "class": "HAProxyRoundRobin", "args": [NODES, INT_WEIGHTS], "kwargs": {}},
    {"name": "weighted-random", "class": "WeightedRandom", "args": [NODES, ODD_WEIGHTS], "kwargs": {"seed": 19}},
    {"name": "random", "class": "Random", "args": [NODES], "kwargs": {"seed": 2**64 - 1}},
    {"name": "least-request-bias", "class": "LeastRequest", "args": [NODES, ODD_WEIGHTS],
     "kwargs": {"seed": 7, "active_request_bias": 0.7, "choice_count": 3}},
    {"name": "peak-ewma", "class": "PeakEWMA", "args": [NODES], "kwargs": {"seed": 5, "decay_s": 0.3}},
]


# ---------------------------------------------------------------- outputs

def _ints(array) -> list[int]:
    return [int(x) for x in np.asarray(array).ravel()]


def _placement_outputs(table, keys: list, inputs: dict, with_hashed: bool) -> dict:
    out = {"fingerprint": table.fingerprint(), "route": _ints(table.route(keys)),
           "get_node": [table.get_node(k) for k in keys[:40]]}
    few = keys[:64]
    out["replicas3"] = [_ints(table.route_replicas(few, 3))]
    out["replicas2_names"] = [list(table.replicas(k, 2)) for k in few[:16]]
    if with_hashed:
        out["route_hashed"] = _ints(table.route_hashed(np.array(inputs["hashes"], dtype=np.uint64)))
    if isinstance(table, fastroute.HashRing):
        out["points"] = table.points
        out["bounded_1.25"] = _ints(table.assign_bounded(keys, 1.25))
        out["bounded_1.01"] = _ints(table.assign_bounded(keys, 1.01))
    return out


def case_outputs(case: dict, inputs: dict) -> dict:
    """What the current build computes for one case (inputs already decoded)."""
    keys = inputs[case["keys"]]
    kind = case["build"]
    if kind == "placement":
        table = getattr(fastroute, case["class"])(*case["args"], **case["kwargs"])
        return _placement_outputs(table, keys, inputs, case["class"] != "IPHash")
    if kind == "jumpback_anchor":
        table = _jumpback_anchor(case)
        out = _placement_outputs(table, keys, inputs, True)
        out["state"] = table.to_bytes().hex()
        out["buckets"] = list(table.buckets)
        again = fastroute.JumpBackAnchorHash.from_bytes(table.nodes, table.to_bytes(), hash=case["hash"])
        out["from_bytes_route"] = _ints(again.route(keys))
        return out
    if kind in ("envoy_ring", "envoy_maglev"):
        table = _envoy_table(case)
        out = _placement_outputs(table, keys, inputs, True)
        out["shares"] = [w.hex() for w in table.weights]
        return out
    if kind == "nginx":
        sel = fastroute.load_nginx(case["config"], "pay")
        table = sel._table
        out = {"route": _ints(sel.route(keys)), "get_node": [sel.get_node(k) for k in keys[:40]],
               "fingerprint": table.fingerprint()}
        if isinstance(sel, fastroute.config.nginx.NginxHash) and not sel.consistent:
            out["attempts"] = [list(_internals.nginx_hash_attempts(table, k)) for k in keys[:40]]
        return out
    if kind == "haproxy":
        sel = fastroute.load_haproxy(case["config"], "be")
        return {"route": _ints(sel.route(keys)), "get_node": [sel.get_node(k) for k in keys[:40]],
                "fingerprint": sel._table.fingerprint()}
    if kind == "ketama":
        table = Ketama(list(NODES), [float(w) for w in case["weights"]], hash=case["hash_name"],
                       flavor=case["flavor"], vnodes=list(case["vnodes"]), text_keys=True)
        points, owners = _internals.ring_points(table)
        return {"route": _ints(table.route(keys)),
                "get_node": [table.get_node(k) for k in keys[:40]],
                "fingerprint": table.fingerprint(), "points": _ints(points), "owners": _ints(owners)}
    if kind == "uhashring":
        ring = uhashring.HashRing(case["nodes"], **case["kwargs"])
        return {"get_node": [ring.get_node(k) for k in keys], "points": _ints(ring._points),
                "owners": _ints(ring._owners)}
    raise ValueError(f"case {case['name']}: unknown build {kind!r}")


def _envoy_table(case: dict):
    kw = dict(case["kwargs"])
    build = envoy.RingHash if case["build"] == "envoy_ring" else envoy.Maglev
    return build(kw.pop("hosts"), kw.pop("weights"), **kw)


def _jumpback_anchor(case: dict):
    table = fastroute.JumpBackAnchorHash(case["nodes"], hash=case["hash"])
    for step, name in case["steps"]:
        table = table.without_node(name) if step == "without" else table.with_node(name)
    return table


def case_engine_kind(case: dict) -> str | None:
    """The engine kind (rust/engine/src/placement/mod.rs `KINDS`) a case's table
    is built on; None for the pure-Python uhashring model."""
    kind = case["build"]
    tables = {
        "placement": lambda: getattr(fastroute, case["class"]),
        "jumpback_anchor": lambda: fastroute.JumpBackAnchorHash,
        "ketama": lambda: Ketama,
        "envoy_ring": lambda: _envoy_table(case),
        "envoy_maglev": lambda: _envoy_table(case),
        "nginx": lambda: fastroute.load_nginx(case["config"], "pay")._table,
        "haproxy": lambda: fastroute.load_haproxy(case["config"], "be")._table,
    }
    return _internals.engine_kind(tables[kind]()) if kind in tables else None


class _StepClock:
    """A fake clock advancing a fixed, non-dyadic step per call."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        self.t += 0.0137
        return self.t


def balancer_outputs(case: dict) -> dict:
    kwargs = dict(case["kwargs"])
    cls = getattr(fastroute, case["class"])
    if case["class"] == "PeakEWMA":
        sel = cls(*case["args"], clock=_StepClock(), **kwargs)
        picks = []
        for i in range(400):
            node = sel.acquire()
            picks.append(node)
            sel.release(node, latency_s=0.001 * (1 + (i * 7919) % 97) * (1 + sel.nodes.index(node)))
        return {"picks": picks, "estimates": [float(sel.latency_estimate(n)).hex() for n in sel.nodes]}
    sel = cls(*case["args"], **kwargs)
    if case["class"] == "LeastRequest":
        picks, held = [], []
        for i in range(400):
            node = sel.acquire()
            picks.append(node)
            held.append(node)
            if i % 3 == 2:
                sel.release(held.pop(0))
        return {"picks": picks}
    return {"picks": [sel.pick() for _ in range(400)]}


def hash_outputs(inputs: dict) -> dict:
    keys = inputs["keys"]
    out = {}
    for algo, seeds in HASH_SEEDS.items():
        for seed in seeds:
            out[f"{algo}/{seed}"] = _ints(fastroute.hash_keys(keys, algo, seed))
    out["hash_key"] = [fastroute.hash_key(k) for k in keys[:40]]
    return out


def compute_all(inputs: dict, cases: list[dict], balancers: list[dict]) -> dict:
    plain = decoded_inputs(inputs)
    return {
        "hash_keys": hash_outputs(plain),
        "placements": {c["name"]: case_outputs(c, plain) for c in cases},
        "balancers": {b["name"]: balancer_outputs(b) for b in balancers},
    }

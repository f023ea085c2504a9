# SPDX-License-Identifier: Apache-2.0
"""A drop-in for `uhashring.HashRing` that sends every key to the same node,
with lookups in fastroute's compiled ring (docs/algorithms.md §9.2).

Same constructor forms (a node name, a list, or a dict of name → weight or
name → {"hostname", "instance", "port", "vnodes", "weight", "nodename"}),
`hash_fn="ketama"` (libketama-style continuum: vnodes 40 × replicas 4,
lookup first point > hash) or the default MD5 ring (vnodes 160), `vnodes=`,
`replicas=`, `weight_fn=`; methods `get`, `get_node`, `get_node_*`,
`get_nodes`, `get_instances`, `get_key`, `get_points`, `get_server`,
`iterate_nodes`, `range`, `add_node` / `remove_node` (and item access),
`regenerate`, `distribution`, `conf`. Keys are hashed as `str(key)`, as
uhashring does. Extra: `route(keys)` returns node indices for a batch.

Differences: a custom callable `hash_fn` is not supported; in the default
(MD5) mode ring points are kept as the top 64 bits of uhashring's 128-bit
points, so `get_points()` / `get_server()` report those (routing is the same
unless a key and a point share their top 64 bits, probability ~2^-64).
"""
from __future__ import annotations

from collections import Counter
from hashlib import md5

import numpy as np

from .._validate import check_int
from ..placement import MAX_RING_POINTS, Ketama
from ..redact import quoted

# vnodes beyond the ring's 2**26-point cap can never build; weights are 32-bit.
_MAX_CONF = {"vnodes": "2**26", "weight": "2**31 - 1"}
_MAX_VALUE = {"vnodes": MAX_RING_POINTS, "weight": 2**31 - 1}
_CONF_KEYS = ("hostname", "instance", "nodename", "port", "vnodes", "weight")


def _no_node(key):
    return None


class HashRing:
    """See the module docstring; behaves as uhashring.HashRing."""

    def __init__(self, nodes=[], **kwargs):  # noqa: B006 - uhashring's signature
        if kwargs.get("secret") is not None:
            raise ValueError("secret: the uhashring drop-in reproduces uhashring's public MD5 ring bit for bit and "
                             "cannot be keyed; for keyed placement use fastroute.HashRing with secret=")
        unknown = sorted(set(kwargs) - {"hash_fn", "vnodes", "weight_fn", "replicas"})
        if unknown:
            raise TypeError(f"HashRing: unknown option(s) {unknown}")
        hash_fn = kwargs.get("hash_fn")
        if hash_fn not in (None, "ketama"):
            raise TypeError("hash_fn: only None (MD5 ring) and 'ketama' are supported by the fastroute drop-in")
        self._ketama = hash_fn == "ketama"
        vnodes = kwargs.get("vnodes")
        self._default_vnodes = (40 if self._ketama else 160) if vnodes is None else vnodes
        self._replicas = kwargs.get("replicas", 4)
        if not self._ketama and "replicas" in kwargs:
            raise TypeError("replicas: only used with hash_fn='ketama'")
        self._replicas = check_int(self._replicas, "replicas", 1, 4, wrong_type=ValueError)
        weight_fn = kwargs.get("weight_fn")
        if weight_fn is not None and not callable(weight_fn):
            raise TypeError("weight_fn should be a callable function")
        self._weight_fn = weight_fn
        self._nodes: dict = {}
        self._table = None
        self._configure_nodes(nodes)
        self._rebuild()

    # ------------------------------------------------------------ configuration
    def _configure_nodes(self, nodes) -> bool:
        if isinstance(nodes, str):
            nodes = [nodes]
        elif not isinstance(nodes, (dict, list)):
            raise ValueError(f"nodes configuration should be a list or a dict, got {type(nodes)}")
        changed = False
        for node in nodes:
            if not isinstance(node, str) or not node:
                raise TypeError(f"nodes: node names must be non-empty str, got {quoted(node)}")
            conf = {"hostname": node, "instance": None, "nodename": node, "port": None,
                    "vnodes": self._default_vnodes, "weight": 1}
            current = self._nodes.get(node, {})
            if not current:
                changed = True
            if isinstance(nodes, dict):
                node_conf = nodes[node]
                if isinstance(node_conf, int) and not isinstance(node_conf, bool):
                    conf["weight"] = node_conf
                elif isinstance(node_conf, dict):
                    for k, v in node_conf.items():
                        if k in conf:
                            conf[k] = v
                            if k in ("nodename", "vnodes", "weight") and current.get(k) != v:
                                changed = True
                else:
                    raise ValueError(f"node configuration should be a dict or an int, got {type(node_conf)}")
            if self._weight_fn:
                conf["weight"] = self._weight_fn(**conf)
            for key in ("weight", "vnodes"):
                value = conf[key]
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_VALUE[key]:
                    raise ValueError(f"nodes[{quoted(node)}].{key}: expected an int in [0, {_MAX_CONF[key]}], "
                                     f"got {quoted(value)}")
            if current.get("weight") != conf["weight"]:
                changed = True
            self._nodes[node] = conf
        return changed

    def _rebuild(self) -> None:
        names = list(self._nodes)
        weights = [c["weight"] for c in self._nodes.values()]
        vnodes = [c["vnodes"] for c in self._nodes.values()]
        self._names = names
        if not names or not any(weights) or not self._point_count(weights, vnodes):
            self._table = None
            self.get_node = _no_node
            return
        self._table = Ketama(names, weights, flavor="uhashring_ketama" if self._ketama else "uhashring_meta",
                             hash="ketama" if self._ketama else "md5", vnodes=vnodes, replicas=self._replicas,
                             text_keys=True)
        # The compiled lookup itself, with no Python frame in between (keys hash as str(key)).
        self.get_node = self._table.get_node
        points, owners = self._table.ring_points()
        self._points = points
        self._owners = owners

    def _point_count(self, weights, vnodes) -> int:
        if self._ketama:
            total = sum(int(w) for w in weights)
            return sum(v * len(weights) * int(w) // total for w, v in zip(weights, vnodes)) if total else 0
        return sum(v * int(w) for w, v in zip(weights, vnodes))

    def __setitem__(self, nodename, conf={"weight": 1}):  # noqa: B006 - uhashring's signature
        if self._configure_nodes({nodename: conf}):
            self._rebuild()

    add_node = __setitem__

    def __delitem__(self, nodename):
        if nodename not in self._nodes:
            raise KeyError(f"node '{nodename}' not found, available nodes: {self._nodes.keys()}")
        self._nodes.pop(nodename)
        self._rebuild()

    remove_node = __delitem__

    def regenerate(self):
        self._configure_nodes(dict(self._nodes))
        self._rebuild()

    # ------------------------------------------------------------------ lookups
    @staticmethod
    def _key(key) -> str:
        return key if isinstance(key, str) else str(key)

    def get_node(self, key):  # replaced per instance by the compiled lookup in _rebuild
        if self._table is None:
            return None
        return self._table.get_node(key)

    def _conf(self, key):
        name = self.get_node(key)
        return None if name is None else self._nodes[name]

    def get(self, key):
        return self._conf(key)

    def __getitem__(self, key):
        conf = self._conf(key)
        return None if conf is None else conf["instance"]

    get_node_instance = __getitem__

    def get_node_hostname(self, key):
        conf = self._conf(key)
        return None if conf is None else conf["hostname"]

    def get_node_port(self, key):
        conf = self._conf(key)
        return None if conf is None else conf["port"]

    def get_node_weight(self, key):
        conf = self._conf(key)
        return None if conf is None else conf["weight"]

    def get_node_pos(self, key):
        if self._table is None:
            return None
        return self._table.position(key)

    def get_server(self, key):
        if self._table is None:
            return None
        pos = self._table.position(key)
        return (int(self._points[pos]), self._names[self._owners[pos]])

    def get_key(self, key):
        digest = md5(self._key(key).encode("utf-8")).digest()
        if self._ketama:
            return int.from_bytes(digest[:4], "little")
        return int.from_bytes(digest, "big")

    def get_nodes(self):
        return self._nodes.keys()

    def get_instances(self):
        return [c.get("instance") for c in self._nodes.values() if c.get("instance")]

    def get_points(self):
        if self._table is None:
            return []
        return [(int(p), self._names[o]) for p, o in zip(self._points.tolist(), self._owners.tolist())]

    def route(self, keys) -> np.ndarray:
        """Indices into `list(get_nodes())` for a batch of keys (hashed as str(key))."""
        if self._table is None:
            raise ValueError("route: the ring is empty")
        if isinstance(keys, np.ndarray) and keys.dtype.kind == "U":
            return self._table.route(keys)
        return self._table.route([k if type(k) is str else str(k) for k in keys])

    def range(self, key, size=None, unique=True):
        if self._table is None:
            return
        seen = set() if unique else []
        if unique:
            size = size or len(self._nodes)
        pos = self._table.position(key)
        owners = self._owners.tolist()
        for i in list(range(pos, len(owners))) + list(range(0, pos)):
            name = self._names[owners[i]]
            if unique:
                if name in seen:
                    continue
                seen.add(name)
            else:
                seen.append(name)
            yield self._nodes[name]
            if len(seen) == size:
                break

    def iterate_nodes(self, key, distinct=True):
        if self._table is None:
            yield None
            return
        for conf in self.range(key, unique=distinct):
            yield conf["nodename"]

    def print_continuum(self):
        points = self.get_points()
        print(f"Numpoints in continuum: {len(points)}" if points else "Continuum empty")
        for point, node in points:
            print(f"{node} ({point})")

    # --------------------------------------------------------------- properties
    @property
    def conf(self):
        return self._nodes

    nodes = conf

    @property
    def distribution(self) -> Counter:
        """Points generated per node (uhashring counts collided points too)."""
        counts = Counter()
        total = sum(c["weight"] for c in self._nodes.values())
        for name, c in self._nodes.items():
            if self._ketama:
                ks = c["vnodes"] * len(self._nodes) * c["weight"] // total if total else 0
                n = ks * self._replicas
            else:
                n = c["vnodes"] * c["weight"]
            if n:
                counts[name] = n
        return counts

    @property
    def ring(self) -> dict:
        return dict(self.get_points())

    continuum = ring

    @property
    def size(self) -> int:
        return 0 if self._table is None else len(self._points)

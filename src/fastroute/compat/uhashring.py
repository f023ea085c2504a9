# SPDX-License-Identifier: Apache-2.0
"""A drop-in for `uhashring.HashRing` (uhashring 2.x) that sends every key to
the same node, with lookups in fastroute's compiled ring (docs/algorithms.md §9.2).

Same constructor: nodes as one name, a list, or a dict of name → weight or
name → {"hostname", "instance", "port", "vnodes", "weight", "nodename"}
(any hashable name uhashring accepts; points are named f"{name}-{k}");
`hash_fn=None` (MD5 ring, vnodes 160), `hash_fn="ketama"` (libketama-style
continuum: vnodes 40 × `replicas` 4, lookup first point > hash) or any callable
(hashes the raw key and the point names: a pure-Python ring, as fast as
uhashring's own); `vnodes=`, `weight_fn=`, `replicas=`. Options uhashring
ignores (`replicas` without ketama, unknown keywords) are ignored too, with a
warning naming them. Every public method and property: `get`, `get_node`,
`get_node_hostname / _instance / _port / _pos / _weight`, `get_nodes`,
`get_instances`, `get_key`, `hashi`, `get_points`, `get_server`,
`iterate_nodes`, `range`, `print_continuum`, `add_node` / `remove_node` (and
item access), `regenerate`, `conf` / `nodes`, `distribution`, `ring` /
`continuum`, `size`. Keys hash as `str(key)`, as uhashring does (a callable
`hash_fn` gets the key itself). Extra: `route(keys)` returns node indices for
a batch; `as_placement()` for fastroute.BoundedLoad.

MD5 ring points are kept as their top 64 bits for routing (a key and a point
would have to share 64 bits to differ, probability ~2^-64); `get_points()`,
`get_server()` and `ring` report uhashring's full 128-bit points.
"""
from __future__ import annotations

import warnings
from bisect import bisect
from collections import Counter
from hashlib import md5

import numpy as np

from .._validate import check_int
from ..placement import MAX_RING_POINTS, Ketama
from ..redact import quoted

# vnodes beyond the ring's 2**26-point cap can never build; weights are 32-bit.
_MAX_CONF = {"vnodes": "2**26", "weight": "2**31 - 1"}
_MAX_VALUE = {"vnodes": MAX_RING_POINTS, "weight": 2**31 - 1}
_OPTIONS = {"hash_fn", "vnodes", "weight_fn", "replicas", "secret"}


def _no_node(key):
    return None


def _md5_int(key) -> int:
    """uhashring's default key hash: MD5 of str(key) as a 128-bit big-endian integer."""
    return int.from_bytes(md5(str(key).encode("utf-8")).digest(), "big")


def _ketama_hashi(key, replica=0) -> int:
    """uhashring KetamaRing.hashi: 4 bytes of MD5(str(key)) little-endian, at replica*4."""
    d = md5(str(key).encode("utf-8")).digest()
    return int.from_bytes(d[replica * 4:replica * 4 + 4], "little")


class _PythonRing:
    """uhashring's own ring structure (point dict, sorted points), used for a
    callable `hash_fn` or names the compiled ring cannot take; follows
    uhashring's update rules so collisions resolve the same way."""

    def __init__(self, ketama: bool, hashi, replicas: int):
        self.ketama, self.hashi, self.replicas = ketama, hashi, replicas
        self.ring: dict = {}
        self.keys: list = []
        self.node_points: dict = {}
        self.distribution = Counter()

    def create(self, nodes: dict, changed) -> None:
        if self.ketama:  # KetamaRing rebuilds everything in node order
            total = sum(c["weight"] for c in nodes.values())
            ring, dist, points = {}, Counter(), []
            for name, conf in nodes.items():
                ks = conf["vnodes"] * len(nodes) * conf["weight"] // total if total else 0
                for w in range(ks):
                    for i in range(self.replicas):
                        h = _ketama_hashi(f"{name}-{w}", i)
                        ring[h] = name
                        points.append(h)
                        dist[name] += 1
            # KetamaRing insorts every point, so colliding points stay in its key list twice.
            self.ring, self.distribution, self.keys = ring, dist, sorted(points)
            return
        else:  # MetaRing: the changed nodes' points are dropped, then written last
            for name in changed:
                for point in self.node_points.pop(name, ()):
                    if self.ring.get(point) == name:
                        del self.ring[point]
                self.distribution.pop(name, None)
                conf, points = nodes[name], []
                for w in range(conf["vnodes"] * conf["weight"]):
                    self.distribution[name] += 1
                    point = self.hashi(f"{name}-{w}")
                    self.ring[point] = name
                    points.append(point)
                self.node_points[name] = points
        self.keys = sorted(self.ring)

    def remove(self, name, nodes: dict) -> None:
        if self.ketama:
            self.create(nodes, ())
            return
        for point in self.node_points.pop(name, ()):
            if self.ring.get(point) == name:
                del self.ring[point]
        self.distribution.pop(name, None)
        self.keys = sorted(self.ring)

    def position(self, key) -> int:
        p = bisect(self.keys, self.hashi(key))
        return 0 if p == len(self.keys) else p


class HashRing:
    """See the module docstring; behaves as uhashring.HashRing."""

    def __init__(self, nodes=[], **kwargs):  # noqa: B006 - uhashring's signature
        if kwargs.get("secret") is not None:
            raise ValueError("secret: the uhashring drop-in reproduces uhashring's public MD5 ring bit for bit and "
                             "cannot be keyed; for keyed placement use fastroute.HashRing with secret=")
        hash_fn = kwargs.get("hash_fn")
        self._ketama = hash_fn == "ketama"
        ignored = sorted(set(kwargs) - _OPTIONS)
        if not self._ketama and "replicas" in kwargs:
            ignored.append("replicas")
        if ignored:
            warnings.warn(f"HashRing: option(s) {ignored} ignored, as uhashring ignores them "
                          "(replicas only applies with hash_fn='ketama')", stacklevel=2)
        if not self._ketama and hash_fn is not None and not callable(hash_fn):
            raise TypeError("hash_fn should be a callable function")
        self._hash_fn = None if self._ketama else hash_fn
        vnodes = kwargs.get("vnodes")
        self._default_vnodes = (40 if self._ketama else 160) if vnodes is None else vnodes
        self._replicas = check_int(kwargs.get("replicas", 4) if self._ketama else 4, "replicas", 1, 4,
                                   wrong_type=ValueError)
        weight_fn = kwargs.get("weight_fn")
        if weight_fn and not callable(weight_fn):
            raise TypeError("weight_fn should be a callable function")
        self._weight_fn = weight_fn
        self._nodes: dict = {}
        self._python = None
        if self._hash_fn is not None:
            self._python = _PythonRing(False, self._hash_fn, self._replicas)
        self._table = None
        self._full_points = None
        self.get_node = _no_node
        changed = self._configure_nodes(nodes)
        self._rebuild(changed)

    # ------------------------------------------------------------ configuration
    def _configure_nodes(self, nodes) -> list:
        """uhashring's parsing; returns the names whose ring points must be (re)built."""
        if isinstance(nodes, str):
            nodes = [nodes]
        elif not isinstance(nodes, (dict, list)):
            raise ValueError(f"nodes configuration should be a list or a dict, got {type(nodes)}")
        changed = []
        for node in nodes:
            try:
                hash(node)
            except TypeError:
                raise TypeError(f"nodes: node names must be hashable, got {type(node).__name__}") from None
            conf = {"hostname": node, "instance": None, "nodename": node, "port": None,
                    "vnodes": self._default_vnodes, "weight": 1}
            current = self._nodes.get(node, {})
            node_changed = not current
            if isinstance(nodes, dict):
                node_conf = nodes[node]
                if isinstance(node_conf, int):
                    conf["weight"] = node_conf
                elif isinstance(node_conf, dict):
                    for k, v in node_conf.items():
                        if k in conf:
                            conf[k] = v
                            if k in ("nodename", "vnodes", "weight") and current.get(k) != v:
                                node_changed = True
                else:
                    raise ValueError(f"node configuration should be a dict or an int, got {type(node_conf)}")
            if self._weight_fn:
                conf["weight"] = self._weight_fn(**conf)
            for key in ("weight", "vnodes"):
                value = conf[key]
                if isinstance(value, bool):
                    value = conf[key] = int(value)  # uhashring does arithmetic on it: True is 1
                if not isinstance(value, int) or not 0 <= value <= _MAX_VALUE[key]:
                    raise ValueError(f"nodes[{quoted(node)}].{key}: expected an int in [0, {_MAX_CONF[key]}], "
                                     f"got {quoted(value)}")
            if current.get("weight") != conf["weight"]:
                node_changed = True
            self._nodes[node] = conf
            if node_changed:
                changed.append(node)
        return changed

    def _rebuild(self, changed) -> None:
        if not changed and self._python is None and self._table is not None:
            return
        self._full_points = None
        if self._python is None and not self._compilable():
            # Names whose point text collides or is empty: uhashring's own structure.
            self._python = _PythonRing(self._ketama, _ketama_hashi if self._ketama else _md5_int, self._replicas)
            changed = list(self._nodes)
        if self._python is not None:
            self._python.create(self._nodes, changed)
            self._table = None
            self.get_node = self._python_get_node
            return
        names = list(self._nodes)
        weights = [c["weight"] for c in self._nodes.values()]
        vnodes = [c["vnodes"] for c in self._nodes.values()]
        if not names or not any(weights) or not self._point_count(weights, vnodes):
            self._table = None
            self.get_node = _no_node
            return
        texts = [n if type(n) is str else f"{n}" for n in names]
        table = Ketama(texts, weights, flavor="uhashring_ketama" if self._ketama else "uhashring_meta",
                       hash="ketama" if self._ketama else "md5", vnodes=vnodes, replicas=self._replicas,
                       text_keys=True)
        points, owners = table.ring_points()
        self._names = names
        self._points, self._owners = points, owners
        self._table = table
        if all(type(n) is str for n in names):
            self.get_node = table.get_node  # the compiled lookup, no Python frame in between
        else:
            index, frozen = table.get_index, tuple(names)
            self.get_node = lambda key: frozen[index(key)]

    def _compilable(self) -> bool:
        texts = [n if type(n) is str else f"{n}" for n in self._nodes]
        return all(texts) and len(set(texts)) == len(texts)

    def _point_count(self, weights, vnodes) -> int:
        if self._ketama:
            total = sum(int(w) for w in weights)
            return sum(v * len(weights) * int(w) // total for w, v in zip(weights, vnodes)) if total else 0
        return sum(v * int(w) for w, v in zip(weights, vnodes))

    def __setitem__(self, nodename, conf={"weight": 1}):  # noqa: B006 - uhashring's signature
        changed = self._configure_nodes({nodename: conf})
        if changed:
            self._rebuild(changed)

    add_node = __setitem__

    def __delitem__(self, nodename):
        if nodename not in self._nodes:
            raise KeyError(f"node {quoted(nodename)} not found, available nodes: {len(self._nodes)}")
        self._nodes.pop(nodename)
        if self._python is not None:
            self._python.remove(nodename, self._nodes)
            return
        self._table = None
        self._rebuild(list(self._nodes))

    remove_node = __delitem__

    def regenerate(self):
        self._configure_nodes(dict(self._nodes))
        if self._python is not None and not self._ketama:
            self._python.create(self._nodes, list(self._nodes))
            return
        self._table = None
        self._rebuild(list(self._nodes))

    # ------------------------------------------------------------------ lookups
    def hashi(self, key):
        """uhashring's key hash (runtime.hashi)."""
        if self._ketama:
            return _ketama_hashi(key)
        return self._hash_fn(key) if self._hash_fn is not None else _md5_int(key)

    get_key = hashi

    def get_node(self, key):  # replaced per instance in _rebuild
        return None

    def _python_get_node(self, key):
        ring = self._python
        if not ring.ring:
            return None
        return ring.ring[ring.keys[ring.position(key)]]

    def _pos(self, key):
        if self._python is not None:
            return self._python.position(key) if self._python.ring else None
        return None if self._table is None else self._table.position(key)

    def _point_owners(self) -> list:
        """Owner name of every point, in ring order."""
        if self._python is not None:
            return [self._python.ring[k] for k in self._python.keys]
        if self._table is None:
            return []
        names = self._names
        return [names[o] for o in self._owners.tolist()]

    def _conf(self, key):
        name = self.get_node(key)
        if name is None and self._pos(key) is None:
            return None  # empty ring
        return self._nodes[name]

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
        return self._pos(key)

    def get_server(self, key):
        pos = self._pos(key)
        if pos is None:
            return None
        if self._python is not None:
            point = self._python.keys[pos]
            return (point, self._python.ring[point])
        return (self._public_point(pos), self._names[self._owners[pos]])

    def _public_point(self, pos: int) -> int:
        point = int(self._points[pos])
        if self._ketama:
            return point
        return self._full_point_map().get(point, point)

    def _full_point_map(self) -> dict:
        """top 64 bits -> uhashring's 128-bit MD5 point (built on first use)."""
        if self._full_points is None:
            full = {}
            for name, conf in self._nodes.items():
                for w in range(conf["vnodes"] * conf["weight"]):
                    p = _md5_int(f"{name}-{w}")
                    full[p >> 64] = p
            self._full_points = full
        return self._full_points

    def get_nodes(self):
        return self._nodes.keys()

    def get_instances(self):
        return [c.get("instance") for c in self._nodes.values() if c.get("instance")]

    def get_points(self):
        if self._python is not None:
            return [(k, self._python.ring[k]) for k in self._python.keys]
        if self._table is None:
            return []
        owners = self._point_owners()
        return [(self._public_point(i), owners[i]) for i in range(len(owners))]

    def route(self, keys) -> np.ndarray:
        """Indices into `list(get_nodes())` for a batch of keys (hashed as str(key))."""
        if self._python is not None:
            at = {name: i for i, name in enumerate(self._nodes)}
            if not self._python.ring:
                raise ValueError("route: the ring is empty")
            return np.array([at[self._python_get_node(k)] for k in keys], dtype=np.int32)
        if self._table is None:
            raise ValueError("route: the ring is empty")
        if isinstance(keys, np.ndarray) and keys.dtype.kind == "U":
            return self._table.route(keys)
        return self._table.route([k if type(k) is str else str(k) for k in keys])

    def as_placement(self):
        """The current compiled placement (fastroute.BoundedLoad walks its replica order);
        rings with a callable hash_fn have none."""
        if self._table is None or not all(type(n) is str for n in self._names):
            raise TypeError("placement: this uhashring ring has no compiled placement (callable hash_fn, "
                            "non-str node names or empty); BoundedLoad needs one")
        return self._table

    def range(self, key, size=None, unique=True):
        pos = self._pos(key)
        if pos is None:
            return
        seen = set() if unique else []
        if unique:
            size = size or len(self._nodes)
        owners = self._point_owners()
        for i in list(range(pos, len(owners))) + list(range(0, pos)):
            name = owners[i]
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
        if self._pos(key) is None:
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
        if self._python is not None:
            return self._python.distribution
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
        if self._python is not None:
            return self._python.ring
        return dict(self.get_points())

    continuum = ring

    @property
    def size(self) -> int:
        if self._python is not None:
            return len(self._python.ring)
        return 0 if self._table is None else len(self._points)

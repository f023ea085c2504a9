# SPDX-License-Identifier: Apache-2.0
"""Reference: HAProxy fwrr (`balance roundrobin`, src/lb_fwrr.c) for a static
server set; eb32 trees modelled as lists sorted by (key, insertion order)."""
import itertools
BE_WEIGHT_SCALE = 16
SRV_EWGHT_MAX = 256 * 16
SRV_UWGHT_RANGE = 256

class Tree:
    def __init__(self): self.items = []  # (key, seq, server)
    def insert(self, key, s, seq): self.items.append((key, seq, s)); self.items.sort(key=lambda t: (t[0], t[1]))
    def first(self): return self.items[0][2] if self.items else None
    def delete(self, s): self.items = [t for t in self.items if t[2] is not s]

class Srv:
    def __init__(self, name, uweight):
        self.name = name; self.eweight = uweight * BE_WEIGHT_SCALE
        self.npos = self.lpos = self.rweight = 0; self.tree = None

class FWRR:
    def __init__(self, servers):
        self.seq = itertools.count()
        self.srvs = [Srv(n, w) for n, w in servers]
        tot = sum(s.eweight for s in self.srvs)
        self.next_weight = tot
        self.curr_pos = self.curr_weight = tot
        self.curr = Tree(); self.t0 = Tree(); self.t1 = Tree()
        self.init = self.t0; self.next = self.t1
        for s in self.srvs:
            self.queue_by_weight(self.init, s)
    def queue_by_weight(self, root, s):
        root.insert(SRV_EWGHT_MAX - s.eweight, s, next(self.seq)); s.tree = root
    def queue_srv(self, s):
        if s.eweight <= 0 or s.npos >= 2 * self.curr_weight or s.npos >= self.curr_weight + self.next_weight:
            s.npos -= self.curr_weight
            self.queue_by_weight(self.next, s)
        else:
            key = SRV_UWGHT_RANGE * s.npos + (SRV_EWGHT_MAX + s.rweight - s.eweight) // BE_WEIGHT_SCALE
            self.curr.insert(key, s, next(self.seq)); s.tree = self.curr
    def get_server_from_group(self):
        s1 = self.curr.first()
        if s1 is not None and s1.eweight and s1.npos <= self.curr_pos:
            return s1
        s2 = self.init.first()
        if s2 is not None and s2.eweight:
            s2.npos = s2.rweight = 0
            return s2
        return s1
    def switch_trees(self):
        self.init, self.next = self.next, self.init
        self.curr_weight = self.next_weight
        self.curr_pos = self.curr_weight
    def update_position(self, s):
        if not s.npos:
            s.npos = self.curr_pos
        s.lpos = s.npos
        s.npos += self.next_weight // s.eweight
        s.rweight += self.next_weight % s.eweight
        if s.rweight >= s.eweight:
            s.rweight -= s.eweight; s.npos += 1
    def pick(self):
        switched = False
        if not self.curr_weight:
            self.curr_pos = self.curr_weight = self.next_weight
        while True:
            srv = self.get_server_from_group()
            if srv is not None: break
            assert not switched
            switched = True
            self.switch_trees()
        self.update_position(srv)
        srv.tree.delete(srv)
        self.curr_pos += 1
        self.queue_srv(srv)
        return srv.name

# SPDX-License-Identifier: Apache-2.0
"""Reference: HAProxy 2.6 `leastconn` (src/lb_fwlc.c), `first` (src/lb_fas.c)
and the chash lookup `random` draws through (src/lb_chash.c
chash_get_server_hash), written from docs/algorithms.md §8.6. Event-driven, as
HAProxy is: every take / drop of a connection re-queues the server at once; the
eb32 tree is a list where an insert goes after every entry with a key <= its own."""
SRV_EWGHT_MAX = 256 * 16


class Server:
    def __init__(self, name, weight, maxconn=0, puid=0, backup=False):
        self.name, self.eweight, self.maxconn, self.puid, self.backup = name, weight * 16, maxconn, puid, backup
        self.served, self.up, self.key = 0, True, None

    def usable(self):
        return self.up and self.eweight > 0

    def full(self):
        return bool(self.maxconn) and self.served >= self.maxconn


class LeastConn:
    def __init__(self, servers):
        self.servers = servers
        self.tree = []  # primaries in tree order
        for s in servers:
            if s.usable() and not s.backup:
                self._queue(s)

    def _key(self, s):
        return (s.served + 1) * SRV_EWGHT_MAX // s.eweight if s.served else 0

    def _queue(self, s):
        s.key = self._key(s)
        at = len(self.tree)
        while at > 0 and self.tree[at - 1].key > s.key:
            at -= 1
        self.tree.insert(at, s)

    def _reposition(self, s):
        if s in self.tree and s.key != self._key(s):
            self.tree.remove(s)
            self._queue(s)

    def set_up(self, s, up):
        s.up = up
        if s in self.tree and not s.usable():
            self.tree.remove(s)
        elif s not in self.tree and s.usable() and not s.backup:
            self._queue(s)

    def pick(self):
        if not self.tree:
            backups = [s for s in self.servers if s.backup and s.usable()]
            return backups[0] if backups else None  # lbprm.fbck
        for s in self.tree:
            if not s.full():
                return s
        return None

    def take(self, s):
        s.served += 1
        self._reposition(s)

    def drop(self, s):
        s.served -= 1
        self._reposition(s)


class First:
    def __init__(self, servers):
        self.servers = servers

    def pick(self):
        act = sorted((s for s in self.servers if s.usable() and not s.backup), key=lambda s: s.puid)
        if not act:
            backups = [s for s in self.servers if s.backup and s.usable()]
            return backups[0] if backups else None
        return next((s for s in act if not s.full()), None)

    def take(self, s):
        s.served += 1

    def drop(self, s):
        s.served -= 1

    def set_up(self, s, up):
        s.up = up


def chash_lookup(points, owners, usable, h):
    """Owner of the point nearest to h among usable owners' points; ties to the one before."""
    live = [(p, o) for p, o in zip(points, owners) if usable[o]]
    if not live:
        return -1
    nxt = next((k for k, (p, _) in enumerate(live) if p >= h), 0)
    prv = nxt - 1 if nxt > 0 else len(live) - 1
    dp = (h - live[prv][0]) % 2**32
    dn = (live[nxt][0] - h) % 2**32
    return live[prv][1] if dp <= dn else live[nxt][1]


def random_draws_distribution(shares, served, eweight, draws):
    """P(pick = i) for get_server_rnd: `draws` independent ring draws with
    P(draw = i) = shares[i]; a later draw x replaces the best c unless
    served[x] * eweight[c] > served[c] * eweight[x]."""
    n = len(shares)
    worse = [[x != c and served[x] * eweight[c] > served[c] * eweight[x] for c in range(n)] for x in range(n)]
    dist = list(shares)
    for _ in range(draws - 1):
        new = [0.0] * n
        for c in range(n):
            for x in range(n):
                target = c if worse[x][c] else x
                new[target] += dist[c] * shares[x]
        dist = new
    return dist

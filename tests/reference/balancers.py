# SPDX-License-Identifier: Apache-2.0
"""Reference: request-time balancers and the shared health model.

Written from the spec (docs/algorithms.md §8, §15, §16; docs/cluster.md §6) and the
eligibility rules documented in fastroute._cext; the compiled balancers must
produce the same pick sequences for the same inputs, seeds and clock.
"""
import math

MASK64 = (1 << 64) - 1
INF = math.inf


# ----------------------------------------------------------------------------- PRNG
class SplitMix64:
    """splitmix64 + Lemire's bounded integers (multiply, reject below 2^64 mod bound)."""

    def __init__(self, seed):
        self.state = seed & MASK64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, bound):
        product = self.next() * bound
        lo = product & MASK64
        if lo < bound:
            threshold = (2**64 - bound) % bound
            while lo < threshold:
                product = self.next() * bound
                lo = product & MASK64
        return product >> 64


# ---------------------------------------------------------------------------- health
class HealthModel:
    """Eligibility + passive/active health, one model for every balancer."""

    def __init__(self, n, backups, policy, panic_threshold):
        self.n = n
        self.backup = list(backups)
        self.n_primary = sum(1 for b in backups if not b)
        self.policy = policy or {"kind": None}
        self.panic_threshold = panic_threshold
        self.admin = ["up"] * n
        self.fails = [0] * n
        self.checked = [0.0] * n
        self.accessed = [0.0] * n
        self.ejected = [False] * n
        self.eject_until = [0.0] * n
        self.ejections = [0] * n
        self.restored_at = [0.0] * n
        self.ok_run = [0] * n
        self.fail_run = [0] * n
        self.in_panic = False
        self.events = []

    def knob(self, name, default):
        return self.policy.get(name, default)

    def eligible(self, now):
        kind = self.policy["kind"]
        healthy = []
        for i in range(self.n):
            ok = True
            if kind == "nginx":
                mf, ft = self.knob("max_fails", 1), self.knob("fail_timeout", 10.0)
                if mf and self.fails[i] >= mf and self.n_primary > 1 and now - self.checked[i] <= ft:
                    ok = False
            elif kind == "envoy" and self.ejected[i]:
                if now >= self.eject_until[i]:
                    self.ejected[i] = False
                    self.restored_at[i] = now
                    self.events.append(("restored", i))
                else:
                    ok = False
            elif kind == "haproxy":
                ok = not self.ejected[i]
            healthy.append(ok and self.admin[i] == "up")
        primary = [i for i in range(self.n) if healthy[i] and not self.backup[i]]
        backup = [i for i in range(self.n) if healthy[i] and self.backup[i]]
        was = self.in_panic
        self.in_panic = False
        if primary and len(primary) >= self.panic_threshold * self.n_primary:
            result = primary
        elif backup and not primary:
            result = backup
        elif self.panic_threshold > 0:
            self.in_panic = True
            result = [i for i in range(self.n) if not self.backup[i] and self.admin[i] == "up"]
        else:
            result = primary
        if self.in_panic != was:
            self.events.append(("panic_entered" if self.in_panic else "panic_left", None))
        return result

    def record(self, i, ok, now, swrr=None):
        kind = self.policy["kind"]
        if kind == "nginx":
            mf = self.knob("max_fails", 1)
            if not ok:
                self.fails[i] += 1
                self.accessed[i] = self.checked[i] = now
                if mf:
                    if swrr is not None:
                        swrr.effective[i] -= swrr.weight[i] // mf
                    if self.fails[i] == mf and self.n_primary > 1:
                        self.events.append(("ejected", i))
                if swrr is not None and swrr.effective[i] < 0:
                    swrr.effective[i] = 0
            elif self.accessed[i] < self.checked[i]:
                if mf and self.fails[i] >= mf:
                    self.events.append(("restored", i))
                self.fails[i] = 0
        elif kind == "envoy":
            if ok:
                self.fails[i] = 0
                return
            self.fails[i] += 1
            if self.fails[i] < self.knob("consecutive_failures", 5) or self.ejected[i] or self.n_primary <= 1:
                return
            count = sum(self.ejected)
            if count > 0 and (count + 1) * 100.0 > self.knob("max_ejection_percent", 10.0) * self.n:
                return
            interval = self.knob("interval", 10.0)
            if self.ejections[i] > 0 and interval > 0:
                self.ejections[i] = max(0, self.ejections[i] - int(math.floor((now - self.restored_at[i]) / interval)))
            self.ejections[i] += 1
            base, cap = self.knob("base_ejection_time", 30.0), self.knob("max_ejection_time", 300.0)
            self.eject_until[i] = now + min(base * self.ejections[i], max(base, cap))
            self.ejected[i] = True
            self.fails[i] = 0
            self.events.append(("ejected", i))
        elif kind == "haproxy":
            if ok:
                self.fails[i] = 0
                return
            self.fails[i] += 1
            if self.fails[i] >= self.knob("error_limit", 10):
                self.fails[i] = 0
                if self.knob("on_error", "fail-check") == "mark-down":
                    self.ok_run[i] = 0
                    self.fail_run[i] = self.knob("fall", 3)
                    if not self.ejected[i] and self.n_primary > 1:
                        self.ejected[i] = True
                        self.events.append(("ejected", i))
                else:
                    self.check(i, False)

    def check(self, i, ok):
        if ok:
            self.ok_run[i] += 1
            self.fail_run[i] = 0
            if self.ejected[i] and self.ok_run[i] >= self.knob("rise", 2):
                self.ejected[i] = False
                self.events.append(("restored", i))
        else:
            self.fail_run[i] += 1
            self.ok_run[i] = 0
            if not self.ejected[i] and self.fail_run[i] >= self.knob("fall", 3) and self.n_primary > 1:
                self.ejected[i] = True
                self.events.append(("ejected", i))

    def after_pick(self, i, now):
        # nginx sets checked = now when a pick comes after fail_timeout; only
        # nodes with fails > 0 ever read it, so updating just those is equivalent.
        if self.policy["kind"] == "nginx" and now - self.checked[i] > self.knob("fail_timeout", 10.0):
            self.checked[i] = now


# ------------------------------------------------------------------------- balancers
class _Base:
    def __init__(self, weights, backups=None, policy=None, panic_threshold=0.0, seed=0):
        self.n = len(weights)
        self.weight = [int(w) if float(w).is_integer() else w for w in weights]
        self.effective = list(self.weight)
        self.current = [0] * self.n
        self.active = [0] * self.n
        self.health = HealthModel(self.n, backups or [False] * self.n, policy, panic_threshold)
        self.rng = SplitMix64(seed)

    def pick(self, now=0.0):
        cands = self.health.eligible(now)
        self.on_eligible(cands)
        if not cands:
            return None
        i = self.choose(cands, now)
        self.health.after_pick(i, now)
        return i

    def on_eligible(self, cands):
        pass

    def acquire(self, now=0.0):
        i = self.pick(now)
        if i is not None:
            self.active[i] += 1
        return i

    def release(self, i, ok=True, now=0.0, latency=None):
        self.active[i] -= 1
        self.report(i, ok, now, latency)

    def report(self, i, ok=True, now=0.0, latency=None):
        self.health.record(i, ok, now, self)
        if latency is not None:
            self.observe(i, latency, now)

    def observe(self, i, latency, now):
        pass


class RoundRobinRef(_Base):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.cursor = 0

    def choose(self, cands, now):
        i = cands[self.cursor % len(cands)]
        self.cursor += 1
        return i


class SmoothWeightedRoundRobinRef(_Base):
    def choose(self, cands, now):
        best, total = None, 0
        for i in cands:  # config order
            self.current[i] += self.effective[i]
            total += self.effective[i]
            if self.effective[i] < self.weight[i]:
                self.effective[i] += 1
            if best is None or self.current[i] > self.current[best]:
                best = i
        self.current[best] -= total
        return best


class RandomRef(_Base):
    def choose(self, cands, now):
        return cands[self.rng.below(len(cands))]


class WeightedRandomRef(_Base):
    """Vose alias (§15): LIFO work-lists filled in index order, p_g = (p_g + p_l) − 1."""

    def on_eligible(self, cands):
        n = self.n
        elig = set(cands)
        fallback = 0
        total = 0.0
        for i in range(n):
            if i in elig and self.weight[i] > 0:
                total += self.weight[i]
                fallback = i
        p = [(self.weight[i] * n / total) if i in elig else 0.0 for i in range(n)]
        self.alias = list(range(n))
        self.threshold = [0] * n
        small = [i for i in range(n) if p[i] < 1.0]
        large = [i for i in range(n) if p[i] >= 1.0]
        while small and large:
            lo = small.pop()
            g = large[-1]
            self.threshold[lo] = self._fraction(p[lo])
            self.alias[lo] = g
            p[g] = (p[g] + p[lo]) - 1.0
            if p[g] < 1.0:
                large.pop()
                small.append(g)
        while large:
            self.threshold[large.pop()] = MASK64
        while small:
            s = small.pop()
            if p[s] > 0.0:
                self.threshold[s] = MASK64
            else:
                self.threshold[s] = 0
                self.alias[s] = fallback

    @staticmethod
    def _fraction(p):
        if p <= 0.0:
            return 0
        if p >= 1.0:
            return MASK64
        return int(p * 18446744073709551616.0)

    def choose(self, cands, now):
        i = self.rng.below(self.n)
        if self.rng.next() < self.threshold[i] or self.threshold[i] == MASK64:
            return i
        return self.alias[i]


class LeastConnectionsRef(_Base):
    """nginx least_conn; ties by SWRR over the tied peers from the first of them."""

    def choose(self, cands, now):
        c, w = self.active, self.weight
        best, many = None, False
        for i in cands:
            if best is None or c[i] * w[best] < c[best] * w[i]:
                best, many = i, False
            elif c[i] * w[best] == c[best] * w[i]:
                many = True
        if not many:
            return best
        total = 0
        for i in [j for j in cands if j >= best]:
            if c[i] * w[best] != c[best] * w[i]:
                continue
            self.current[i] += self.effective[i]
            total += self.effective[i]
            if self.effective[i] < self.weight[i]:
                self.effective[i] += 1
            if self.current[i] > self.current[best]:
                best = i
        self.current[best] -= total
        return best


class LeastRequestRef(_Base):
    """Envoy LEAST_REQUEST (§8.3)."""

    def __init__(self, weights, choice_count=2, bias=1.0, **k):
        super().__init__(weights, **k)
        self.choice_count = choice_count
        self.bias = bias
        self.weighted = any(w != weights[0] for w in weights)
        self.deadline = [1.0 / w if w > 0 else INF for w in weights]
        self.order = list(range(self.n))
        self.next_order = self.n
        self.edf_time = 0.0

    def choose(self, cands, now):
        if not self.weighted:
            best = cands[self.rng.below(len(cands))]
            for _ in range(1, self.choice_count):
                c = cands[self.rng.below(len(cands))]
                if self.active[c] < self.active[best]:
                    best = c
            return best
        for c in cands:  # a node that sat out rejoins at the current time (no burst)
            if self.deadline[c] < self.edf_time:
                w = self.weight[c] / math.pow(self.active[c] + 1, self.bias)
                self.deadline[c] = self.edf_time + (1.0 / w if w > 0 else INF)
                self.order[c] = self.next_order
                self.next_order += 1
        best = min(cands, key=lambda i: (self.deadline[i], self.order[i]))
        t = self.deadline[best]
        self.edf_time = t
        w = self.weight[best] / math.pow(self.active[best] + 1, self.bias)
        self.deadline[best] = t + (1.0 / w if w > 0 else INF)
        self.order[best] = self.next_order
        self.next_order += 1
        return best


class PeakEWMARef(_Base):
    """Finagle PeakEwma (§16.1) with power of two distinct choices."""

    PENALTY = 140737488355327.0

    def __init__(self, weights, decay_s=10.0, **k):
        super().__init__(weights, **k)
        self.decay = decay_s
        self.cost = [0.0] * self.n
        self.stamp = [0.0] * self.n

    def observe(self, i, rtt, now):
        td = max(now - self.stamp[i], 0.0)
        w = math.exp(-td / self.decay)
        self.cost[i] = rtt if rtt > self.cost[i] else self.cost[i] * w + rtt * (1.0 - w)
        self.stamp[i] = now

    def load(self, i, now):
        self.observe(i, 0.0, now)
        if self.cost[i] == 0.0 and self.active[i] != 0:
            return self.PENALTY + self.active[i]
        return self.cost[i] * (self.active[i] + 1)

    def choose(self, cands, now):
        m = len(cands)
        if m == 1:
            return cands[0]
        a = self.rng.below(m)
        b = self.rng.below(m - 1)
        if b >= a:
            b += 1
        a, b = cands[a], cands[b]
        return b if self.load(b, now) < self.load(a, now) else a

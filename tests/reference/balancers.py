# SPDX-License-Identifier: Apache-2.0
"""Reference: request-time balancing as an event-driven simulation.

Written from the upstream specifications and the project's documented rules,
not from the compiled code (cext/ was not read while writing this):
- nginx `ngx_http_upstream_round_robin.c` (smooth weighted round robin,
  effective weight, `max_fails` / `fail_timeout`, backup peers) and
  `ngx_http_upstream_least_conn_module.c`; docs/algorithms.md §8.1.
- Envoy outlier detection (`outlier_detection_impl.cc`: consecutive errors,
  base × backoff capped at max, max_ejection_percent, decay per interval),
  least request (power of d choices; EDF over w / (active + 1)^bias),
  panic threshold; docs/algorithms.md §8.2-§8.3, docs/cluster.md §6.
- HAProxy `src/check.c` (the `health` counter in [0, rise + fall - 1],
  `observe layer7` error-limit with on-error fail-check / mark-down).
- Finagle `PeakEwma.scala` + `P2CPick.scala` (§16.1); Vose's alias method (§15).
- Project rules (docs/cluster.md §6, fastroute.balancers / fastroute.health
  docstrings, issue 11): draining nodes take no new requests, also in panic
  mode; a weighted LeastRequest node that was ineligible rejoins the EDF
  schedule at the scheduler's current time.

Where the upstream leaves a choice open, fastroute's convention is encoded and
marked as such (found by comparing with the engine after this file was written;
each is documented in docs/algorithms.md or docs/cluster.md): round robin
counts picks over the current candidate list from 0 (Envoy's rr_index; Envoy
starts at random); the alias table spans every node with weight 0 for nodes
that cannot serve, sampled with two draws (§15); the EDF schedule starts with
every node and a node whose deadline passed while it sat out is re-added at the
scheduler's time (issue 11). HAProxy starts a new server at health = rise ("up,
but will fall down at first failure", cfgparse); fastroute starts it fully up,
so `fall` failed checks are needed from the start as well (fastroute.health).

Shape: a `Simulation` consumes a timeline of events (`Pick`, `Acquire`,
`Release`, `Report`, `Check`, `Admin`, `Advance`); each node's health is an
explicit state machine; the balancing rule is a strategy choosing among the
candidate set the eligibility rules produce.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

U64 = 1 << 64
START_TIME = 100.0


# ------------------------------------------------------------------ timeline
@dataclass(frozen=True)
class Pick:
    """A pick that does not count as in flight."""


@dataclass(frozen=True)
class Acquire:
    """A pick whose request stays in flight until its Release."""


@dataclass(frozen=True)
class Release:
    node: int
    ok: bool = True
    latency: float | None = None


@dataclass(frozen=True)
class Report:
    node: int
    ok: bool = True
    latency: float | None = None


@dataclass(frozen=True)
class Check:
    """A HAProxy health-check result."""
    node: int
    ok: bool


@dataclass(frozen=True)
class Admin:
    node: int
    state: str  # "up" | "down" | "draining"


@dataclass(frozen=True)
class Advance:
    seconds: float


# ------------------------------------------------------------------ random source
class SplitMix64Stream:
    """Vigna's splitmix64 (state += golden gamma, then the mix), bounded
    integers by Lemire 2019 Alg. 5; checked against the published outputs in
    tests/test_rng_outside.py."""

    def __init__(self, seed: int):
        self.state = seed % U64

    def next_u64(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) % U64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % U64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % U64
        return z ^ (z >> 31)

    def below(self, bound: int) -> int:
        while True:
            m = self.next_u64() * bound
            if m % U64 >= (U64 - bound) % bound:
                return m >> 64


# ------------------------------------------------------------------ health state machines
class NoPolicy:
    """No health policy: every node is always healthy."""

    def healthy(self, now):
        return True

    def outcome(self, ok, now, detector):
        return None

    def check(self, ok):
        return None

    def picked(self, now):
        pass

    def due(self, now, detector):
        return None


class NginxPeerState:
    """ngx_http_upstream_round_robin.c: `fails`, `accessed`, `checked` per peer.
    Skipped while fails >= max_fails and now - checked <= fail_timeout; a pick
    refreshes `checked` once fail_timeout has passed (the single probe); a
    success resets fails only if the peer was picked after its last failure
    (accessed < checked)."""

    def __init__(self, max_fails, fail_timeout, single):
        self.max_fails, self.fail_timeout, self.single = max_fails, fail_timeout, single
        self.fails = 0
        self.accessed = 0.0
        self.checked = 0.0

    def failed(self):
        return self.max_fails > 0 and self.fails >= self.max_fails

    def healthy(self, now):
        return not (self.failed() and now - self.checked <= self.fail_timeout)

    def outcome(self, ok, now, detector):
        if self.single:  # ngx: peers->single skips all failure accounting
            return None
        was_failed = self.failed()
        if ok:
            if self.accessed < self.checked:
                self.fails = 0
            return "restored" if was_failed and not self.failed() else None
        self.fails += 1
        self.accessed = self.checked = now
        return "ejected" if self.failed() and not was_failed else None

    def check(self, ok):
        return None

    def picked(self, now):
        if now - self.checked > self.fail_timeout:
            self.checked = now

    def due(self, now, detector):
        return None


class EnvoyHostState:
    """Envoy consecutive-errors outlier detection for one host."""

    def __init__(self, knobs):
        self.threshold = knobs["consecutive_failures"]
        self.interval = knobs["interval"]
        self.base = knobs["base_ejection_time"]
        self.cap = knobs["max_ejection_time"]
        self.max_percent = knobs["max_ejection_percent"]
        self.consecutive = 0
        self.ejected = False
        self.ejected_at = 0.0
        self.backoff = 0
        self.unejected_at = None

    def healthy(self, now):
        return not self.ejected

    def ejection_time(self):
        return min(self.base * self.backoff, self.cap)

    def outcome(self, ok, now, detector):
        if ok:
            self.consecutive = 0
            return None
        if self.ejected:
            return None
        self.consecutive += 1
        if self.consecutive < self.threshold:
            return None
        self.consecutive = 0  # counter reset once the detector has acted on it
        active = detector.ejected_count()
        # max_ejection_percent bounds the ejected share; one host is always ejectable.
        if active > 0 and 100.0 * (active + 1) / detector.size > self.max_percent:
            return None
        if self.unejected_at is not None and self.interval > 0:
            # the backoff drops by one for each interval spent healthy
            self.backoff = max(0, self.backoff - int((now - self.unejected_at) // self.interval))
        # ejectHost: the backoff grows while base × backoff < max + base
        if self.base * self.backoff < self.cap + self.base:
            self.backoff += 1
        self.ejected, self.ejected_at = True, now
        return "ejected"

    def check(self, ok):
        return None

    def picked(self, now):
        pass

    def due(self, now, detector):
        if self.ejected and now - self.ejected_at >= self.ejection_time():
            self.ejected = False
            self.unejected_at = now
            self.consecutive = 0
            return "restored"
        return None


class HAProxyServerState:
    """src/check.c: `health` in [0, rise + fall - 1], UP while >= rise. A failed
    check decrements it (falling to 0 once below rise), a passed check
    increments it (jumping to the top once it reaches rise). observe layer7:
    error_limit consecutive request errors run on-error, then reset."""

    def __init__(self, knobs):
        self.rise, self.fall = knobs["rise"], knobs["fall"]
        self.error_limit, self.on_error = knobs["error_limit"], knobs["on_error"]
        self.top = self.rise + self.fall - 1
        self.health = self.top
        self.up = True
        self.errors = 0

    def healthy(self, now):
        return self.up

    def _failed_check(self):
        if self.health > 0:
            self.health -= 1
            if self.health < self.rise:
                self.health = 0
        if self.health == 0 and self.up:
            self.up = False
            return "ejected"
        return None

    def check(self, ok):
        if not ok:
            return self._failed_check()
        if self.health < self.top:
            self.health += 1
            if self.health >= self.rise:
                self.health = self.top
        if self.health >= self.rise and not self.up:
            self.up = True
            return "restored"
        return None

    def outcome(self, ok, now, detector):
        if ok:
            self.errors = 0
            return None
        self.errors += 1
        if self.errors < self.error_limit:
            return None
        self.errors = 0
        if self.on_error == "mark-down":
            self.health = self.rise
        return self._failed_check()

    def picked(self, now):
        pass

    def due(self, now, detector):
        return None


class Detector:
    """All nodes' health machines plus the administrative states."""

    def __init__(self, n, backups, policy):
        self.size = n
        kind = (policy or {}).get("kind")
        knobs = {k: v for k, v in (policy or {}).items() if k != "kind"}
        if kind == "nginx":
            knobs = {"max_fails": 1, "fail_timeout": 10.0, **knobs}
            # nginx's peers->single: one server in the group; a backup clears it
            single = len(backups) == 1
            self.nodes = [NginxPeerState(knobs["max_fails"], knobs["fail_timeout"], single) for _ in range(n)]
        elif kind == "envoy":
            knobs = {"consecutive_failures": 5, "interval": 10.0, "base_ejection_time": 30.0,
                     "max_ejection_time": 300.0, "max_ejection_percent": 10.0, **knobs}
            self.nodes = [EnvoyHostState(knobs) for _ in range(n)]
        elif kind == "haproxy":
            knobs = {"rise": 2, "fall": 3, "error_limit": 10, "on_error": "fail-check", **knobs}
            self.nodes = [HAProxyServerState(knobs) for _ in range(n)]
        else:
            self.nodes = [NoPolicy() for _ in range(n)]
        self.kind = kind
        self.knobs = knobs
        self.admin = ["up"] * n
        self.events: list[tuple[str, int | None]] = []

    def ejected_count(self):
        return sum(1 for m in self.nodes if isinstance(m, EnvoyHostState) and m.ejected)

    def emit(self, event, node):
        if event is not None:
            self.events.append((event, node))

    def sweep(self, now):
        for i, m in enumerate(self.nodes):
            self.emit(m.due(now, self), i)

    def healthy(self, i, now):
        return self.admin[i] == "up" and self.nodes[i].healthy(now)


# ------------------------------------------------------------------ balancing strategies
class Strategy:
    weighted_failures = False  # nginx lowers the effective weight (round robin family)

    def __init__(self, weights, rng):
        self.weights = list(weights)
        self.effective = list(weights)
        self.rng = rng

    def choose(self, sim, cands, now):
        raise NotImplementedError

    def on_failure(self, i, detector):
        if self.weighted_failures and detector.kind == "nginx":
            max_fails = detector.knobs["max_fails"]
            if max_fails and not detector.nodes[i].single:
                self.effective[i] = max(0, self.effective[i] - self.weights[i] // max_fails)


class CountingRoundRobin(Strategy):
    """Envoy ROUND_ROBIN with equal weights (§8.2): hosts[rr_index++ mod n] over
    the current candidate list, in node order; fastroute starts rr_index at 0."""

    def __init__(self, weights, rng):
        super().__init__(weights, rng)
        self.rr_index = 0

    def choose(self, sim, cands, now):
        i = cands[self.rr_index % len(cands)]
        self.rr_index += 1
        return i


def smooth_round(cands, current, effective, weights):
    """One round of nginx's smooth weighted round robin over `cands`."""
    best, total = None, 0
    for i in cands:
        current[i] += effective[i]
        total += effective[i]
        if effective[i] < weights[i]:
            effective[i] += 1
        if best is None or current[i] > current[best]:
            best = i
    current[best] -= total
    return best


class SmoothWeighted(Strategy):
    weighted_failures = True

    def __init__(self, weights, rng):
        super().__init__(weights, rng)
        self.current = [0] * len(weights)

    def choose(self, sim, cands, now):
        return smooth_round(cands, self.current, self.effective, self.weights)


class UniformRandom(Strategy):
    def choose(self, sim, cands, now):
        return cands[self.rng.below(len(cands))]


class AliasTable:
    """Vose 1991 with exact rational arithmetic; LIFO work lists filled in index order."""

    def __init__(self, weights):
        k = len(weights)
        total = sum(Fraction(w) for w in weights)
        scaled = [Fraction(w) * k / total for w in weights]
        self.prob = [Fraction(1)] * k
        self.alias = list(range(k))
        small = [i for i in range(k) if scaled[i] < 1]
        large = [i for i in range(k) if scaled[i] >= 1]
        while small and large:
            lo, hi = small.pop(), large.pop()
            self.prob[lo], self.alias[lo] = scaled[lo], hi
            scaled[hi] = (scaled[hi] + scaled[lo]) - 1
            (small if scaled[hi] < 1 else large).append(hi)
        self.threshold = [math.floor(p * U64) for p in self.prob]

    def sample(self, rng):
        # Vose: a uniform column, then an independent uniform u in [0, 1) as a u64
        column = rng.below(len(self.prob))
        return column if rng.next_u64() < self.threshold[column] else self.alias[column]


class WeightedAlias(Strategy):
    def __init__(self, weights, rng):
        super().__init__(weights, rng)
        self.tables = {}

    def choose(self, sim, cands, now):
        # fastroute's table spans every node, a node outside the candidate set
        # weighing 0, so a node keeps its column whatever the health state.
        key = tuple(cands)
        if key not in self.tables:
            wanted = set(cands)
            self.tables[key] = AliasTable([self.weights[i] if i in wanted else 0 for i in range(len(self.weights))])
        return self.tables[key].sample(self.rng)


class NginxLeastConn(Strategy):
    """ngx_http_upstream_get_least_conn_peer: least conns / weight (compared
    by cross-multiplication), ties by smooth weighted round robin."""
    weighted_failures = True

    def __init__(self, weights, rng):
        super().__init__(weights, rng)
        self.current = [0] * len(weights)

    def choose(self, sim, cands, now):
        conns = sim.active
        best = None
        for i in cands:
            if best is None or conns[i] * self.weights[best] < conns[best] * self.weights[i]:
                best = i
        tied = [i for i in cands if conns[i] * self.weights[best] == conns[best] * self.weights[i]]
        if len(tied) == 1:
            # no round: nginx subtracts the total (0 here, nothing was added)
            return best
        return smooth_round(tied, self.current, self.effective, self.weights)


class EnvoyLeastRequest(Strategy):
    """Envoy LEAST_REQUEST. Equal weights: d draws with replacement, keep the
    first, replace only by strictly fewer active requests. Unequal weights:
    EDF (deadline = scheduler time + 1 / weight, ties by insertion order) with
    dynamic weight w / (active + 1)^bias computed when an entry is (re)added,
    from the active count before the request being picked (as Envoy's
    pickAndAdd, which runs before rq_active grows)."""

    def __init__(self, weights, rng, choice_count=2, bias=1.0):
        super().__init__(weights, rng)
        self.choice_count, self.bias = choice_count, bias
        self.weighted = len(set(weights)) > 1
        self.time = 0.0
        self.entries = {}  # node -> (deadline, order)
        self.order = 0

    def dynamic_weight(self, i, active):
        w = float(self.weights[i])
        if self.bias == 1.0:
            return w / (active + 1)
        if self.bias == 0.0:
            return w
        return w / (active + 1) ** self.bias

    def add(self, i, active):
        self.entries[i] = (self.time + 1.0 / self.dynamic_weight(i, active), self.order)
        self.order += 1

    def choose(self, sim, cands, now):
        if not self.weighted:
            best = cands[self.rng.below(len(cands))]
            for _ in range(self.choice_count - 1):
                c = cands[self.rng.below(len(cands))]
                if sim.active[c] < sim.active[best]:
                    best = c
            return best
        if not self.entries:  # the schedule starts with every node, at time 0
            for i in range(len(self.weights)):
                self.add(i, 0)
        for i in cands:
            if self.entries[i][0] < self.time:
                # issue 11: a node that sat out while time moved on rejoins as
                # EdfScheduler::add adds a host (now + 1/weight), not with a
                # backlog of past deadlines; one still ahead keeps its place
                self.add(i, sim.active[i])
        best = min(cands, key=lambda i: self.entries[i])
        self.time = self.entries[best][0]
        self.add(best, sim.active[best])
        return best


PENALTY = float((2**63 - 1) >> 16)


class FinaglePeakEwma(Strategy):
    """PeakEwma.scala: cost jumps to a higher sample, else decays toward it with
    w = exp(-Δt/τ); the load observes 0 first (pure decay); cost 0 with requests
    pending is a penalty. P2C over two distinct random candidates, lower load wins."""

    def __init__(self, weights, rng, decay_s=10.0):
        super().__init__(weights, rng)
        self.tau = decay_s
        self.cost = [0.0] * len(weights)
        self.stamp = [START_TIME] * len(weights)

    def observe(self, i, rtt, now):
        dt = max(now - self.stamp[i], 0.0)
        w = math.exp(-dt / self.tau)
        if rtt > self.cost[i]:
            self.cost[i] = rtt
        else:
            self.cost[i] = self.cost[i] * w + rtt * (1.0 - w)
        self.stamp[i] = now

    def load(self, sim, i, now):
        self.observe(i, 0.0, now)
        pending = sim.active[i]
        if self.cost[i] == 0.0 and pending != 0:
            return PENALTY + pending
        return self.cost[i] * (pending + 1)

    def choose(self, sim, cands, now):
        if len(cands) == 1:
            return cands[0]
        a = self.rng.below(len(cands))
        b = self.rng.below(len(cands) - 1)
        if b >= a:
            b += 1
        x, y = cands[a], cands[b]
        return x if self.load(sim, x, now) <= self.load(sim, y, now) else y


STRATEGIES = {
    "rr": CountingRoundRobin, "swrr": SmoothWeighted, "random": UniformRandom, "wrandom": WeightedAlias,
    "leastconn": NginxLeastConn, "leastreq": EnvoyLeastRequest, "ewma": FinaglePeakEwma,
}


# ------------------------------------------------------------------ the simulation
class Simulation:
    """Feeds events one at a time; `apply` returns the picked node index (None:
    NoHealthyNode) for Pick / Acquire, None otherwise."""

    def __init__(self, kind, weights, *, backups=None, policy=None, panic_threshold=0.0, seed=0,
                 start=START_TIME, **options):
        n = len(weights)
        self.now = start
        self.backup = list(backups) if backups else [False] * n
        if policy is None:
            policy = {"kind": "envoy"}  # every balancer's default: Envoy outlier detection (docs/request_path.md §2)
        elif policy == "none":
            policy = None  # explicitly no passive health
        self.health = Detector(n, self.backup, policy)
        self.panic_threshold = panic_threshold
        self.strategy = STRATEGIES[kind](weights, SplitMix64Stream(seed), **options)
        self.active = [0] * n
        self.in_panic = False

    # eligibility: docs/cluster.md §6
    def candidates(self):
        now, h = self.now, self.health
        primaries = [i for i in range(h.size) if not self.backup[i]]
        healthy = [i for i in primaries if h.healthy(i, now)]
        panic = False
        if healthy and len(healthy) >= self.panic_threshold * len(primaries):
            cands = healthy
        else:
            backups = [i for i in range(h.size) if self.backup[i] and h.healthy(i, now)]
            if not healthy and backups:
                cands = backups
            elif self.panic_threshold > 0:
                # Envoy: panic is the healthy share being below the threshold,
                # even when nothing is left to serve
                panic = True
                cands = [i for i in primaries if h.admin[i] == "up"]  # not down, not draining
            else:
                cands = []
        if panic != self.in_panic:
            self.in_panic = panic
            h.emit("panic_entered" if panic else "panic_left", None)
        return cands

    def _pick(self):
        cands = self.candidates()
        if not cands:
            return None
        i = self.strategy.choose(self, cands, self.now)
        self.health.nodes[i].picked(self.now)
        return i

    def _outcome(self, i, ok, latency):
        h = self.health
        if not ok:
            self.strategy.on_failure(i, h)
        h.emit(h.nodes[i].outcome(ok, self.now, h), i)
        if latency is not None and isinstance(self.strategy, FinaglePeakEwma):
            self.strategy.observe(i, latency, self.now)

    def apply(self, event):
        if isinstance(event, Advance):
            self.now += event.seconds
            return None
        self.health.sweep(self.now)  # ejections end with time, whatever the event
        if isinstance(event, Pick):
            return self._pick()
        if isinstance(event, Acquire):
            i = self._pick()
            if i is not None:
                self.active[i] += 1
            return i
        if isinstance(event, Release):
            self.active[event.node] -= 1
            self._outcome(event.node, event.ok, event.latency)
        elif isinstance(event, Report):
            self._outcome(event.node, event.ok, event.latency)
        elif isinstance(event, Check):
            h = self.health
            h.emit(h.nodes[event.node].check(event.ok), event.node)
        elif isinstance(event, Admin):
            self.health.admin[event.node] = event.state
        return None

    def run(self, timeline):
        return [self.apply(e) for e in timeline]

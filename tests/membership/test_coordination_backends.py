# SPDX-License-Identifier: Apache-2.0
"""One membership / election / lock / fencing suite over both coordinators (issue 17 §2-§3),
against real servers on 127.0.0.1: Debian's ZooKeeper 3.8 and etcd 3.4 (docs/cluster.md §10,
§11). Each backend's server is shared by the module; the fault tests that stop a server
start their own. Session timeout / lease TTL: 2 s for both."""
from __future__ import annotations

import queue
import signal
import statistics
import types
import sys
import threading
import time
from pathlib import Path

import pytest

import fastroute
from fastroute.membership import (EtcdCoordinator, EtcdMembership, FencingChecker, LockLostError, Member,
                                  MembershipError, StaleTokenError, ZooKeeperCoordinator, ZooKeeperMembership,
                                  follow_router)

from .._etcd import EtcdCluster, EtcdServer
from .._event_procs import EventProc
from .._history import FencedStore, History, StoreServer, check_history
from .._netns import Namespace, ZooKeeperOn
from .._internals import membership_change_lock
from .._zk_ensemble import ZooKeeperEnsemble
from .._zookeeper import ZooKeeperServer

pytestmark = pytest.mark.integration

TTL_S = 2.0  # ZooKeeper session timeout (server min 1 s) and etcd lease TTL (server min 1 s)
# After the TTL: ZooKeeper expires sessions on 0.5 s tick buckets, etcd's lessor looks for
# expired leases every 500 ms; the rest is watch delivery on a loaded 2-core machine.
EXPIRY_CHECK_S = 0.5
DELIVERY_MARGIN_S = 1.0
PROCS = Path(__file__).parents[1] / "_coord_procs.py"
ROUTE_KEYS = [f"card-{i}" for i in range(300)]  # as in _coord_procs
BACKENDS = ["zookeeper", "etcd"]


class Backend:
    """A running coordinator server of one kind, and how to talk to it."""

    def __init__(self, kind: str, workdir: Path):
        self.kind = kind
        self.server = ZooKeeperServer(workdir) if kind == "zookeeper" else EtcdServer(workdir)

    @property
    def hosts(self) -> str:
        return self.server.hosts if self.kind == "zookeeper" else self.server.endpoint

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def coordinator(self, cluster: str, ttl: float = TTL_S):
        if self.kind == "zookeeper":
            return ZooKeeperCoordinator(self.hosts, cluster, session_timeout=ttl)
        return EtcdCoordinator(self.hosts, cluster, lease_ttl=ttl)

    def membership(self, coord):
        if self.kind == "zookeeper":
            return ZooKeeperMembership(coord, refresh_interval=0.5)
        return EtcdMembership(coord)

    def delete_lock_key(self, other, lock) -> None:
        """Fault injection: the lock's contender node/key vanishes (as on expiry)."""
        if self.kind == "zookeeper":
            other.client.delete(lock.node_path)
        else:
            other.gateway.delete(lock.key)


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request, tmp_path_factory):
    b = Backend(request.param, tmp_path_factory.mktemp(request.param))
    b.start()
    yield b
    b.stop()


@pytest.fixture(params=BACKENDS)
def own_backend(request, tmp_path):
    """A server of its own, for tests that stop and restart it."""
    b = Backend(request.param, tmp_path / request.param)
    b.start()
    yield b
    b.stop()



class Proc(EventProc):
    """A `_coord_procs.py` process whose JSON event lines a reader thread collects."""

    wait_timeout = 20.0

    def __init__(self, role: str, backend: Backend, cluster: str, *args: str, prefix: tuple[str, ...] = ()):
        super().__init__([*prefix, sys.executable, str(PROCS), role, "--backend", backend.kind, "--hosts",
                          backend.hosts, "--cluster", cluster, "--ttl", str(TTL_S), *args],
                         cwd=Path(__file__).parents[2])


@pytest.fixture
def history(tmp_path):
    """The history file of a fenced store served from this process (tests/_history.py)."""
    path = tmp_path / "history.jsonl"
    with StoreServer(path):
        yield path



def start(procs, *args, **kwargs) -> Proc:
    p = Proc(*args, **kwargs)
    procs.append(p)
    return p


def expected_routes(weights: dict[str, float]) -> list[str]:
    table = fastroute.Rendezvous(list(weights), list(weights.values()))
    return [table.get_node(k) for k in ROUTE_KEYS]


def converged(routers, weights: dict[str, float], since: float, *, same_epoch: bool = True) -> list[dict]:
    """Every router reports exactly `weights` (registration order), fresh, after `since`;
    all agree on fingerprint (and epoch) and the routing of every sample key."""
    want_nodes, want_weights = list(weights), [float(w) for w in weights.values()]
    seen = [r.wait(lambda e: e.get("event") == "snapshot" and e["nodes"] == want_nodes
                   and e["weights"] == want_weights and not e["stale"] and e["t"] >= since) for r in routers]
    assert len({(s["epoch"] if same_epoch else 0, s["fingerprint"]) for s in seen}) == 1, seen
    for s in seen:
        assert s["routes"] == expected_routes(weights)
    return seen


# -- membership ---------------------------------------------------------------------------------------
def test_three_router_processes_converge_on_add_remove_and_weight_change(backend, cluster, procs):
    routers = [start(procs, "router", backend, cluster) for _ in range(3)]
    for r in routers:
        r.wait(lambda e: e["event"] == "ready")
    with backend.coordinator(cluster) as coord:
        t = time.time()
        regs = {name: coord.register(Member(name, 1, f"{name}:1")) for name in ("a", "b", "c")}
        first = converged(routers, {"a": 1, "b": 1, "c": 1}, t)[0]
        t = time.time()
        regs["d"] = coord.register(Member("d", 2))
        added = converged(routers, {"a": 1, "b": 1, "c": 1, "d": 2}, t)[0]
        t = time.time()
        regs.pop("b").close()
        removed = converged(routers, {"a": 1, "c": 1, "d": 2}, t)[0]
        t = time.time()
        regs["c"].update(weight=3)
        converged(routers, {"a": 1, "c": 3, "d": 2}, t)
        t = time.time()
        with coord.change_membership(timeout=10) as change:
            change.set_weight("a", 5)
        last = converged(routers, {"a": 5, "c": 3, "d": 2}, t)
        print(f"{backend.kind}: operator change seen by routers {[round(s['t'] - t, 3) for s in last]} s later")
    assert first["epoch"] < added["epoch"] < removed["epoch"] < last[0]["epoch"]
    before, after = dict(zip(ROUTE_KEYS, added["routes"])), dict(zip(ROUTE_KEYS, removed["routes"]))
    assert all(after[k] == before[k] for k in ROUTE_KEYS if before[k] != "b")  # only b's keys moved


def test_sigkilled_member_vanishes_within_ttl(backend, cluster, procs):
    with backend.coordinator(cluster) as coord, backend.membership(coord) as membership:
        coord.register(Member("steady"))
        victim = start(procs, "member", backend, cluster, "--name", "victim")
        victim.wait(lambda e: e["event"] == "ready")
        membership.wait_for(lambda s: s.nodes == ("steady", "victim"))
        killed_at = victim.kill()
        gone = membership.wait_for(lambda s: s.nodes == ("steady",), timeout=TTL_S + 10)
        delay = time.time() - killed_at
    bound = TTL_S + EXPIRY_CHECK_S + DELIVERY_MARGIN_S
    print(f"{backend.kind}: SIGKILLed member gone after {delay:.3f} s (TTL {TTL_S} s, bound {bound} s)")
    assert delay <= bound and not gone.stale


@pytest.mark.slow
def test_fifty_join_leave_cycles_across_three_processes_end_on_the_truth(backend, cluster, procs):
    routers = [start(procs, "router", backend, cluster) for _ in range(3)]
    churners = [start(procs, "churn", backend, cluster, "--name", f"p{i}", "--cycles", "50") for i in range(3)]
    for p in routers + churners:
        p.wait(lambda e: e["event"] == "ready")
    t = time.time()
    for p in churners:
        p.send("go\n")
    for p in churners:
        p.wait(lambda e: e["event"] == "done", timeout=120)
    written = time.time()
    truth = {f"p{i}-final" for i in range(3)}
    with backend.coordinator(cluster) as coord, backend.membership(coord) as membership:
        final = membership.wait_for(lambda s: set(s.nodes) == truth and not s.stale, timeout=15)
        assert set(final.weights) == {2.0}
    seen = [r.wait(lambda e: e.get("event") == "snapshot" and set(e["nodes"]) == truth and not e["stale"], timeout=15)
            for r in routers]
    time.sleep(0.5)  # nothing later moves a router off the truth
    for r in routers:
        last = [e for e in r.drain() if e.get("event") == "snapshot"][-1]
        assert set(last["nodes"]) == truth and last["fingerprint"] == final.fingerprint()
    assert len({s["fingerprint"] for s in seen}) == 1
    print(f"{backend.kind}: 150 join/leave cycles took {written - t:.2f} s; routers on the truth "
          f"{[round(s['t'] - written, 3) for s in seen]} s after the last write")


# -- locks, elections, fencing ------------------------------------------------------------------------
def test_lock_mutual_exclusion_and_fenced_history_under_contention(backend, cluster, procs, history):
    lockers = [start(procs, "locker", backend, cluster, "--history", str(history), "--rounds", "4",
                     "--every", "0.02") for _ in range(3)]
    for p in lockers:
        p.wait(lambda e: e["event"] == "ready")
    for p in lockers:
        p.send("go\n")
    for p in lockers:
        p.wait(lambda e: e["event"] == "done", timeout=60)
    records = History(history).records()
    acquires = [r for r in records if r["kind"] == "acquire"]
    writes = [r for r in records if r["kind"] == "write"]
    assert len(acquires) == 12 and len(writes) == 24 and all(w["accepted"] for w in writes)
    assert len({a["process"] for a in acquires}) == 3
    assert check_history(records) == []
    # mutual exclusion: terms (acquire .. release) of different tokens never overlap
    terms = sorted((r["t"], next(x["t"] for x in records if x["kind"] == "release" and x["token"] == r["token"]))
                   for r in acquires)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(terms, terms[1:])), terms


def test_operator_change_with_a_lost_lock_is_rejected_and_the_holder_learns_it(backend, cluster):
    with backend.coordinator(cluster) as coord, backend.coordinator(cluster) as other, \
            backend.membership(coord) as membership:
        coord.register(Member("n1", 1))
        membership.wait_for(lambda s: "n1" in s)
        change = coord.change_membership(timeout=5)
        with change:
            change.set_weight("n1", 2)
            token = change.token
            assert token.valid and not token.lost.is_set()
            backend.delete_lock_key(other, membership_change_lock(change))
            assert token.lost.wait(TTL_S + 1)  # told without asking: watch (etcd) / confirmation (zk)
            assert not token.valid
            with pytest.raises(LockLostError):
                token.check()
            with other.lock("membership", timeout=5) as newer:
                assert newer.value > token.value
                with pytest.raises(StaleTokenError):
                    change.set_weight("n1", 7)
                with pytest.raises(StaleTokenError):
                    change.remove("n1")
        snap = membership.wait_for(lambda s: s.member("n1").weight == 2.0)
        assert snap.nodes == ("n1",)
        with pytest.raises(TimeoutError):
            with other.lock("membership", timeout=5):
                with coord.lock("membership", timeout=0.3):
                    pass


def test_an_operator_leave_evicts_the_member_and_it_does_not_come_back(backend, cluster):
    owner = {"zookeeper": "another session", "etcd": "another lease"}[backend.kind]
    with backend.coordinator(cluster) as member_side, backend.coordinator(cluster) as operator, \
            backend.membership(operator) as membership:
        reg = member_side.register(Member("n1"))
        member_side.register(Member("n2"))
        membership.wait_for(lambda s: s.nodes == ("n1", "n2"))
        with operator.change_membership(timeout=5) as change:
            change.remove("n1")
        assert reg.evicted.wait(5)
        membership.wait_for(lambda s: s.nodes == ("n2",), timeout=5)
        time.sleep(0.5)  # and it stays gone: the member side does not re-register
        assert membership.snapshot().nodes == ("n2",)
        with pytest.raises(MembershipError, match=owner):
            operator.register(Member("n2"), wait=0.3)  # a name is owned by one live session / lease
        with pytest.raises(KeyError):
            with operator.change_membership(timeout=5) as change:
                change.remove("n1")


def test_a_member_name_with_a_slash_is_refused_where_it_would_become_a_key(backend, cluster):
    """docs/cluster.md §5.1: `Member` takes 'unix:/run/a.sock' (an nginx upstream server);
    the ZooKeeper znode / etcd key is the name, so registering it must fail, naming the rule."""
    member = Member("unix:/run/a.sock", 1)
    with backend.coordinator(cluster) as coord, backend.membership(coord) as membership:
        for name in (member.name, ".", ".."):
            with pytest.raises(ValueError, match="name: .*'/'"):
                coord.register(Member(name, 1))
        coord.register(Member("n1", 1))
        assert membership.wait_for(lambda s: "n1" in s).nodes == ("n1",)


def test_election_resign_hands_over_with_a_higher_token_and_the_old_one_is_fenced(backend, cluster):
    with backend.coordinator(cluster) as a, backend.coordinator(cluster) as b:
        first_q, second_q, leaders = queue.Queue(), queue.Queue(), queue.Queue()
        watch = b.watch_leader("g", lambda who, token: leaders.put((who, token)))
        first_campaign = a.campaign("g", "alpha", first_q.put)
        first = first_q.get(timeout=10)
        assert first is not None and first.holder == "alpha" and first.valid
        second_campaign = b.campaign("g", "beta", second_q.put)
        deadline = time.monotonic() + 10
        while (seen := leaders.get(timeout=10)) != ("alpha", first.value):
            assert time.monotonic() < deadline, seen
        storage = FencingChecker()
        storage.check("g", first)
        first_campaign.close()
        assert first_q.get(timeout=5) is None and not first.valid
        second = second_q.get(timeout=10)
        assert second is not None and second.holder == "beta" and second.value > first.value
        while (seen := leaders.get(timeout=10)) != ("beta", second.value):
            assert time.monotonic() < deadline, seen
        storage.check("g", second)
        with pytest.raises(StaleTokenError):  # LockLostError in-process, StaleTokenError at the store
            storage.check("g", first)
        with pytest.raises(StaleTokenError):
            storage.check("g", first.value)
        second_campaign.close()
        watch.close()


@pytest.mark.slow
@pytest.mark.parametrize("ignore_liveness", [False, True], ids=["honours-liveness", "ignores-liveness"])
def test_lock_holder_paused_past_its_ttl_learns_at_once_and_the_store_refuses(backend, cluster, procs, history,
                                                                             ignore_liveness):
    """Issue 17 §3: SIGSTOP a holder for longer than its session/lease TTL while another
    process takes the lock; resumed, the first check tells it (token.valid False) before
    it acts again; a write it had in flight (or makes anyway) is refused by the store."""
    a = start(procs, "holder", backend, cluster, "--name", "a", "--history", str(history),
              *(["--ignore-liveness"] if ignore_liveness else []))
    a.wait(lambda e: e["event"] == "ready")
    a.send("go\n")
    a.wait(lambda e: e["event"] == "acquired")
    b = start(procs, "holder", backend, cluster, "--name", "b", "--history", str(history), "--writes", "20")
    b.wait(lambda e: e["event"] == "ready")
    b.send("go\n")
    a.wait(lambda e: e["event"] == "write" and e["accepted"])
    a.proc.send_signal(signal.SIGSTOP)
    stopped_at = time.time()
    try:
        took = b.wait(lambda e: e["event"] == "acquired", timeout=TTL_S + 10)
        b.wait(lambda e: e["event"] == "write" and e["accepted"], timeout=5)
    finally:
        resumed_at = time.time()  # before: a's first turn may run before this process goes on
        a.proc.send_signal(signal.SIGCONT)
    print(f"{backend.kind}: b took over {took['t'] - stopped_at:.3f} s after a was paused (TTL {TTL_S} s)")
    lost = a.wait(lambda e: e["event"] == "lost", timeout=10)
    a.wait(lambda e: e["event"] == "done", timeout=10)
    b.wait(lambda e: e["event"] == "done", timeout=30)
    a_writes = [e for e in a.drain() if e["event"] == "write"]
    after = [w for w in a_writes if w["checked_at"] > resumed_at]
    # the first turn after resuming already knew: no write after resuming was believed valid
    assert lost["checked_at"] > stopped_at and lost["checked_at"] - resumed_at < 1.0, (lost, resumed_at)
    assert all(not w["valid"] for w in after), after
    assert len(after) == (3 if ignore_liveness else 0)
    assert not any(w["accepted"] for w in after)  # the store refuses the stale token
    # In flight across the pause: sent before it, handled by the store after b's first
    # accepted write (the store's own times; a's event time is no guide: a write the
    # store accepted just before the SIGSTOP is logged by a after the SIGCONT).
    records = History(history).records()
    b_wrote = min(r["end"] for r in records if r["kind"] == "write" and r["process"].startswith("b-") and r["accepted"])
    in_flight = [r for r in records
                 if r["kind"] == "write" and r["process"].startswith("a-") and r["start"] < stopped_at and r["end"] > b_wrote]
    assert not any(r["accepted"] for r in in_flight), in_flight
    assert took["token"] > lost["token"]
    assert check_history(records) == []


# -- server outage ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_server_stopped_and_restarted_routers_converge_and_report_the_time(own_backend, procs):
    """Routing goes on with the last snapshot (stale) while the server is down for longer
    than the TTL; after each restart every router converges to the true membership."""
    backend, cluster = own_backend, "outage"
    routers = [start(procs, "router", backend, cluster) for _ in range(3)]
    for i in range(2):  # one after the other: registration order is the table's order
        start(procs, "member", backend, cluster, "--name", f"m{i}", "--weight", str(i + 1)).wait(
            lambda e: e["event"] == "ready")
    for p in routers:
        p.wait(lambda e: e["event"] == "ready")
    truth = {"m0": 1, "m1": 2}
    converged(routers, truth, 0)
    times = []
    for _ in range(3):
        down_at = time.time()  # before: a router may notice the kill before stop() returns
        backend.stop()
        for r in routers:  # the stale mark arrives, the view stays
            stale = r.wait(lambda e: e.get("event") == "snapshot" and e["stale"] and e["t"] >= down_at,
                           timeout=TTL_S + 10)
            assert stale["nodes"] == ["m0", "m1"] and stale["routes"] == expected_routes(truth)
        time.sleep(max(0.0, down_at + TTL_S + 1.0 - time.time()))  # down for longer than the TTL
        restarted_at = time.time()  # the server process is launched (it serves a moment later)
        backend.start()
        # a member whose session/lease was lost re-registers (same content, higher epoch):
        # routers may first see the old epoch again, so agreement on it is checked once settled
        seen = converged(routers, truth, restarted_at, same_epoch=False)
        times.append(max(s["t"] for s in seen) - restarted_at)
        time.sleep(1.0)
        last = [[e for e in r.drain() if e.get("event") == "snapshot"][-1] for r in routers]
        assert len({(e["epoch"], e["fingerprint"], e["stale"]) for e in last}) == 1, last
    print(f"{backend.kind}: routers converged {[round(t, 3) for t in times]} s after the server was restarted "
          f"(median {statistics.median(times):.3f}, max {max(times):.3f})")
    assert all(p.proc.poll() is None for p in procs)


# -- 3-node ensembles lose their leader under load ----------------------------------------------------
def open_coordinator(kind: str, hosts: str, cluster: str):
    if kind == "zookeeper":
        return ZooKeeperCoordinator(hosts, cluster, session_timeout=TTL_S)
    return EtcdCoordinator(hosts, cluster, lease_ttl=TTL_S)


def retry(fn, timeout: float = 20.0):
    """Calls `fn` until it succeeds (a coordinator call during an election may fail)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("kind", BACKENDS)
def test_three_node_ensemble_leader_killed_under_load_members_locks_and_elections_carry_on(kind, tmp_path, history):
    ensemble = ZooKeeperEnsemble(tmp_path / "zk") if kind == "zookeeper" else EtcdCluster(tmp_path / "etcd")
    ensemble.start()
    stop = threading.Event()
    lock_times: list[float] = []
    errors: list[str] = []

    def load(name: str) -> None:
        coord = retry(lambda: open_coordinator(kind, ensemble.hosts, "ha"))
        store = FencedStore(history, process=name)
        try:
            while not stop.is_set():
                try:
                    with coord.lock("shared", timeout=10, identifier=name) as token:
                        store.record("acquire", "lock:shared", token.value)
                        if token.valid:
                            store.write("lock:shared", token.value)
                        store.record("release", "lock:shared", token.value)
                        lock_times.append(time.time())
                except Exception as err:  # an election in progress: retry
                    errors.append(type(err).__name__)
                    time.sleep(0.05)
        finally:
            coord.close()

    try:
        with open_coordinator(kind, ensemble.hosts, "ha") as member_side, \
                open_coordinator(kind, ensemble.hosts, "ha") as router_side:
            membership = ZooKeeperMembership(router_side, refresh_interval=0.5) if kind == "zookeeper" \
                else EtcdMembership(router_side)
            member_side.register(Member("a", 1))
            member_side.register(Member("b", 2))
            membership.wait_for(lambda s: s.nodes == ("a", "b"))
            leadership: queue.Queue = queue.Queue()
            campaign = member_side.campaign("writer", "a", leadership.put)
            assert leadership.get(timeout=10) is not None
            workers = [threading.Thread(target=load, args=(f"w{i}",), daemon=True) for i in range(2)]
            for w in workers:
                w.start()
            failovers = []
            for n in range(2):
                time.sleep(1.0)
                leader = ensemble.leader()
                leader.stop()
                killed_at = time.time()
                deadline = time.monotonic() + 30
                while not [t for t in lock_times if t > killed_at + 0.01]:
                    assert time.monotonic() < deadline, f"no lock acquired after the leader was killed: {errors[-5:]}"
                    time.sleep(0.01)
                failovers.append(min(t for t in lock_times if t > killed_at + 0.01) - killed_at)
                retry(lambda: member_side.register(Member(f"after-{n}")))  # membership writes go on
                membership.wait_for(lambda s: f"after-{n}" in s and not s.stale, timeout=30)
                ensemble.restart(leader)
            stop.set()
            for w in workers:
                w.join(30)
            final = membership.wait_for(lambda s: set(s.nodes) == {"a", "b", "after-0", "after-1"} and not s.stale,
                                        timeout=30)
            assert final.nodes[:2] == ("a", "b")
            deadline = time.monotonic() + 20
            while campaign.token is None or not campaign.token.valid:  # the primary leads (again)
                assert time.monotonic() < deadline, "no primary after the leader kills"
                time.sleep(0.05)
            campaign.close()
            membership.close()
        records = History(history).records()
        assert sum(1 for r in records if r["kind"] == "write" and r["accepted"]) >= 10
        assert check_history(records) == []
        print(f"{kind} 3-node: first lock after leader kill {[round(f, 3) for f in failovers]} s "
              f"(median {statistics.median(failovers):.3f}, max {max(failovers):.3f}); "
              f"{len(lock_times)} locks, {len(errors)} retried")
    finally:
        stop.set()
        ensemble.stop()


# -- a network partition between a member and the coordinator -----------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("kind", BACKENDS)
def test_partitioned_holder_learns_before_the_takeover_and_member_returns_after_heal(kind, tmp_path, procs,
                                                                                    history):
    """Member and lock holder in a network namespace, joined by a veth pair; the link is
    cut for longer than the TTL, then healed (issue 17 §3). Nothing leaves the machine."""
    ns = Namespace(kind[:2])
    try:
        if kind == "zookeeper":
            server = ZooKeeperOn(tmp_path / "zk", ns.host_ip)
            hosts = server.hosts
        else:
            server = EtcdServer(tmp_path / "etcd")
            server.extra_client_ips = [ns.host_ip]
            hosts = f"{ns.host_ip}:{server.client_port}"
        server.start()
        where = types.SimpleNamespace(kind=kind, hosts=hosts)
        cluster = "part"
        try:
            with open_coordinator(kind, hosts, cluster) as router_side:
                membership = ZooKeeperMembership(router_side, refresh_interval=0.5) if kind == "zookeeper" \
                    else EtcdMembership(router_side)
                start(procs, "member", where, cluster, "--name", "inside", prefix=tuple(ns.prefix)).wait(
                    lambda e: e["event"] == "ready")
                a = start(procs, "holder", where, cluster, "--name", "a", "--history", str(history),
                          prefix=tuple(ns.prefix))
                a.wait(lambda e: e["event"] == "ready")
                a.send("go\n")
                a.wait(lambda e: e["event"] == "acquired")
                b = start(procs, "holder", where, cluster, "--name", "b", "--history", str(history), "--writes", "20")
                b.wait(lambda e: e["event"] == "ready")
                b.send("go\n")
                membership.wait_for(lambda s: "inside" in s)
                a.wait(lambda e: e["event"] == "write" and e["accepted"])

                ns.cut()
                cut_at = time.time()
                lost = a.wait(lambda e: e["event"] == "lost", timeout=TTL_S + 5)
                took = b.wait(lambda e: e["event"] == "acquired", timeout=TTL_S + 10)
                membership.wait_for(lambda s: "inside" not in s, timeout=TTL_S + 10)
                gone_at = time.time()
                time.sleep(max(0.0, cut_at + TTL_S + 1.5 - time.time()))  # partitioned longer than the TTL
                ns.heal()
                healed_at = time.time()
                back = membership.wait_for(lambda s: "inside" in s and not s.stale, timeout=30)
                back_at = time.time()
                b.wait(lambda e: e["event"] == "done", timeout=30)
                membership.close()
            valid_writes = [e for e in a.drain() if e["event"] == "write" and e["valid"]]
            assert all(w["checked_at"] < took["t"] for w in valid_writes)  # never acted once b held it
            assert lost["token"] < took["token"] and not any(m.name == "a" for m in back.members)
            assert check_history(History(history).records()) == []
            print(f"{kind} partition: holder learnt {lost['checked_at'] - cut_at:.3f} s after the cut, "
                  f"{took['t'] - lost['checked_at']:.3f} s before the takeover; member gone after "
                  f"{gone_at - cut_at:.3f} s, back {back_at - healed_at:.3f} s after the heal")
        finally:
            for p in procs:
                p.stop()
            server.stop()
    finally:
        ns.close()


# -- shard primaries ------------------------------------------------------------------------------------
def test_shard_primary_hands_over_when_its_process_ends_and_the_old_token_is_refused(backend, cluster):
    from fastroute.membership.shards import ShardLayout, ShardReplica, ShardRouter

    layout = ShardLayout.of(4, replication=2)
    coords = {name: backend.coordinator(cluster) for name in ("m1", "m2", "m3")}
    memberships, replicas = {}, {}
    try:
        for name, coord in coords.items():
            coord.register(Member(name, 1, f"{name}.test:1"))
        for name, coord in coords.items():
            memberships[name] = backend.membership(coord)
            replicas[name] = ShardReplica(memberships[name], coord, name, layout)
        with backend.coordinator(cluster) as router_coord, backend.membership(router_coord) as membership:
            membership.wait_for(lambda s: len(s) == 3)
            shards = ShardRouter(membership, router_coord, layout)
            key = "acct-42"
            shard = shards.shard_of(key)
            shards.wait_primary(shard, timeout=20)
            first = shards.route_write(key)
            held = replicas[first.node].token(shard)
            assert held is not None and held.value == first.token.value and held.valid
            storage = FencingChecker()
            storage.check(shard, first.token)
            replicas.pop(first.node).close()
            memberships.pop(first.node).close()
            coords.pop(first.node).close()  # the process ends: session/lease gone at once
            assert not held.valid
            second_token = shards.wait_primary(shard, lambda t: t.holder != first.node, timeout=20)
            membership.wait_for(lambda s: first.node not in s)
            second = shards.route_write(key)
            assert second.node != first.node and second.token == second_token
            assert second.token.value > first.token.value
            storage.check(shard, second.token)
            with pytest.raises(StaleTokenError):
                storage.check(shard, first.token)
            with pytest.raises(StaleTokenError):
                shards.check_write(shard, first.token)
            shards.close()
    finally:
        for r in replicas.values():
            r.close()
        for m in memberships.values():
            m.close()
        for c in coords.values():
            c.close()

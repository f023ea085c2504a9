# SPDX-License-Identifier: Apache-2.0
"""Processes for the backend-parametrized coordination tests (ZooKeeper and etcd):
`python tests/_coord_procs.py ROLE --backend zookeeper|etcd --hosts H:P --cluster C ...`.

Each prints one JSON object per line on stdout (events with wall-clock `t`) and runs
until its stdin closes or it is killed. Fenced writes and terms go to the test's fenced
store (tests/_history.py StoreServer, found through `--history`)."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import fastroute  # noqa: E402
from fastroute.membership import Member, follow_router  # noqa: E402

from _event_procs import emit  # noqa: E402
from _history import FencedStore  # noqa: E402

ROUTE_KEYS = [f"card-{i}" for i in range(300)]


def open_coordinator(backend: str, hosts: str, cluster: str, ttl: float):
    """The coordinator of `backend` with a session timeout / lease TTL of `ttl` s."""
    if backend == "zookeeper":
        from fastroute.membership import ZooKeeperCoordinator
        return ZooKeeperCoordinator(hosts, cluster, session_timeout=ttl)
    if backend == "etcd":
        from fastroute.membership import EtcdCoordinator
        return EtcdCoordinator(hosts, cluster, lease_ttl=ttl)
    raise ValueError(f"backend: {backend!r}")


def open_membership(coord):
    from fastroute.membership import EtcdCoordinator, EtcdMembership, ZooKeeperMembership
    if isinstance(coord, EtcdCoordinator):
        return EtcdMembership(coord)
    return ZooKeeperMembership(coord, refresh_interval=0.5)


def router(args) -> None:
    coord = open_coordinator(args.backend, args.hosts, args.cluster, args.ttl)
    membership = open_membership(coord)
    table = fastroute.Router(fastroute.JumpHash(["placeholder"]))

    def on_snapshot(snap) -> None:
        emit(event="snapshot", epoch=snap.epoch, fingerprint=snap.fingerprint(), stale=snap.stale,
             nodes=list(snap.nodes), weights=list(snap.weights), states=[m.state for m in snap.members],
             routes=[table.get_node(k) for k in ROUTE_KEYS] if snap.serving else None)

    follow_router(membership, table, algorithm="rendezvous")
    membership.subscribe(on_snapshot)
    emit(event="ready")
    sys.stdin.read()
    membership.close()
    coord.close()


def member(args) -> None:
    coord = open_coordinator(args.backend, args.hosts, args.cluster, args.ttl)
    coord.register(Member(args.name, args.weight, address=f"{args.name}.test:1"))
    emit(event="ready", session=coord.session_id)
    sys.stdin.read()
    coord.close()


def churn(args) -> None:
    """`--cycles` join/leave cycles of names `<name>-<i % 3>`, then stays with `<name>-final`."""
    coord = open_coordinator(args.backend, args.hosts, args.cluster, args.ttl)
    emit(event="ready")
    sys.stdin.readline()  # start together
    for i in range(args.cycles):
        reg = coord.register(Member(f"{args.name}-{i % 3}", 1 + i % 4))
        if i % 5 == 0:
            reg.update(weight=7)
        reg.close()
    coord.register(Member(f"{args.name}-final", 2))
    emit(event="done")
    sys.stdin.read()
    coord.close()


def holder(args) -> None:
    """Takes the lock `shared` and writes through the fenced store every `--every` s while
    holding. Honours `token.valid` unless --ignore-liveness (then it keeps writing up to 3
    times after learning, to show the store refuses). Reports every loop turn."""
    coord = open_coordinator(args.backend, args.hosts, args.cluster, args.ttl)
    store = FencedStore(args.history, process=f"{args.name}-{os.getpid()}")
    emit(event="ready")
    sys.stdin.readline()
    resource = "lock:shared"
    with coord.lock("shared", timeout=60, identifier=args.name) as token:
        store.record("acquire", resource, token.value)
        emit(event="acquired", token=token.value)
        extra = 3 if args.ignore_liveness else 0
        learnt = None
        for _ in range(args.writes):
            checked_at = time.time()
            valid = token.valid
            if not valid and learnt is None:
                learnt = checked_at
                store.record("lost", resource, token.value, reason=token.liveness.reason)
                emit(event="lost", token=token.value, checked_at=checked_at, reason=token.liveness.reason)
            if not valid:
                if extra == 0:
                    break
                extra -= 1
            accepted = store.write(resource, token.value)
            emit(event="write", token=token.value, checked_at=checked_at, valid=valid, accepted=accepted)
            time.sleep(args.every)
        if learnt is None:
            store.record("release", resource, token.value)
    emit(event="done")
    sys.stdin.read()
    coord.close()


def locker(args) -> None:
    """`--rounds` lock/write/unlock rounds, recorded in the history."""
    coord = open_coordinator(args.backend, args.hosts, args.cluster, args.ttl)
    store = FencedStore(args.history, process=f"locker-{os.getpid()}")
    emit(event="ready")
    sys.stdin.readline()
    for _ in range(args.rounds):
        with coord.lock("contended", timeout=60, identifier=f"locker-{os.getpid()}") as token:
            store.record("acquire", "lock:contended", token.value)
            token.check()
            store.write("lock:contended", token.value)
            time.sleep(args.every)
            token.check()
            store.write("lock:contended", token.value)
            store.record("release", "lock:contended", token.value)
    emit(event="done")
    coord.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["router", "member", "churn", "holder", "locker"])
    parser.add_argument("--backend", required=True, choices=["zookeeper", "etcd"])
    parser.add_argument("--hosts", required=True)
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--ttl", type=float, default=2.0)
    parser.add_argument("--name", default="p")
    parser.add_argument("--weight", type=float, default=1.0)
    parser.add_argument("--cycles", type=int, default=50)
    parser.add_argument("--history")
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument("--every", type=float, default=0.05)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ignore-liveness", action="store_true")
    args = parser.parse_args()
    {"router": router, "member": member, "churn": churn, "holder": holder, "locker": locker}[args.role](args)


if __name__ == "__main__":
    main()

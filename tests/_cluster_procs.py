# SPDX-License-Identifier: Apache-2.0
"""Processes for the ZooKeeper integration tests: `python tests/_cluster_procs.py ROLE ...`.

Each prints one JSON object per line on stdout (events with wall-clock `t`) and
runs until its stdin closes or it is killed.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import fastroute
from fastroute.membership import Member, ZooKeeperCoordinator, ZooKeeperMembership, follow_router
from fastroute.membership.shards import ShardLayout, ShardReplica

from _event_procs import emit

ROUTE_KEYS = [f"card-{i}" for i in range(500)]


def wait_stdin_closed() -> None:
    sys.stdin.read()


def router(args) -> None:
    membership = ZooKeeperMembership(args.zk, args.cluster, session_timeout=args.session_timeout)
    table = fastroute.Router(fastroute.JumpHash(["placeholder"]))

    def on_snapshot(snap) -> None:
        emit(event="snapshot", epoch=snap.epoch, fingerprint=snap.fingerprint(), stale=snap.stale,
             nodes=list(snap.nodes), weights=list(snap.weights),
             states=[m.state for m in snap.members],
             routes=[table.get_node(k) for k in ROUTE_KEYS] if snap.serving else None)

    follow_router(membership, table, algorithm="rendezvous")
    membership.subscribe(on_snapshot)  # after the follower: the router already holds this snapshot
    emit(event="ready")
    wait_stdin_closed()
    membership.close()


def member(args) -> None:
    coord = ZooKeeperCoordinator(args.zk, args.cluster, session_timeout=args.session_timeout)
    coord.register(Member(args.name, args.weight, address=f"{args.name}.test:1"))
    replica = None
    if args.shards:
        membership = ZooKeeperMembership(coord)
        layout = ShardLayout.of(args.shards, args.replication)
        replica = ShardReplica(membership, coord, args.name, layout,
                               on_change=lambda shard, token: emit(event="leader", shard=shard,
                                                                   token=token.value if token else None))
    emit(event="ready", session=coord.session_id)
    wait_stdin_closed()
    if replica:
        replica.close()
    coord.close()


def locker(args) -> None:
    coord = ZooKeeperCoordinator(args.zk, args.cluster, session_timeout=args.session_timeout)
    emit(event="ready")
    sys.stdin.readline()  # start together
    with open(args.log, "a") as log:
        for _ in range(args.rounds):
            with coord.lock("contended", identifier=f"locker-{os.getpid()}") as token:
                log.write(f"enter {os.getpid()} {token.value} {time.time()!r}\n")
                log.flush()
                time.sleep(args.hold)
                log.write(f"exit {os.getpid()} {token.value} {time.time()!r}\n")
                log.flush()
    emit(event="done")
    coord.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["router", "member", "locker"])
    parser.add_argument("--zk", required=True)
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--session-timeout", type=float, default=1.0)
    parser.add_argument("--name")
    parser.add_argument("--weight", type=float, default=1.0)
    parser.add_argument("--shards", type=int, default=0)
    parser.add_argument("--replication", type=int, default=2)
    parser.add_argument("--log")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--hold", type=float, default=0.02)
    args = parser.parse_args()
    {"router": router, "member": member, "locker": locker}[args.role](args)


if __name__ == "__main__":
    main()

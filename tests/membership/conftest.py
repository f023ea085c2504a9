# SPDX-License-Identifier: Apache-2.0
"""Fixtures the live coordination suites share (ZooKeeper, etcd, both)."""
from __future__ import annotations

import itertools

import pytest

_cluster_names = itertools.count()


@pytest.fixture
def cluster(request):
    """A cluster name no other test in this run uses (a fresh znode tree / key prefix)."""
    return f"t{next(_cluster_names)}-{request.node.name[:40]}".replace("[", "_").replace("]", "_")


@pytest.fixture
def procs():
    """Helper processes a test starts (append them); each is stopped after the test."""
    started: list = []
    yield started
    for p in started:
        p.stop()

# SPDX-License-Identifier: Apache-2.0
"""Keyed placement (docs/algorithms.md §22): every keyed kind places a key where
its pure-Python reference model puts the reference keyed hash; single == batch in
every layout; deterministic across processes, threads, splits and pickling;
different secrets place differently; the secret never shows; compatibility
kinds refuse it."""
import copy
import os
import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pytest

import fastroute
from fastroute import HashRing, IPHash, JumpHash, Maglev, Rendezvous
from tests.reference.jump import jump_bucket, jump_replicas
from tests.reference.keys import key_bytes
from tests.reference.maglev import MaglevRef
from tests.reference.rendezvous import RendezvousRef
from tests.reference.ring import RingRef
from tests.reference.siphash import keyed_hash, secret_digest

SECRET = b"0123456789abcdef"
OTHER = b"an entirely different secret"
NAMES = ["pay-a", "pay-b", "pay-c", "pay-d", "pay-e"]
WEIGHTS = [1.0, 2.0, 1.0, 3.0, 1.0]
KEYS = [f"card-{i}" for i in range(400)] + ["", "héllo", b"raw-bytes", 0, 42, 2**64 - 1]


class JumpRef:
    def __init__(self, n):
        self.n = n

    def lookup_hash(self, h):
        return jump_bucket(h, self.n)

    def replicas_hash(self, h, n):
        return jump_replicas(h, self.n, n)


# (table, reference model over key hashes)
CASES = {
    "ring": (lambda s, n=NAMES, w=WEIGHTS: HashRing(n, w, 40, secret=s), lambda: RingRef(NAMES, WEIGHTS, 40)),
    "ring nearest": (lambda s, n=NAMES, w=WEIGHTS: HashRing(n, w, 40, lookup="nearest", secret=s),
                     lambda: RingRef(NAMES, WEIGHTS, 40, lookup="nearest")),
    "ring normalized": (lambda s, n=NAMES, w=WEIGHTS: HashRing(n, w, mode="normalized", min_ring_size=512, secret=s),
                        lambda: RingRef(NAMES, WEIGHTS, mode="normalized", min_ring_size=512)),
    "maglev": (lambda s, n=NAMES, w=WEIGHTS: Maglev(n, w, table_size=251, secret=s),
               lambda: MaglevRef(NAMES, WEIGHTS, 251)),
    "jump": (lambda s, n=NAMES, w=WEIGHTS: JumpHash(n, secret=s), lambda: JumpRef(len(NAMES))),
    "rendezvous": (lambda s, n=NAMES, w=WEIGHTS: Rendezvous(n, w, secret=s), lambda: RendezvousRef(NAMES, WEIGHTS)),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    make, ref = CASES[request.param]
    return request.param, make, ref()


def test_keyed_lookups_equal_the_reference_model_on_the_reference_keyed_hash(case):
    name, make, ref = case
    table = make(SECRET)
    assert table.keyed
    for key in KEYS:
        h = keyed_hash(SECRET, key_bytes(key))
        assert table.get_index(key) == ref.lookup_hash(h), (name, key)
        assert table.get_node(key) == NAMES[ref.lookup_hash(h)]
        assert [NAMES.index(n) for n in table.replicas(key, 3)] == ref.replicas_hash(h, 3), (name, key)


def test_keyed_batch_equals_keyed_single_in_every_layout(case):
    name, make, _ = case
    table = make(SECRET)
    text = [k for k in KEYS if isinstance(k, str)]
    single = [table.get_index(k) for k in text]
    layouts = [text, tuple(text), np.array(text), np.array(text, dtype=object), pa.array(text),
               pa.array(text, pa.large_string()), [k.encode() for k in text], pa.array([k.encode() for k in text])]
    for batch in layouts:
        assert table.route(batch).tolist() == single, (name, type(batch))
    ints = [0, 1, 42, 2**63, 2**64 - 1]
    want = [table.get_index(i) for i in ints]
    for batch in (ints, np.array(ints, dtype=np.uint64), pa.array(ints, pa.uint64())):
        assert table.route(batch).tolist() == want, name
    reps = table.route_replicas(text, 2)
    assert [[NAMES.index(n) for n in table.replicas(k, 2)] for k in text] == reps.tolist()
    assert table.route_hashed(fastroute.hash_keys(text, secret=SECRET)).tolist() == single


def test_large_keyed_batches_do_not_depend_on_threads_or_splits(case):
    name, make, _ = case
    table = make(SECRET)
    keys = [f"acct-{i:09d}" for i in range(150_000)]  # above the engine's parallel threshold
    whole = table.route(keys)
    assert np.array_equal(whole, table.route(keys, threads=1))
    assert np.array_equal(whole, np.concatenate([table.route(keys[:55_555]), table.route(keys[55_555:])]))
    with ThreadPoolExecutor(4) as pool:
        assert all(np.array_equal(whole, r) for r in pool.map(lambda _: table.route(keys, threads=2), range(4)))
    sample = range(0, len(keys), 7919)
    assert [int(whole[i]) for i in sample] == [table.get_index(keys[i]) for i in sample]


def test_a_secret_moves_keys_and_two_secrets_differ(case):
    name, make, _ = case
    keys = [f"card-{i}" for i in range(2000)]
    plain, keyed, other = make(None), make(SECRET), make(OTHER)
    assert not plain.keyed
    a, b, c = plain.route(keys), keyed.route(keys), other.route(keys)
    assert (a != b).mean() > 0.3 and (b != c).mean() > 0.3, name
    assert keyed != plain and keyed != other and keyed == make(SECRET)


def test_unkeyed_tables_are_unchanged():
    from tests.reference.hashes import key_hash

    ref = RingRef(NAMES, WEIGHTS, 40)
    ring = HashRing(NAMES, WEIGHTS, 40)
    assert [ring.get_index(k) for k in KEYS[:100]] == [ref.lookup_hash(key_hash(k)) for k in KEYS[:100]]
    assert HashRing(NAMES, WEIGHTS, 40, secret=None).fingerprint() == ring.fingerprint()
    assert "keyed" not in ring.fingerprint() and "secret" not in repr(ring)


def test_bounded_loads_use_the_keyed_hash():
    keys = [f"card-{i}" for i in range(3000)]
    ring = HashRing(NAMES, WEIGHTS, 40, secret=SECRET)
    out = ring.assign_bounded(keys, c=1.1)
    # With room everywhere (c large) every key is on its keyed primary.
    roomy = ring.assign_bounded(keys, c=100.0)
    assert roomy.tolist() == ring.route(keys).tolist()
    assert out.tolist() != HashRing(NAMES, WEIGHTS, 40).assign_bounded(keys, c=1.1).tolist()
    counts = np.bincount(out, minlength=len(NAMES))
    caps = np.ceil(1.1 * len(keys) * np.array(WEIGHTS) / sum(WEIGHTS))
    assert (counts <= caps).all()


def test_same_keyed_placement_in_other_processes_and_hash_seeds():
    code = ("from fastroute import HashRing, Maglev; import sys; s = b'0123456789abcdef'; "
            "n = ['pay-a', 'pay-b', 'pay-c', 'pay-d', 'pay-e']; k = [f'card-{i}' for i in range(300)]; "
            "print(HashRing(n, secret=s).route(k).tolist(), Maglev(n, secret=s).route(k).tolist(), "
            "HashRing(n, secret=s).fingerprint())")
    keys = [f"card-{i}" for i in range(300)]
    here = (f"{HashRing(NAMES, secret=SECRET).route(keys).tolist()} {Maglev(NAMES, secret=SECRET).route(keys).tolist()} "
            f"{HashRing(NAMES, secret=SECRET).fingerprint()}")
    for seed in ("0", "7", "random"):
        out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": seed},
                             capture_output=True, text=True, check=True).stdout.strip()
        assert out == here, seed


def test_pickling_copying_and_membership_changes_keep_the_secret(case):
    name, make, _ = case
    table = make(SECRET)
    keys = [f"card-{i}" for i in range(500)]
    for clone in (pickle.loads(pickle.dumps(table)), copy.copy(table), copy.deepcopy(table)):
        assert clone.keyed and clone == table and clone.route(keys).tolist() == table.route(keys).tolist()
    grown = table.with_node("pay-f")
    assert grown.keyed
    assert grown == make(SECRET, NAMES + ["pay-f"], WEIGHTS + [1.0])
    assert grown.route(keys).tolist() == make(SECRET, NAMES + ["pay-f"], WEIGHTS + [1.0]).route(keys).tolist()
    assert table.without_node("pay-e") == make(SECRET, NAMES[:-1], WEIGHTS[:-1])
    if name != "jump":
        assert table.with_weight("pay-a", 2) == make(SECRET, NAMES, [2.0] + WEIGHTS[1:])


def test_pickling_in_another_process_places_identically():
    table = Maglev(NAMES, WEIGHTS, secret=SECRET)
    blob = pickle.dumps(table).hex()
    code = (f"import pickle; t = pickle.loads(bytes.fromhex('{blob}')); "
            "print(t.keyed, t.route([f'card-{i}' for i in range(200)]).tolist())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == f"True {table.route([f'card-{i}' for i in range(200)]).tolist()}"


def test_the_secret_never_shows_and_the_fingerprint_identifies_it():
    secret = b"S3CR3T-placement-key-0123456789"
    texts = []
    for make, _ in CASES.values():
        table = make(secret)
        texts += [repr(table), str(table), table.fingerprint()]
        assert table.fingerprint().endswith("-keyed-" + secret_digest(secret))
        assert make(secret).fingerprint() == table.fingerprint()
        assert make(OTHER).fingerprint() != table.fingerprint()
        try:
            table.replicas("k", 99)
        except ValueError as exc:
            texts.append(str(exc))
    for text in texts:
        for form in (secret.decode(), secret.hex(), __import__("base64").b64encode(secret).decode()):
            assert form not in text
    assert "secret=<hidden>" in repr(HashRing(NAMES, secret=secret))


@pytest.mark.parametrize("secret, error, rule", [
    ("0123456789abcdef", TypeError, "not str"),
    (b"too short", ValueError, "at least 16 bytes"),
    (12345678901234567, TypeError, "expected bytes"),
    (b"y" * 5000, ValueError, "16 to 4096 bytes"),
])
def test_bad_secrets_are_clear_errors_naming_secret(secret, error, rule):
    for make, _ in CASES.values():
        with pytest.raises(error, match=rule) as info:
            make(secret)
        assert str(info.value).startswith("secret:") and "too short" not in str(info.value)


def test_bytearray_and_memoryview_secrets_equal_bytes():
    keys = [f"card-{i}" for i in range(200)]
    want = HashRing(NAMES, secret=SECRET).route(keys).tolist()
    assert HashRing(NAMES, secret=bytearray(SECRET)).route(keys).tolist() == want
    assert HashRing(NAMES, secret=memoryview(SECRET)).route(keys).tolist() == want


def test_compatibility_modes_refuse_a_secret():
    from fastroute.compat import envoy
    from fastroute.compat.uhashring import HashRing as UHashRing
    from fastroute.placement import (HAProxyConsistentHash, HAProxyMapHash, Ketama, NginxConsistentHash,
                                     NginxPlainHash)

    makers = {
        "NginxConsistentHash": lambda: NginxConsistentHash(NAMES, secret=SECRET),
        "NginxPlainHash": lambda: NginxPlainHash(NAMES, secret=SECRET),
        "HAProxyMapHash": lambda: HAProxyMapHash(NAMES, secret=SECRET),
        "HAProxyConsistentHash": lambda: HAProxyConsistentHash(NAMES, secret=SECRET),
        "Ketama": lambda: Ketama(NAMES, secret=SECRET),
        "IPHash": lambda: IPHash(NAMES, secret=SECRET),
        "envoy.RingHash": lambda: envoy.RingHash(NAMES, secret=SECRET),
        "envoy.Maglev": lambda: envoy.Maglev(NAMES, secret=SECRET),
        "uhashring": lambda: UHashRing(NAMES, secret=SECRET),
    }
    for name, make in makers.items():
        with pytest.raises(ValueError, match="^secret: .*cannot be keyed") as info:
            make()
        assert SECRET.decode() not in str(info.value), name

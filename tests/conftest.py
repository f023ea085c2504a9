# SPDX-License-Identifier: Apache-2.0
import random

import pytest


@pytest.fixture
def rng():
    return random.Random(20261124)


def random_keys(rng: random.Random, n: int) -> list:
    """Mixed str / bytes / int keys, including non-ASCII and empty ones."""
    keys = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            keys.append("".join(rng.choice("abcxyz0189-é€中") for _ in range(rng.randrange(0, 24))))
        elif kind == 1:
            keys.append(rng.randbytes(rng.randrange(0, 24)))
        else:
            keys.append(rng.randrange(-(2**63), 2**64))
    return keys

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the bundled sample: data/sample_transactions.csv (deterministic)."""
import csv
import random
import sys
from pathlib import Path

ROWS = 20_000
rng = random.Random(20261124)
currencies = ["EUR", "USD", "GBP", "CHF", "JPY", "PLN"]
merchants = [f"m-{rng.randrange(10**6):06d}" for _ in range(400)]
out = Path(sys.argv[1] if len(sys.argv) > 1 else "src/fastroute/data/sample_transactions.csv")
with out.open("w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["txn_id", "card_id", "merchant_id", "amount_minor", "currency", "ts"])
    t = 1_764_000_000
    for i in range(ROWS):
        t += rng.randrange(0, 3)
        w.writerow([
            f"tx-{i:08d}",
            f"card-{rng.randrange(10**9):09d}",
            rng.choice(merchants),
            rng.randrange(100, 500_000),
            rng.choice(currencies),
            t,
        ])

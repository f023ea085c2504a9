# SPDX-License-Identifier: Apache-2.0
"""Reader threads against a writer that keeps changing a Router, until enough
reads provably overlapped a change: the router's generation moved while the
read was in progress. The writer does not stop after a fixed count (which a
fast writer can finish before the readers are scheduled) but when the floor
is reached, so the test is as strong on a fast machine as on a slow one."""
import threading
import time


def read_during_changes(router, read, change, *, readers=4, min_overlapping=50, max_seconds=60.0):
    """read(): one lookup (raises on a wrong answer); change(step): one swap/edit.
    Returns {"changes", "reads", "overlapping"}; fails if the floor is not reached."""
    stop, started = threading.Event(), threading.Barrier(readers + 1)
    errors, counts = [], [[0, 0] for _ in range(readers)]

    def reader(slot):
        tally = counts[slot]
        started.wait()
        while not stop.is_set():
            before = router.generation
            try:
                read()
            except Exception as exc:  # noqa: BLE001 - reported by the caller's assertion
                errors.append(exc)
                return
            tally[0] += 1
            if router.generation != before:
                tally[1] += 1

    threads = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(readers)]
    for t in threads:
        t.start()
    started.wait()
    deadline, changes = time.monotonic() + max_seconds, 0
    try:
        while sum(c[1] for c in counts) < min_overlapping and not errors:
            if time.monotonic() > deadline:
                break
            change(changes)
            changes += 1
    finally:
        stop.set()
        for t in threads:
            t.join()
    result = {"changes": changes, "reads": sum(c[0] for c in counts), "overlapping": sum(c[1] for c in counts)}
    print(f"reads during changes: {result}")
    assert not errors, errors[:3]
    assert result["overlapping"] >= min_overlapping, f"too few reads overlapped a change in {max_seconds} s: {result}"
    return result

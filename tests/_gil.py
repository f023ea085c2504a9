# SPDX-License-Identifier: Apache-2.0
"""Whether a call releases the GIL, independent of machine speed.

With the switch interval set to an hour, the calling thread never hands the
GIL over on its own: a helper thread can only run while the call has released
it (a native section without the GIL). The helper counts its turns; a turn
between the counter reads before and after the call is the proof. The call is
repeated a few times so a helper that was slow to be scheduled does not make
a releasing call look like a holding one; a call that holds the GIL can never
pass, however often it is repeated.
"""
import sys
import threading
import time


def releases_gil(call, attempts: int = 20) -> bool:
    turns, stop = [0], threading.Event()

    def helper():
        while not stop.is_set():
            turns[0] += 1
            time.sleep(0)  # blocks briefly: hands the GIL back so the caller can resume

    previous = sys.getswitchinterval()
    sys.setswitchinterval(3600.0)
    thread = threading.Thread(target=helper, daemon=True)
    try:
        thread.start()
        while turns[0] == 0:
            time.sleep(0.001)
        for _ in range(attempts):
            before = turns[0]
            call()
            if turns[0] != before:
                return True
        return False
    finally:
        stop.set()
        sys.setswitchinterval(previous)
        thread.join()

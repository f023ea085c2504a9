# SPDX-License-Identifier: Apache-2.0
"""Per-file test results for `make arm-test` (scripts/arm-test.sh, docs/build.md §10).

As a pytest plugin (`-p arm_results`, inside the arm64 rootfs): when the last
test of a file ends, writes ``<dir>/<file with / as __>.json`` with each test's
outcome; ``.started`` names the file in progress, so a session that dies (a
per-test timeout ends the process) shows which file it was in.

As a script (on the host):
  arm_results.py stopped DIR TREE LOG RC   record the file a dead session was in
  arm_results.py summary DIR TREE WHEEL TIMES  print the summary of DIR
  arm_results.py verdict DIR               exit 0 only if every selected file passed
"""
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

try:
    import pytest
    _wrapper = pytest.hookimpl(hookwrapper=True)
except ImportError:  # the host side (summary) needs no pytest
    def _wrapper(function):
        return function


def _masked(text):
    """Failure text and log lines go to disk: card-number-shaped runs masked
    (fastroute.redact, inside the rootfs; the host may not have fastroute)."""
    try:
        from fastroute.redact import mask_card_numbers
    except ImportError:
        import re
        return re.sub(r"\d{13,19}", lambda m: m.group(0)[:6] + "…" + m.group(0)[-4:], text)
    return mask_card_numbers(text)


def result_name(test_file):
    return test_file.replace("/", "__") + ".json"


def _write_json(path, data):
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


# ---------------------------------------------------------------- pytest plugin
class _Recorder:
    def __init__(self, directory, tree):
        self.dir = Path(directory)
        self.tree = tree
        self.tests = {}  # nodeid -> outcome, for the file in progress
        self.failures = {}  # nodeid -> the end of its failure report
        self.started_at = None
        self.current = None

    def _begin(self, test_file):
        self.current, self.tests, self.failures, self.started_at = test_file, {}, {}, time.time()
        (self.dir / ".started").write_text(json.dumps({"file": test_file, "at": self.started_at, "tree": self.tree}))

    def _finish(self, status, note=None):
        counts = Counter(self.tests.values())
        _write_json(self.dir / result_name(self.current), {
            "file": self.current, "tree": self.tree, "status": status, "note": note,
            "seconds": round(time.time() - self.started_at, 1), "finished": time.strftime("%FT%TZ", time.gmtime()),
            "counts": dict(counts), "tests": self.tests, "failures": self.failures,
        })
        (self.dir / ".started").unlink(missing_ok=True)
        self.current = None

    def pytest_collectreport(self, report):
        # A file that fails to import has no items: its result is the error.
        path = report.nodeid.split("::")[0]
        if report.failed and path.endswith(".py"):
            self._begin(path)
            self.tests[path + "::<collection>"] = "error"
            self._finish("collection error", _masked(str(report.longrepr)[-2000:]))

    def pytest_runtest_logreport(self, report):
        if report.failed:
            self.failures[report.nodeid] = _masked(str(report.longrepr)[-3000:])
        old = self.tests.get(report.nodeid)
        if report.when == "call":
            outcome = "xfailed" if hasattr(report, "wasxfail") and report.skipped else \
                "xpassed" if hasattr(report, "wasxfail") else report.outcome
        elif report.failed:
            outcome = "error"
        elif report.skipped:
            outcome = "skipped"
        else:
            outcome = old or "passed"
        if old in ("failed", "error") and outcome == "passed":
            outcome = old
        self.tests[report.nodeid] = outcome if not (old == "failed" and outcome == "error") else "failed"

    @_wrapper
    def pytest_runtest_protocol(self, item, nextitem):
        path = item.nodeid.split("::")[0]
        if self.current != path:
            self._begin(path)
        yield
        if nextitem is None or nextitem.nodeid.split("::")[0] != path:
            bad = sum(1 for o in self.tests.values() if o in ("failed", "error", "xpassed"))
            self._finish("failed" if bad else "passed")

    def pytest_sessionfinish(self, session, exitstatus):
        # Requested files that collected nothing (every test deselected or a
        # module-level skip) still get a result; not after an interruption.
        if exitstatus in (2, 3, 4) or self.current is not None:
            return
        for arg in session.config.args:
            path = arg.split("::")[0]
            if path.endswith(".py") and not (self.dir / result_name(path)).exists():
                self._begin(path)
                self._finish("no tests collected")


def pytest_configure(config):
    directory = os.environ.get("ARM_RESULTS_DIR")
    if directory:
        config.pluginmanager.register(_Recorder(directory, os.environ.get("ARM_RESULTS_TREE", "?")), "arm_results_recorder")


# ---------------------------------------------------------------- host side
def _results(directory):
    out = {}
    for path in sorted(Path(directory).glob("*.json")):
        data = json.loads(path.read_text())
        out[data["file"]] = data
    return out


def stopped(directory, tree, log, rc):
    """A session that ended with `.started` present died inside that file."""
    marker = Path(directory) / ".started"
    if not marker.exists():
        return
    started = json.loads(marker.read_text())
    tail = Path(log).read_text(errors="replace").splitlines()[-40:] if Path(log).exists() else []
    tail = [_masked(line) for line in tail]
    timeout = any("Timeout" in line for line in tail)
    _write_json(Path(directory) / result_name(started["file"]), {
        "file": started["file"], "tree": tree, "status": "stopped",
        "note": ("a per-test timeout ended the session" if timeout else f"the session ended (exit {rc})")
        + " inside this file; last lines of the log:\n" + "\n".join(tail),
        "seconds": round(time.time() - started["at"], 1), "finished": time.strftime("%FT%TZ", time.gmtime()),
        "counts": {"error": 1}, "tests": {started["file"] + "::<session stopped>": "error"},
    })


def summary(directory, tree, wheel, times):
    directory = Path(directory)
    results = _results(directory)
    selected = (directory / "selected.txt").read_text().split()
    deselected = (directory / "deselected.txt").read_text().split() if (directory / "deselected.txt").exists() else []
    total = Counter()
    lines, not_run, foreign = [], [], set()
    for f in selected:
        r = results.get(f)
        if r is None:
            not_run.append(f)
            continue
        c = Counter(r["counts"])
        total.update(c)
        mark = "" if r["tree"] == tree else f"  [result of tree {r['tree']}]"
        if r["tree"] != tree:
            foreign.add(r["tree"])
        lines.append(f"  {r['status']:<18} {f}: {c['passed']} passed, {c['failed']} failed, {c['error']} errors, "
                     f"{c['skipped']} skipped{', %d xfailed' % c['xfailed'] if c['xfailed'] else ''} "
                     f"({r['seconds']:.0f} s){mark}")
    done = len(selected) - len(not_run)
    seconds = sum(results[f]["seconds"] for f in selected if f in results)
    print(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"tree tested: {tree}" + (f" (some results are of other trees: {', '.join(sorted(foreign))};"
                                    " their test files are unchanged, the code under test may not be)" if foreign else ""))
    print(f"wheel: {wheel}")
    print(f"files: {done} of {len(selected)} selected files have a result; {len(not_run)} not run yet")
    print(f"tests: {sum(total.values())} with a result: {total['passed']} passed, {total['failed']} failed, "
          f"{total['error']} errors, {total['skipped']} skipped, {total['xfailed']} xfailed, {total['xpassed']} xpassed")
    print(f"test wall time (sum over files with a result): {seconds:.0f} s")
    print("deselected: " + (" ".join(deselected) or "none"))
    print("per file:")
    print("\n".join(lines))
    if not_run:
        print("not run yet:")
        print("\n".join("  " + f for f in not_run))
    bad = [(f, t) for f in selected if f in results
           for t, o in sorted(results[f]["tests"].items()) if o in ("failed", "error", "xpassed")]
    if bad:
        print("failures and errors:")
        print("\n".join(f"  {o_outcome(results, f, t)} {t}" for f, t in bad))
    if times and Path(times).exists():
        print("wall times (this run):")
        print("".join("  " + line for line in Path(times).read_text().splitlines(True)))


def o_outcome(results, f, t):
    return results[f]["tests"][t].upper()


def verdict(directory):
    directory = Path(directory)
    results = _results(directory)
    selected = (directory / "selected.txt").read_text().split()
    ok = all(f in results and results[f]["status"] in ("passed", "no tests collected") for f in selected)
    return 0 if ok else 1


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "stopped":
        stopped(*args)
    elif command == "summary":
        summary(*args)
    elif command == "verdict":
        sys.exit(verdict(*args))
    else:
        sys.exit(f"unknown command {command!r}")

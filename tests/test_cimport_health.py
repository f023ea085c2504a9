# SPDX-License-Identifier: Apache-2.0
"""The health view and the policy modules are cimport-able (docs/request_path.md
§2): a Cython extension written elsewhere drives two balancers over one
HealthView without the GIL and sees one failure report eject the node for both."""
import subprocess
import sys
import textwrap

import fastroute as fr

DRIVER = textwrap.dedent('''
    # cython: language_level=3
    from fastroute._cext cimport Balancer, HealthView
    from fastroute.health.core cimport EVENT_EJECTED, POLICY_ENVOY
    from fastroute.health.policy cimport Health

    cdef int fail_node0(Balancer sel) noexcept nogil:
        cdef Py_ssize_t idx = sel.acquire_c()
        while idx > 0:
            sel.release_c(idx, True, 0.001)
            idx = sel.acquire_c()
        return sel.release_c(idx, False, 0.001)

    def drive(Balancer first, Balancer second, HealthView view):
        cdef Py_ssize_t k
        cdef int bad = 0
        with nogil:
            # Envoy consecutive_failures=2: one failure through each balancer ejects node 0.
            bad += fail_node0(first) != 0
            bad += fail_node0(second) != 0
            for k in range(20):
                if first.pick_index_c() == 0 or second.pick_index_c() == 0:
                    bad += 10
        return bad, view.h.kind == POLICY_ENVOY, view.h.events.kind[0] == EVENT_EJECTED
''')

SETUP = textwrap.dedent('''
    import sys
    from Cython.Build import cythonize
    from setuptools import Extension, setup
    setup(ext_modules=cythonize([Extension("health_driver", ["health_driver.pyx"])], include_path=[sys.argv.pop()],
                                quiet=True),
          script_args=["build_ext", "--inplace"])
''')


def test_cython_extension_drives_two_balancers_over_one_view(tmp_path):
    (tmp_path / "health_driver.pyx").write_text(DRIVER)
    (tmp_path / "setup.py").write_text(SETUP)
    done = subprocess.run([sys.executable, "setup.py", fr.get_include()], cwd=tmp_path, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    sys.path.insert(0, str(tmp_path))
    try:
        import health_driver
    finally:
        sys.path.remove(str(tmp_path))
    view = fr.HealthView(["a", "b", "c"], health={"kind": "envoy", "consecutive_failures": 2,
                                                  "max_ejection_percent": 50.0})
    first = fr.RoundRobin(upstream=view)
    second = fr.SmoothWeightedRoundRobin(weights=[3, 2, 1], upstream=view)
    bad, is_envoy, ejected_first = health_driver.drive(first, second, view)
    assert (bad, is_envoy, ejected_first) == (0, True, True)
    assert view.state("a") == "ejected"
    assert view.in_flight() == {"a": 0, "b": 0, "c": 0}

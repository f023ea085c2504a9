# SPDX-License-Identifier: Apache-2.0
"""A Cython extension written elsewhere cimports the balancers and drives them
at C level, without the GIL: compiled here at test time."""
import subprocess
import sys
import textwrap

import fastroute as fr

DRIVER = textwrap.dedent('''
    # cython: language_level=3
    from libc.stdlib cimport free, malloc
    from fastroute._cext cimport Balancer

    def drive(Balancer sel, Py_ssize_t n):
        cdef Py_ssize_t *picks = <Py_ssize_t *>malloc(n * sizeof(Py_ssize_t))
        cdef Py_ssize_t k, idx
        cdef int bad = 0
        with nogil:
            for k in range(n):
                idx = sel.acquire_c()
                picks[k] = idx
                if sel.release_c(idx, True, 0.001) != 0:
                    bad += 1
            if sel.release_c(0, True, 0.0) != -1:  # nothing in flight: rejected
                bad += 100
            if sel.release_c(sel.n + 5, True, 0.0) != -1:  # unknown index: rejected
                bad += 1000
        result = [picks[k] for k in range(n)]
        free(picks)
        return result, bad, sel.pick_index_c()
''')

SETUP = textwrap.dedent('''
    import sys
    from Cython.Build import cythonize
    from setuptools import Extension, setup
    setup(ext_modules=cythonize([Extension("driver", ["driver.pyx"])], include_path=[sys.argv.pop()],
                                quiet=True),
          script_args=["build_ext", "--inplace"])
''')


def test_cython_extension_cimports_and_drives_a_balancer(tmp_path):
    (tmp_path / "driver.pyx").write_text(DRIVER)
    (tmp_path / "setup.py").write_text(SETUP)
    subprocess.run([sys.executable, "setup.py", fr.get_include()], cwd=tmp_path, check=True, capture_output=True)
    sys.path.insert(0, str(tmp_path))
    try:
        import driver
    finally:
        sys.path.remove(str(tmp_path))
    weights = [1, 2, 3, 5, 1, 8, 2]
    sel = fr.SmoothWeightedRoundRobin([f"n{i}" for i in range(7)], weights)
    twin = fr.SmoothWeightedRoundRobin([f"n{i}" for i in range(7)], weights)
    picks, bad, next_pick = driver.drive(sel, 300)
    assert bad == 0
    assert picks == twin.pick_many(300).tolist()
    assert next_pick == twin.pick_index()
    assert sel.active() == {f"n{i}": 0 for i in range(7)}


def test_get_include_has_the_declarations():
    from pathlib import Path

    root = Path(fr.get_include())
    assert (root / "fastroute" / "_cext.pxd").exists()
    assert (root / "fastroute" / "balancers" / "swrr.pxd").exists()

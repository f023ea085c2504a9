# SPDX-License-Identifier: Apache-2.0
# cython: language_level=3
"""fastroute._cext: request-time balancers (stateful, per request).

Arguments arrive validated by the Python face (`fastroute.balancers`); this
module trusts their shape and type. Every pick holds the balancer's mutex, so
picks from many threads (also on free-threaded CPython) never interleave.
"""
cimport cython
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport int32_t, int64_t
from libc.string cimport memset

import numpy as np

from fastroute.balancers.swrr cimport SwrrState, swrr_pick, swrr_pick_many

cdef extern from *:
    # Defined by setup.py from src/fastroute/_version.py.
    const char *FASTROUTE_VERSION

__version__ = FASTROUTE_VERSION.decode()


cdef class SmoothWeightedRoundRobin:
    """nginx's smooth weighted round robin (ALGORITHMS.md §8.1)."""

    def __cinit__(self, tuple nodes, const int64_t[::1] weights):
        cdef Py_ssize_t n = len(nodes)
        if n == 0 or weights.shape[0] != n:
            raise ValueError("nodes and weights must be non-empty and of equal length")
        self.nodes = nodes
        self.buffer = <int64_t *>PyMem_Malloc(3 * n * sizeof(int64_t))
        if self.buffer == NULL:
            raise MemoryError()
        memset(self.buffer, 0, 3 * n * sizeof(int64_t))
        self.state.count = n
        self.state.weight = self.buffer
        self.state.effective_weight = self.buffer + n
        self.state.current_weight = self.buffer + 2 * n
        cdef Py_ssize_t i
        for i in range(n):
            self.state.weight[i] = weights[i]
            self.state.effective_weight[i] = weights[i]

    def __dealloc__(self):
        PyMem_Free(self.buffer)

    cdef Py_ssize_t pick_index_c(self) noexcept nogil:
        with self.lock:
            return swrr_pick(&self.state)

    def pick_index(self):
        """Index into `.nodes` of the next peer."""
        return self.pick_index_c()

    def pick(self):
        """Name of the next peer."""
        return self.nodes[self.pick_index_c()]

    def pick_many(self, Py_ssize_t n):
        """The next `n` picks as an int32 array of indices (GIL released)."""
        if n < 0:
            raise ValueError(f"n: must be >= 0, got {n}")
        out = np.empty(n, dtype=np.int32)
        cdef int32_t[::1] view = out
        if n:
            with nogil:
                with self.lock:
                    swrr_pick_many(&self.state, &view[0], n)
        return out

    @property
    def weights(self):
        return tuple(self.state.weight[i] for i in range(self.state.count))

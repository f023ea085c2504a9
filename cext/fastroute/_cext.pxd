# SPDX-License-Identifier: Apache-2.0
# cython: language_level=3
"""Declarations of fastroute's request-time balancers for `cimport`."""
cimport cython
from libc.stdint cimport int64_t
from fastroute.balancers.swrr cimport SwrrState


cdef class SmoothWeightedRoundRobin:
    cdef SwrrState state
    cdef int64_t *buffer
    cdef readonly tuple nodes
    cdef cython.pymutex lock
    cdef Py_ssize_t pick_index_c(self) noexcept nogil

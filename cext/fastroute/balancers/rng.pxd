# SPDX-License-Identifier: Apache-2.0
# cython: language_level=3
"""Per-balancer PRNG: splitmix64 (Steele, Lea & Flood 2014) and Lemire's
unbiased bounded integers ("Fast Random Integer Generation in an Interval",
2019), written so the sequence is the same on every platform."""
from libc.stdint cimport uint32_t, uint64_t

cdef extern from *:
    """
    #include <stdint.h>
    /* High 64 bits of a 64x64 product; portable fallback without __int128. */
    static inline uint64_t fr_mulhi64(uint64_t a, uint64_t b, uint64_t *lo) {
    #if defined(__SIZEOF_INT128__)
        unsigned __int128 p = (unsigned __int128)a * b;
        *lo = (uint64_t)p;
        return (uint64_t)(p >> 64);
    #else
        uint64_t a_lo = (uint32_t)a, a_hi = a >> 32, b_lo = (uint32_t)b, b_hi = b >> 32;
        uint64_t p0 = a_lo * b_lo, p1 = a_lo * b_hi, p2 = a_hi * b_lo, p3 = a_hi * b_hi;
        uint64_t mid = (p0 >> 32) + (uint32_t)p1 + (uint32_t)p2;
        *lo = (mid << 32) | (uint32_t)p0;
        return p3 + (p1 >> 32) + (p2 >> 32) + (mid >> 32);
    #endif
    }
    """
    uint64_t fr_mulhi64(uint64_t a, uint64_t b, uint64_t *lo) noexcept nogil


cdef inline uint64_t rng_next(uint64_t *state) noexcept nogil:
    # splitmix64: state advances by the golden-ratio increment, then a 3-step mix.
    state[0] += <uint64_t>0x9E3779B97F4A7C15
    cdef uint64_t z = state[0]
    z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9
    z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EB
    return z ^ (z >> 31)


cdef inline uint64_t rng_below(uint64_t *state, uint64_t bound) noexcept nogil:
    """Uniform in [0, bound), bound >= 1 (Lemire's multiply-and-reject)."""
    cdef uint64_t lo
    cdef uint64_t hi = fr_mulhi64(rng_next(state), bound, &lo)
    cdef uint64_t threshold
    if lo < bound:
        threshold = (<uint64_t>0 - bound) % bound
        while lo < threshold:
            hi = fr_mulhi64(rng_next(state), bound, &lo)
    return hi

"""numpy's ``Generator`` draws in compiled code, one stream per batch row.

A vector env's rows each draw from their own generator, so a draw per row from Python costs a
call per row. Here a generator is a *stream*: one row of a ``(B, STREAM_WORDS)`` uint64 array
holding a ``PCG64`` bit generator's state exactly as numpy keeps it (the 128-bit state and
increment, and the upper half of a 64-bit word that a 32-bit draw left for the next one). The
kernels below advance a stream with PCG64's step and reproduce numpy's algorithms for
``Generator.random``, ``uniform``, ``integers`` (Lemire's bounded draw), ``standard_normal`` (the
ziggurat, on numpy's tables) and ``permutation``/``shuffle``, so a stream draws bit for bit what
the ``numpy.random.Generator`` it was read from would have drawn (``tests/test_rng.py`` compares
them draw for draw over thousands of seeds). ``read_streams`` reads generators into streams,
``write_stream`` puts a stream's state back into its generator.

Only ``PCG64`` (numpy's and gymnasium's default bit generator) is supported: its state is public
(``bit_generator.state``) and its step is a few integer operations.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
# numpy's ziggurat tables for the standard normal (numpy does not export them; numba ships the
# same values for its own Generator support).
from numba.np.random._constants import fi_double, ki_double, wi_double, ziggurat_nor_inv_r, ziggurat_nor_r

from supportgym.compiled import kernel, stamp_cache

#: A stream's words: state (high, low), increment (high, low), whether a 32-bit half is
#: buffered, and that half.
STREAM_WORDS = 6
STATE_HI, STATE_LO, INC_HI, INC_LO, HAS_UINT32, UINTEGER = range(STREAM_WORDS)
#: PCG64's 128-bit multiplier, in 64-bit halves.
MULTIPLIER_HI = np.uint64(0x2360ED051FC65DA4)
MULTIPLIER_LO = np.uint64(0x4385DF649FCCF645)
MASK32 = np.uint64(0xFFFFFFFF)
MAX32 = np.uint64(0xFFFFFFFF)
MAX64 = np.uint64(0xFFFFFFFFFFFFFFFF)
ZIGGURAT_WI = np.asarray(wi_double, dtype=np.float64)
ZIGGURAT_KI = np.asarray(ki_double, dtype=np.uint64)
ZIGGURAT_FI = np.asarray(fi_double, dtype=np.float64)
ZIGGURAT_R = float(ziggurat_nor_r)
ZIGGURAT_INV_R = float(ziggurat_nor_inv_r)
_LOW64 = (1 << 64) - 1


# --- streams and generators (Python) -----------------------------------------------------------


def read_streams(generators: Sequence[np.random.Generator]) -> np.ndarray:
    """(len(generators), STREAM_WORDS) uint64: each generator's state as a stream."""
    out = np.empty((len(generators), STREAM_WORDS), dtype=np.uint64)
    for row, generator in enumerate(generators):
        read_stream(generator, out[row])
    return out


def read_stream(generator: np.random.Generator, out: np.ndarray) -> None:
    """Write ``generator``'s state into the stream ``out`` (STREAM_WORDS,)."""
    state = generator.bit_generator.state
    if state["bit_generator"] != "PCG64":
        raise TypeError(f"supportgym draws from a PCG64 generator (numpy's and gymnasium's default), "
                        f"not {state['bit_generator']}: seed the env with reset(seed=...) or set "
                        f"env.np_random = numpy.random.default_rng(...)")
    s, inc = state["state"]["state"], state["state"]["inc"]
    out[:] = (s >> 64, s & _LOW64, inc >> 64, inc & _LOW64, state["has_uint32"], state["uinteger"])


def write_stream(generator: np.random.Generator, stream: np.ndarray) -> None:
    """Set ``generator``'s state to ``stream``'s: its next draws continue the stream."""
    s_hi, s_lo, inc_hi, inc_lo, has_uint32, uinteger = stream.tolist()
    generator.bit_generator.state = {"bit_generator": "PCG64", "state": {"state": s_hi << 64 | s_lo,
                                                                         "inc": inc_hi << 64 | inc_lo},
                                     "has_uint32": has_uint32, "uinteger": uinteger}


# --- the bit generator ---------------------------------------------------------------------------


@kernel
def _multiply64(a, b):
    """The 128-bit product of two uint64 values, as (high, low)."""
    a_lo, a_hi = a & MASK32, a >> np.uint64(32)
    b_lo, b_hi = b & MASK32, b >> np.uint64(32)
    p0, p1, p2, p3 = a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi
    middle = (p0 >> np.uint64(32)) + (p1 & MASK32) + (p2 & MASK32)
    low = (p0 & MASK32) | (middle << np.uint64(32))
    high = p3 + (p1 >> np.uint64(32)) + (p2 >> np.uint64(32)) + (middle >> np.uint64(32))
    return high, low


@kernel
def next_uint64(streams, r):
    """The next 64-bit word of stream ``r``: PCG64's step (state * multiplier + increment, mod
    2^128), then its XSL-RR output of the new state."""
    s_hi, s_lo = streams[r, STATE_HI], streams[r, STATE_LO]
    high, low = _multiply64(s_lo, MULTIPLIER_LO)
    high += s_lo * MULTIPLIER_HI + s_hi * MULTIPLIER_LO
    new_lo = low + streams[r, INC_LO]
    new_hi = high + streams[r, INC_HI] + (np.uint64(1) if new_lo < low else np.uint64(0))
    streams[r, STATE_HI], streams[r, STATE_LO] = new_hi, new_lo
    value = new_hi ^ new_lo
    rotation = new_hi >> np.uint64(58)
    return (value >> rotation) | (value << ((np.uint64(64) - rotation) & np.uint64(63)))


@kernel
def next_uint32(streams, r):
    """The next 32-bit word: the buffered upper half of the last word, else the lower half of a
    new one (whose upper half is buffered)."""
    if streams[r, HAS_UINT32]:
        streams[r, HAS_UINT32] = 0
        return streams[r, UINTEGER]
    word = next_uint64(streams, r)
    streams[r, HAS_UINT32] = 1
    streams[r, UINTEGER] = word >> np.uint64(32)
    return word & MASK32


@kernel
def random(streams, r):
    """``Generator.random()``: a double in [0, 1) from the top 53 bits of a word."""
    return float(next_uint64(streams, r) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@kernel
def uniform(streams, r, low, high):
    """``Generator.uniform(low, high)``."""
    return low + (high - low) * random(streams, r)


@kernel
def integers(streams, r, low, high):
    """``Generator.integers(low, high)`` (int64, ``high`` excluded): Lemire's multiply-and-reject
    on 32-bit words for ranges below 2^32, on 64-bit words above; a one-value range draws nothing."""
    span = np.uint64(high - low - 1)  # the inclusive range, as numpy's ``rng``
    if span == 0:
        return low
    if span < MAX32:
        excluded = span + np.uint64(1)
        product = next_uint32(streams, r) * excluded
        leftover = product & MASK32
        if leftover < excluded:
            threshold = (MAX32 - span) % excluded
            while leftover < threshold:
                product = next_uint32(streams, r) * excluded
                leftover = product & MASK32
        return low + np.int64(product >> np.uint64(32))
    if span == MAX32:
        return low + np.int64(next_uint32(streams, r))
    if span == MAX64:
        return low + np.int64(next_uint64(streams, r))
    excluded = span + np.uint64(1)
    high_word, leftover = _multiply64(next_uint64(streams, r), excluded)
    if leftover < excluded:
        threshold = (MAX64 - span) % excluded
        while leftover < threshold:
            high_word, leftover = _multiply64(next_uint64(streams, r), excluded)
    return low + np.int64(high_word)


@kernel
def standard_normal(streams, r):
    """``Generator.standard_normal()``: numpy's ziggurat."""
    while True:
        word = next_uint64(streams, r)
        layer = np.int64(word & np.uint64(0xFF))
        word >>= np.uint64(8)
        negative = (word & np.uint64(1)) != 0
        magnitude = (word >> np.uint64(1)) & np.uint64(0x000FFFFFFFFFFFFF)
        x = float(magnitude) * ZIGGURAT_WI[layer]
        if negative:
            x = -x
        if magnitude < ZIGGURAT_KI[layer]:
            return x  # most draws end here
        if layer == 0:  # the tail
            while True:
                xx = -ZIGGURAT_INV_R * np.log1p(-random(streams, r))
                yy = -np.log1p(-random(streams, r))
                if yy + yy > xx * xx:
                    return -(ZIGGURAT_R + xx) if ((magnitude >> np.uint64(8)) & np.uint64(1)) else ZIGGURAT_R + xx
        elif ((ZIGGURAT_FI[layer - 1] - ZIGGURAT_FI[layer]) * random(streams, r) + ZIGGURAT_FI[layer]
              < np.exp(-0.5 * x * x)):
            return x


@kernel
def _interval(streams, r, largest):
    """A uniform integer in [0, largest] by masking and rejecting (numpy's ``random_interval``)."""
    if largest == 0:
        return 0
    mask = np.uint64(largest)
    for shift in (1, 2, 4, 8, 16, 32):
        mask |= mask >> np.uint64(shift)
    if np.uint64(largest) <= MAX32:
        value = next_uint32(streams, r) & mask
        while value > np.uint64(largest):
            value = next_uint32(streams, r) & mask
    else:
        value = next_uint64(streams, r) & mask
        while value > np.uint64(largest):
            value = next_uint64(streams, r) & mask
    return np.int64(value)


@kernel
def shuffle(streams, r, values):
    """``Generator.shuffle(values)`` in place (1-d): Fisher-Yates from the end."""
    for i in range(len(values) - 1, 0, -1):
        j = _interval(streams, r, i)
        values[i], values[j] = values[j], values[i]


stamp_cache(__file__, globals())

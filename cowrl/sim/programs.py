"""Decision programs: what the kernel module runs at a demand fault, compiled for replay.

A policy that the module can run is a *program* (``Policy.kernel_program()``):
``static`` (one degree at every fault), or ``table`` mode with a decide kind,
``table`` (``k = cells[cell(context)]``) or ``readahead``. The engine runs a
program's whole replay in compiled code; a Python policy object calls the same
functions one fault at a time. Both are the Python form of
``kernel_module/cowrl_policy.h``: every operation is integer arithmetic that
the header repeats line for line, and ``tests/test_policy_equivalence.py``
checks decision for decision.

**Streams.** Linux readahead keeps state per open file; a COW region written
by several sequential writers (interleaved streams) needs the same, or each
writer's faults look random to the next. The context keeps ``slots`` stream
slots (default 4). Each slot remembers the end of the last precopy window it
issued (``end = min(page + k, limit - 1)``, ``limit`` the end of the page's
region) and its run of matched faults. A fault at ``page`` *matches* the slot
whose window end lies just behind it, ``1 <= page - end <= near``, the
smallest such gap winning (lowest slot on a tie). ``gap == 1`` is an exact
sequential continuation (the whole window was used and the stream asked for
more); ``2..near`` is a strided or sparse forward stream. A fault that matches
no slot starts a new stream in the least recently used slot.

**Cell.** The decision table is indexed by three small buckets:

* ``gap_b``: 0 no stream matched, 1 exact continuation, 2 near-forward gap;
* ``run_b``: the stream's consecutive matches, log2-bucketed
  (0, 1, 2-3, 4-7, >= 8);
* ``rate_b``: the fraction of recent faults that matched a stream, an EWMA
  with weight 1/8 in fixed point (``MATCH_ONE = 256``), split in quarters.

``cell = (gap_b * RUN_BUCKETS + run_b) * RATE_BUCKETS + rate_b`` (60 cells).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

GAP_BUCKETS = 3
RUN_BUCKETS = 5
RATE_BUCKETS = 4
N_CELLS = GAP_BUCKETS * RUN_BUCKETS * RATE_BUCKETS
MATCH_ONE = 256  # fixed-point 1.0 of the stream-match EWMA
RUN_CAP = 255  # runs saturate (a u8 in the module)
MAX_SLOTS = 16
STATE_BYTES = 64 + 24 * MAX_SLOTS  # sizeof(struct cowrl_policy_state)
TABLE_BYTES = 24 + 2 * N_CELLS  # sizeof(struct cowrl_policy_table), the ioctl payload

# Program codes (the engine's fast loop branches on these).
STATIC, TABLE, READAHEAD = 0, 1, 2
DECIDE_CODES = {"table": TABLE, "readahead": READAHEAD}

# Layout of the stream state vector (int64): five per-slot arrays, then two counters.
_VALID, _END, _RUN, _K, _STAMP = (i * MAX_SLOTS for i in range(5))
_NFAULTS = 5 * MAX_SLOTS
_RATE = _NFAULTS + 1
STREAM_STATE = _RATE + 1


def new_stream_state() -> np.ndarray:
    return np.zeros(STREAM_STATE, dtype=np.int64)


@njit(cache=True, nogil=True)
def run_bucket(run: int) -> int:
    if run <= 0:
        return 0
    if run == 1:
        return 1
    if run < 4:
        return 2
    if run < 8:
        return 3
    return 4


@njit(cache=True, nogil=True)
def cell_of(gap_b: int, run_b: int, rate_b: int) -> int:
    return (gap_b * RUN_BUCKETS + run_b) * RATE_BUCKETS + rate_b


@njit(cache=True, nogil=True, forceinline=True)
def stream_observe(ss: np.ndarray, slots: int, near: int, page: int
                   ) -> tuple[int, int, int, int, int, int]:
    """First half of a fault: match a stream and compute the cell.

    Returns ``(cell, slot, matched, gap, run, slot_k)``: ``slot`` is where this
    fault's stream lives (matched, or the LRU victim), ``slot_k`` the degree last
    applied in the matched stream (0 for a new one). Updates only the match rate.
    """
    best, best_gap = -1, near + 1
    for i in range(slots):
        if ss[_VALID + i]:
            gap = page - ss[_END + i]
            if 1 <= gap < best_gap:
                best, best_gap = i, gap
    if best >= 0:
        matched = 1
        run = min(ss[_RUN + best] + 1, RUN_CAP)
        slot, gap, slot_k = best, best_gap, ss[_K + best]
        gap_b = 1 if gap == 1 else 2
    else:
        matched, run, gap, slot_k, gap_b, slot = 0, 0, 0, 0, 0, 0
        for i in range(slots):  # LRU victim: an empty slot, else the oldest
            if not ss[_VALID + i]:
                slot = i
                break
            if ss[_STAMP + i] < ss[_STAMP + slot]:
                slot = i
    ss[_RATE] += (matched * MATCH_ONE - ss[_RATE]) >> 3
    rate_b = min(ss[_RATE] >> 6, RATE_BUCKETS - 1)
    return cell_of(gap_b, run_bucket(run), rate_b), slot, matched, gap, run, slot_k


@njit(cache=True, nogil=True, forceinline=True)
def stream_commit(ss: np.ndarray, slot: int, run: int, page: int, limit: int, k: int) -> None:
    """Second half: record degree ``k`` applied at ``page`` (``limit``: its region's end)."""
    ss[_NFAULTS] += 1
    ss[_VALID + slot] = 1
    ss[_END + slot] = max(min(page + k, limit - 1), page)
    ss[_RUN + slot] = run
    ss[_K + slot] = k
    ss[_STAMP + slot] = ss[_NFAULTS]


@njit(cache=True, nogil=True)
def readahead_k(matched: int, gap: int, slot_k: int, max_k: int) -> int:
    """Double ``k`` on a sequential hit (from 1 up to ``max_k``), 0 on a miss."""
    if not matched or gap != 1:
        return 0
    return min(max(1, 2 * slot_k), max_k)


@njit(cache=True, nogil=True, forceinline=True)
def program_decide(code: int, static_k: int, cells: np.ndarray, max_k: int, ss: np.ndarray,
                   slots: int, near: int, page: int, limit: int) -> int:
    """The degree a program picks at ``page`` (and its stream-state update)."""
    if code == STATIC:
        return static_k
    cell, slot, matched, gap, run, slot_k = stream_observe(ss, slots, near, page)
    if code == TABLE:
        k = cells[cell]
    else:
        k = readahead_k(matched, gap, slot_k, max_k)
    stream_commit(ss, slot, run, page, limit, k)
    return k


def program_args(program: Any) -> tuple[int, int, np.ndarray, int, int, int]:
    """``(code, static_k, cells, max_k, slots, near)`` of a ``KernelProgram``."""
    if program.mode == "static":
        return STATIC, int(program.k), np.zeros(N_CELLS, dtype=np.int64), 0, 1, 1
    t = program.table
    cells = np.asarray(t.get("cells") or [0] * N_CELLS, dtype=np.int64)
    return (DECIDE_CODES[t["decide"]], 0, cells, int(t.get("max_k", 0)), int(t["slots"]),
            int(t["near"]))

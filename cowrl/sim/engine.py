"""The replay engine: the COW rules, written once, compiled, for every caller.

A session in the shape of CompilerGym's backend session::

    eng = ReplayEngine(cost, thp=False, decided=True)
    ctx = eng.reset(trace)              # the first demand fault's FaultContext (None: none)
    while ctx is not None:
        event = eng.apply(k)            # FaultEvent: precopied, window, skipped, cost terms
        ctx = eng.context               # the next demand fault

:meth:`ReplayEngine.run_program` replays a whole trace under a decision
program (static degree, context table, readahead) without leaving compiled
code. ``simulate()``, both envs (the vector env calls :func:`fault_step` per
sub-env), bandit rewards (through the events), the oracle and calibration
all replay through here. The semantics are in ``docs/semantics.md``; the
state per run is one uint8 per page (private), one per page (written), one
per huge page (THP first fault) and a few integers (:data:`N_STATE`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from cowrl.sim.context import FaultContext, FaultEvent, history_step
from cowrl.sim.costmodel import HUGE_PAGES, CostModel, fault_ns
from cowrl.sim.programs import new_stream_state, program_args, program_decide
from cowrl.traces.io import Trace

# Columns of the int64 run state (one row per run; the vector env keeps one per sub-env).
POS, PAGE, REND, RSTART, PREV_PAGE, PREV_K, SEQ, RUN, HIT, NPRIV, FAULTS, PRECOPIED, \
    WASTED = range(13)
N_STATE = 13


@njit(cache=True, nogil=True)
def written_mask(pages: np.ndarray, n_pages: int) -> np.ndarray:
    """Pages the trace ever writes, one uint8 per page."""
    m = np.zeros(n_pages, dtype=np.uint8)
    for i in range(pages.shape[0]):
        m[pages[i]] = 1
    return m


@njit(cache=True, nogil=True)
def demand(private: np.ndarray, touched: np.ndarray, written: np.ndarray, p: int, k: int,
           r_lo: int, r_hi: int, thp: bool, extra_private: int
           ) -> tuple[int, int, int, int, int]:
    """The page-state update of one demand fault at ``p`` with degree ``k``.

    ``[r_lo, r_hi)`` is the faulting page's region. Returns ``(precopied,
    thp_first, window, skipped, wasted)``.
    """
    private[p] = 1
    n = h = win = skip = waste = 0
    if thp:
        hp = p // HUGE_PAGES
        if touched[hp] == 0:
            touched[hp] = 1
            h = 1
            if extra_private > 0:  # CopyWholeHuge: the rest of the huge page, in the region
                for j in range(max(hp * HUGE_PAGES, r_lo), min(hp * HUGE_PAGES + HUGE_PAGES,
                                                               r_hi)):
                    if private[j] == 0:
                        private[j] = 1
                        n += 1
                        if written[j] == 0:
                            waste += 1
    if k > 0:
        hi = min(p + k, r_hi - 1)
        if hi > p:
            win = hi - p
            for j in range(p + 1, hi + 1):
                if private[j] == 0:
                    private[j] = 1
                    n += 1
                    if written[j] == 0:
                        waste += 1
                else:
                    skip += 1
    return n, h, win, skip, waste


@njit(cache=True, nogil=True)
def advance(pages: np.ndarray, ends: np.ndarray, private: np.ndarray, st: np.ndarray,
            start: int) -> bool:
    """Move ``st`` to the first write at or after ``start`` to a shared page and compute its
    context (region, fault history). Returns False when the trace has no such write."""
    n_w = pages.shape[0]
    j = start
    while j < n_w and private[pages[j]]:
        j += 1
    st[POS] = j
    if j >= n_w:
        return False
    q = pages[j]
    st[PAGE] = q
    if ends.shape[0] == 1:
        st[RSTART], st[REND] = 0, ends[0]
    else:
        r = np.searchsorted(ends, q, side="right")
        st[RSTART] = ends[r - 1] if r > 0 else 0
        st[REND] = ends[r]
    st[SEQ], st[RUN], st[HIT] = history_step(st[PREV_PAGE], st[PREV_K], q, st[RUN], st[HIT])
    return True


@njit(cache=True, nogil=True)
def start_run(pages: np.ndarray, ends: np.ndarray, private: np.ndarray, st: np.ndarray) -> bool:
    """Reset the integer state of a run (page arrays are zeroed by the caller) and find its
    first demand fault."""
    st[:N_STATE] = 0
    st[PREV_PAGE] = -1
    return advance(pages, ends, private, st, 0)


@njit(cache=True, nogil=True)
def fault_step(pages: np.ndarray, ends: np.ndarray, private: np.ndarray, touched: np.ndarray,
               written: np.ndarray, noise: np.ndarray, st: np.ndarray, k: int, thp: bool,
               extra_private: int, coef: np.ndarray, decided: int
               ) -> tuple[int, int, int, int, int, float]:
    """Apply degree ``k`` at the current fault of ``st``, price it and move to the next fault.

    Returns ``(precopied, thp_first, window, skipped, wasted, fault_ns)``; ``noise``
    holds one factor per fault (empty: noise off).
    """
    p = st[PAGE]
    n, h, win, skip, waste = demand(private, touched, written, p, k, st[RSTART], st[REND],
                                    thp, extra_private)
    f = fault_ns(coef, decided, 1 if k > 0 else 0, n, skip, h)
    if noise.shape[0] > 0:
        f = f * noise[st[FAULTS]]
    st[NPRIV] += 1 + n
    st[FAULTS] += 1
    st[PRECOPIED] += n
    st[WASTED] += waste
    st[PREV_PAGE] = p
    st[PREV_K] = k
    advance(pages, ends, private, st, st[POS] + 1)
    return n, h, win, skip, waste, f


@njit(cache=True, nogil=True)
def _run_program(pages: np.ndarray, ends: np.ndarray, private: np.ndarray, touched: np.ndarray,
                 written: np.ndarray, noise: np.ndarray, st: np.ndarray, thp: bool,
                 extra_private: int, coef: np.ndarray, decided: int, code: int, static_k: int,
                 cells: np.ndarray, max_k: int, slots: int, near: int, ss: np.ndarray,
                 out_ns: np.ndarray, record: bool, ev: np.ndarray) -> int:
    """Replay to the end under a program; per fault write ``out_ns`` and, with ``record``,
    the columns of :data:`EVENT_COLUMNS` into ``ev``. Returns the number of faults."""
    nf = 0
    n_w = pages.shape[0]
    while st[POS] < n_w:
        p = st[PAGE]
        k = program_decide(code, static_k, cells, max_k, ss, slots, near, p, st[REND])
        if record:
            ev[nf, 0] = st[POS]
            ev[nf, 1] = p
            ev[nf, 2] = k
            ev[nf, 7] = st[RUN]
            ev[nf, 8] = st[HIT]
        n, h, win, skip, waste, f = fault_step(pages, ends, private, touched, written, noise,
                                               st, k, thp, extra_private, coef, decided)
        out_ns[nf] = f
        if record:
            ev[nf, 3] = n
            ev[nf, 4] = h
            ev[nf, 5] = win
            ev[nf, 6] = skip
        nf += 1
    return nf


EVENT_COLUMNS = ("write_index", "page", "k", "precopied", "thp_first", "window", "skipped",
                 "run", "hit_rate_fp")


@dataclass
class RunResult:
    """What a replay produced: per-fault latencies, totals and (optionally) the events."""

    fault_ns: np.ndarray
    faults: int
    precopied: int
    wasted: int
    events: np.ndarray | None = None
    """``(faults, len(EVENT_COLUMNS))`` int64, when recorded."""


class ReplayEngine:
    """One replay of a trace under the COW rules (see the module docstring).

    ``thp`` backs the region with huge pages (the cost model's THP part prices
    each huge page's first fault); ``decided`` charges ``decide_ns`` at every
    fault (a policy that decides at run time); ``noise_rng`` draws the cost
    model's per-fault noise at :meth:`reset` (``None``: noise must be off).
    """

    def __init__(self, cost: CostModel, thp: bool = False, decided: bool = True) -> None:
        self.cost = cost
        self.thp = bool(thp)
        self.decided = 1 if decided else 0
        self.extra_private = cost.thp_model.first_fault_private_pages() if self.thp else 0
        self.coef = cost.coefficients()
        self.st = np.zeros(N_STATE, dtype=np.int64)
        self.trace: Trace | None = None
        self.done = True

    def reset(self, trace: Trace, written: np.ndarray | None = None,
              noise_rng: np.random.Generator | None = None) -> FaultContext | None:
        """Start a replay of ``trace`` (``written``: its written-page mask, if known)."""
        self.trace = trace
        self.pages = trace.pages
        self.n_pages = trace.n_pages
        self.ends = trace.region_ends
        self.written = written_mask(trace.pages, trace.n_pages) if written is None else written
        self.private = np.zeros(trace.n_pages, dtype=np.uint8)
        self.touched = np.zeros((trace.n_pages + HUGE_PAGES - 1) // HUGE_PAGES
                                if self.thp else 1, dtype=np.uint8)
        n_max = int(np.count_nonzero(self.written))  # a page faults at most once
        noise = self.cost.noise.factors(noise_rng, n_max)
        self.noise = np.zeros(0) if noise is None else noise
        self.done = not start_run(self.pages, self.ends, self.private, self.st)
        return self.context

    @property
    def context(self) -> FaultContext | None:
        """The current demand fault, or None when the trace has no write left to a shared page."""
        if self.done:
            return None
        st = self.st
        return FaultContext(page=int(st[PAGE]), n_pages=self.n_pages,
                            fault_index=int(st[FAULTS]), prev_page=int(st[PREV_PAGE]),
                            prev_k=int(st[PREV_K]), private_pages=int(st[NPRIV]),
                            write_index=int(st[POS]), region_end=int(st[REND]),
                            seq_hit=int(st[SEQ]), run=int(st[RUN]), hit_rate_fp=int(st[HIT]))

    def apply(self, k: int) -> FaultEvent:
        """Apply degree ``k`` at the current fault and move to the next one."""
        if self.done:
            raise RuntimeError("ReplayEngine: no demand fault left; call reset()")
        k = int(k)
        if k < 0:
            raise ValueError(f"negative precopy degree {k}")
        st = self.st
        page, widx = int(st[PAGE]), int(st[POS])
        n, h, win, skip, waste, f = fault_step(
            self.pages, self.ends, self.private, self.touched, self.written, self.noise, st, k,
            self.thp, self.extra_private, self.coef, self.decided)
        self.done = bool(st[POS] >= self.pages.shape[0])
        return FaultEvent(page=page, k=k, write_index=widx, precopied=n, window=win,
                          skipped=skip, thp_first=h, work=1 if k > 0 else 0,
                          decided=self.decided, wasted=waste, fault_ns=f)

    def run_program(self, program: Any, record: bool = False) -> RunResult:
        """Replay the rest of the trace under a ``KernelProgram`` in compiled code."""
        code, static_k, cells, max_k, slots, near = program_args(program)
        # Each fault makes one written page private: the written pages left bound the faults.
        n_max = int(np.count_nonzero(self.written)) - int(self.st[FAULTS])
        out = np.empty(max(n_max, 0), dtype=np.float64)
        ev = np.zeros((out.size if record else 0, len(EVENT_COLUMNS)), dtype=np.int64)
        nf = _run_program(self.pages, self.ends, self.private, self.touched, self.written,
                          self.noise, self.st, self.thp, self.extra_private, self.coef,
                          self.decided, code, static_k, cells, max_k, slots, near,
                          new_stream_state(), out, record, ev)
        self.done = True
        # Give back the unused bound (sequential precopy faults on few of the written pages).
        out = out[:nf].copy() if 2 * nf < out.size else out[:nf]
        return RunResult(fault_ns=out, faults=int(self.st[FAULTS]),
                         precopied=int(self.st[PRECOPIED]), wasted=int(self.st[WASTED]),
                         events=ev[:nf].copy() if record else None)

    @property
    def faults(self) -> int:
        """Demand faults applied so far in this run."""
        return int(self.st[FAULTS])

    def totals(self) -> dict[str, int]:
        """Faults, pages precopied and pages wasted so far in this run."""
        return {"faults": int(self.st[FAULTS]), "precopied": int(self.st[PRECOPIED]),
                "wasted": int(self.st[WASTED])}

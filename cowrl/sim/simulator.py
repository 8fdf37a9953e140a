"""The trace-driven COW simulator: the contract the kernel target is checked against.

Semantics (also in ``docs/semantics.md``):

* The region holds ``n_pages`` 4 KiB pages. When the trace starts every page
  is present and *shared* (COW-pending) between parent and child.
* A write to a shared page is a **demand fault**: the page becomes private and
  the policy picks a degree ``k``. A write to a private page costs
  ``write_ns`` and changes nothing.
* **Precopy of degree k** covers the window ``p+1 .. min(p+k, n_pages-1)``: it
  stops at the region end. Pages already private inside the window are skipped
  but *count toward k* (the kernel walks an address window and a private page
  simply does not fault). ``precopied`` counts the shared pages it made private;
  ``window`` is the number of window pages walked (``k`` clipped at the region
  end) and ``skipped = window - (window pages precopied)`` the already-private
  ones among them.
* **Precopy work**: the kernel module queues precopy work for every demand
  fault with ``k > 0`` (even if the window is empty or already private); the
  cost model charges ``precopy_setup_ns`` for it (``work = [k > 0]``).
* **Decision**: a policy that decides ``k`` at run time (``static_k is None``;
  in the kernel, a pushed table) pays ``decide_ns`` at every demand fault
  (``decided = 1``); a static policy never does, on either replay path.
* **Waste**: a precopied page that the trace never writes.
* **THP** (``policy.thp``): the region is 2 MiB-aligned huge pages. The first
  demand fault inside each huge page pays the cost model's THP extra
  (``SplitThenCopy``: the PMD split; faults are otherwise 4 KiB, as in Linux
  >= 5.8). A THP model may also make the rest of the huge page private
  (``CopyWholeHuge``, pre-5.8); those pages count as precopied.
* Precopy work is synchronous: it is on the critical path of the faulting write.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cowrl.metrics import RunRecord
from cowrl.policies.base import FaultContext, Policy
from cowrl.sim.costmodel import HUGE_PAGES, CostModel
from cowrl.traces.io import Trace

try:  # numba makes static policies run at tens of millions of writes per second
    from numba import njit
except ImportError:  # pragma: no cover - the pure-Python path below is the reference
    njit = None

_CHUNK = 1 << 16


def _static_run(pages: np.ndarray, n_pages: int, k: int, thp: bool, extra_private: int,
                private: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Static-degree replay (compiled with numba when available). Same semantics as the loop.

    Returns per fault: write index, pages precopied, thp_first, window pages
    walked, window pages skipped (already private), and the fault count.
    """
    n = pages.shape[0]
    fault_w = np.empty(n, dtype=np.int64)
    # Narrow per-fault arrays: they dominate memory when every page faults.
    fault_n = np.empty(n, dtype=np.int32)
    fault_h = np.zeros(n, dtype=np.uint8)
    fault_win = np.zeros(n, dtype=np.int32)
    fault_s = np.zeros(n, dtype=np.int32)
    touched = np.zeros((n_pages + HUGE_PAGES - 1) // HUGE_PAGES, dtype=np.uint8)
    nf = 0
    for i in range(n):
        p = pages[i]
        if private[p]:
            continue
        private[p] = 1
        cnt = 0
        if thp:
            h = p // HUGE_PAGES
            if touched[h] == 0:
                touched[h] = 1
                fault_h[nf] = 1
                if extra_private > 0:
                    hi = min(h * HUGE_PAGES + HUGE_PAGES, n_pages)
                    for j in range(h * HUGE_PAGES, hi):
                        if private[j] == 0:
                            private[j] = 1
                            cnt += 1
        hi = min(p + k, n_pages - 1)
        skip = 0
        for j in range(p + 1, hi + 1):
            if private[j] == 0:
                private[j] = 1
                cnt += 1
            else:
                skip += 1
        fault_w[nf] = i
        fault_n[nf] = cnt
        if hi > p:
            fault_win[nf] = hi - p
        fault_s[nf] = skip
        nf += 1
    return fault_w[:nf], fault_n[:nf], fault_h[:nf], fault_win[:nf], fault_s[:nf], nf


if njit is not None:
    _static_run = njit(cache=True, nogil=True)(_static_run)


@dataclass
class SimEvents:
    """Per-demand-fault events of one run, in order (for the kernel equivalence check)."""

    write_index: np.ndarray
    page: np.ndarray
    k: np.ndarray
    precopied: np.ndarray
    thp_first: np.ndarray
    window: np.ndarray
    """Window pages walked: ``min(k, n_pages - 1 - page)`` (0 for k = 0 or at the region end)."""
    skipped: np.ndarray
    """Window pages walked that were already private. ``window - skipped`` are the window's
    copies; ``precopied`` can exceed them by a ``CopyWholeHuge`` huge page's other pages."""

    @property
    def work(self) -> np.ndarray:
        """1 where the fault queued precopy work (``k > 0``), as the kernel module does."""
        return (self.k > 0).astype(np.int64)


class PageState:
    """Shared/private state of a region, one byte per page (the reference, pure-Python path)."""

    __slots__ = ("n_pages", "private", "thp_touched", "n_private")

    def __init__(self, n_pages: int, thp: bool = False) -> None:
        self.n_pages = n_pages
        self.private = bytearray(n_pages)
        self.thp_touched = bytearray((n_pages + HUGE_PAGES - 1) // HUGE_PAGES) if thp else None
        self.n_private = 0

    def demand(self, p: int, k: int, extra_private: int = 0) -> tuple[int, int, int, int]:
        """Apply a demand fault at ``p`` with degree ``k``.

        Returns ``(precopied, thp_first, window, skipped)``: pages made private
        besides ``p``, first fault in its huge page, window pages walked
        (clipped at the region end) and those of them already private.
        """
        self.private[p] = 1
        self.n_private += 1
        n = thp_first = window = skipped = 0
        if self.thp_touched is not None:
            h = p // HUGE_PAGES
            if not self.thp_touched[h]:
                self.thp_touched[h] = 1
                thp_first = 1
                if extra_private:
                    n += self._cover(h * HUGE_PAGES, min(h * HUGE_PAGES + HUGE_PAGES, self.n_pages))
        if k > 0:
            hi = min(p + k, self.n_pages - 1) + 1
            if hi > p + 1:
                window = hi - p - 1
                copied = self._cover(p + 1, hi)
                n += copied
                skipped = window - copied
        return n, thp_first, window, skipped

    def _cover(self, lo: int, hi: int) -> int:
        if hi <= lo:
            return 0
        n_shared = (hi - lo) - self.private[lo:hi].count(1)
        if n_shared:
            self.private[lo:hi] = b"\x01" * (hi - lo)
            self.n_private += n_shared
        return n_shared

    def private_mask(self) -> np.ndarray:
        return np.frombuffer(self.private, dtype=np.uint8).astype(bool)


def decides(policy: Policy) -> int:
    """1 if ``policy`` decides ``k`` at run time at each demand fault (pays ``decide_ns``).

    Static policies (``static_k`` set: the module's STATIC mode) do not, whichever
    replay path runs them; every other policy is a pushed table in the kernel.
    """
    return 0 if policy.static_k is not None else 1


def written_mask(trace: Trace) -> np.ndarray:
    m = np.zeros(trace.n_pages, dtype=bool)
    m[trace.pages] = True
    return m


def _replay_generic(trace: Trace, policy: Policy, cost: CostModel, extra_private: int
                    ) -> tuple[np.ndarray, ...]:
    """Replay with a policy consulted at every demand fault (adaptive and learned policies)."""
    decided = decides(policy)
    state = PageState(trace.n_pages, thp=policy.thp)
    ev_w: list[int] = []
    ev_p: list[int] = []
    ev_k: list[int] = []
    ev_n: list[int] = []
    ev_h: list[int] = []
    ev_win: list[int] = []
    ev_s: list[int] = []
    priv = state.private
    prev_page, prev_k = -1, 0
    for start in range(0, trace.writes, _CHUNK):
        for i, p in enumerate(trace.pages[start:start + _CHUNK].tolist()):
            if priv[p]:
                continue
            ctx = FaultContext(page=p, n_pages=trace.n_pages, fault_index=len(ev_p),
                               prev_page=prev_page, prev_k=prev_k,
                               private_pages=state.n_private, write_index=start + i)
            k = int(policy.decide(ctx))
            if k < 0:
                raise ValueError(f"policy {policy.name!r} returned negative degree {k}")
            n, h, win, skip = state.demand(p, k, extra_private)
            ev_w.append(start + i)
            ev_p.append(p)
            ev_k.append(k)
            ev_n.append(n)
            ev_h.append(h)
            ev_win.append(win)
            ev_s.append(skip)
            policy.observe(ctx, k, float(cost.fault_cost(n, h, int(k > 0), skip, decided)), n)
            prev_page, prev_k = p, k
    return (np.asarray(ev_w, dtype=np.int64), np.asarray(ev_k, dtype=np.int32),
            np.asarray(ev_n, dtype=np.int32), np.asarray(ev_h, dtype=np.uint8),
            np.asarray(ev_win, dtype=np.int32), np.asarray(ev_s, dtype=np.int32),
            state.private_mask())


def simulate(
    trace: Trace,
    policy: Policy,
    cost: CostModel,
    seed: int | None = None,
    record_events: bool = False,
    target: str = "sim",
    fast: bool = True,
) -> RunRecord | tuple[RunRecord, SimEvents]:
    """Replay ``trace`` under ``policy`` and price it with ``cost``.

    Returns a :class:`RunRecord`; with ``record_events`` also the per-fault
    events. Static policies take a compiled path unless ``fast=False``; both
    paths implement the same semantics (a test checks they agree).
    """
    if policy.needs_future:
        from cowrl.policies.oracle import simulate_oracle

        return simulate_oracle(trace, policy, cost, seed=seed, record_events=record_events,
                               target=target)
    policy.reset(trace.n_pages, seed=seed)
    extra_private = cost.thp_model.first_fault_private_pages() if policy.thp else 0
    if fast and policy.static_k is not None:
        private = np.zeros(trace.n_pages, dtype=np.uint8)
        ev_w, ev_n, ev_h, ev_win, ev_s, _ = _static_run(
            trace.pages, trace.n_pages, int(policy.static_k), bool(policy.thp), extra_private,
            private)
        ev_k = np.full(ev_w.shape, int(policy.static_k), dtype=np.int32)
        private_mask = private.astype(bool)
    else:
        ev_w, ev_k, ev_n, ev_h, ev_win, ev_s, private_mask = _replay_generic(
            trace, policy, cost, extra_private)
    fault_ns = np.asarray(cost.fault_cost(ev_n, ev_h, (ev_k > 0).astype(np.int64), ev_s,
                                          decides(policy)),
                          dtype=np.float64)
    factors = cost.noise.factors(np.random.default_rng(seed) if seed is not None else None,
                                 fault_ns.size)
    if factors is not None:
        fault_ns = fault_ns * factors
    # Private pages are demand-copied (so written) or precopied: the unwritten ones are waste.
    wasted = int(np.count_nonzero(private_mask & ~written_mask(trace)))
    rec = RunRecord(
        policy=policy.name, workload=trace.name, target=target, n_pages=trace.n_pages,
        writes=trace.writes, faults=int(ev_w.size), precopied=int(ev_n.sum()), wasted=wasted,
        fault_ns=fault_ns, nonfault_write_ns=cost.write_ns,
    )
    if record_events:
        return rec, SimEvents(ev_w, trace.pages[ev_w], ev_k, ev_n, ev_h, ev_win, ev_s)
    return rec

"""A slow, plain-Python replay of the COW rules (docs/semantics.md), for tests only.

Written from the contract, independently of the compiled engine, so the tests can
check the engine (every replay path, both envs) against it event for event.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cowrl.sim.costmodel import HUGE_PAGES, CostModel
from cowrl.traces.io import Trace


class PageState:
    """Shared/private state of a trace's pages, one byte per page."""

    def __init__(self, n_pages: int, thp: bool = False, ends: list[int] | None = None,
                 voffs: list[int] | None = None) -> None:
        self.n_pages = n_pages
        self.ends = list(ends) if ends is not None else [n_pages]
        self.voffs = list(voffs) if voffs is not None else [0] * len(self.ends)
        self.private = bytearray(n_pages)
        # (region start, virtual huge page number) of each huge page first faulted
        self.thp_touched: set[tuple[int, int]] | None = set() if thp else None
        self.n_private = 0

    def voff(self, p: int) -> int:
        for end, v in zip(self.ends, self.voffs, strict=True):
            if p < end:
                return v
        raise IndexError(p)

    def region(self, p: int) -> tuple[int, int]:
        lo = 0
        for end in self.ends:
            if p < end:
                return lo, end
            lo = end
        raise IndexError(p)

    def demand(self, p: int, k: int, extra_private: int = 0) -> tuple[int, int, int, int]:
        """``(precopied, thp_first, window, skipped)`` of a demand fault at ``p``."""
        lo, end = self.region(p)
        self.private[p] = 1
        self.n_private += 1
        n = thp_first = window = skipped = 0
        if self.thp_touched is not None:
            # THP backs a 2 MiB-aligned range of virtual pages only if the region (VMA)
            # holds all of it.
            v = self.voff(p)
            h = (p + v) // HUGE_PAGES
            first, last = h * HUGE_PAGES - v, (h + 1) * HUGE_PAGES - v  # trace pages
            if lo <= first and last <= end and (lo, h) not in self.thp_touched:
                self.thp_touched.add((lo, h))
                thp_first = 1
                if extra_private:
                    n += self._cover(first, last)
        if k > 0:
            hi = min(p + k, end - 1) + 1
            if hi > p + 1:
                window = hi - p - 1
                copied = self._cover(p + 1, hi)
                n += copied
                skipped = window - copied
        return n, thp_first, window, skipped

    def private_mask(self) -> np.ndarray:
        return np.frombuffer(bytes(self.private), dtype=np.uint8).astype(bool)

    def _cover(self, lo: int, hi: int) -> int:
        n = 0
        for j in range(lo, hi):
            if not self.private[j]:
                self.private[j] = 1
                n += 1
        self.n_private += n
        return n


@dataclass
class RefRun:
    faults: int
    precopied: int
    wasted: int
    fault_ns: np.ndarray
    page: np.ndarray
    k: np.ndarray
    precopied_each: np.ndarray
    window: np.ndarray
    skipped: np.ndarray
    thp_first: np.ndarray


def replay(trace: Trace, degrees: list[int] | int, cost: CostModel, thp: bool = False,
           decided: int = 0) -> RefRun:
    """Replay with a fixed degree (int) or one degree per successive fault (list)."""
    ends = [int(e) for e in trace.region_ends]
    state = PageState(trace.n_pages, thp=thp, ends=ends,
                      voffs=[int(v) for v in trace.region_vpn_offsets])
    extra = cost.thp_model.first_fault_private_pages() if thp else 0
    rows = []
    for p in trace.pages.tolist():
        if state.private[p]:
            continue
        k = degrees if isinstance(degrees, int) else degrees[len(rows)]
        n, h, win, skip = state.demand(p, k, extra)
        ns = (cost.fault_ns + cost.copy_ns + decided * cost.decide_ns
              + (1 if k > 0 else 0) * cost.precopy_setup_ns + n * cost.precopy_ns
              + skip * cost.precopy_skip_ns + h * cost.thp_model.first_fault_extra_ns(cost))
        rows.append((p, k, n, win, skip, h, ns))
    written = set(trace.pages.tolist())
    wasted = sum(1 for j in range(trace.n_pages) if state.private[j] and j not in written)
    a = np.array(rows, dtype=object).reshape(-1, 7)
    return RefRun(faults=len(rows), precopied=int(sum(r[2] for r in rows)), wasted=wasted,
                  fault_ns=np.array([r[6] for r in rows], dtype=np.float64),
                  page=a[:, 0].astype(np.int64), k=a[:, 1].astype(np.int64),
                  precopied_each=a[:, 2].astype(np.int64), window=a[:, 3].astype(np.int64),
                  skipped=a[:, 4].astype(np.int64), thp_first=a[:, 5].astype(np.int64))

"""The oracle: sees the rest of the trace. Simulator only.

It runs a greedy look-ahead (at each fault, precopy the prefix of the next
pages whose known future writes make it pay) and every static policy of its
candidate set, and keeps the run with the lowest objective. By construction
it is never worse than any static policy in that set. The look-ahead drives
the replay engine itself and reads its page state (no copy of the rules).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numba import njit

from cowrl.metrics import objective
from cowrl.policies.base import FaultContext, Policy
from cowrl.policies.static import Baseline, HugePage, StaticPrecopy
from cowrl.sim.costmodel import CostModel
from cowrl.sim.engine import PAGE, POS, REND, ReplayEngine, replay
from cowrl.sim.programs import STATIC
from cowrl.sim.simulator import simulate
from cowrl.traces.io import Trace


@njit(cache=True, nogil=True)
def _lookahead_k(written: np.ndarray, private: np.ndarray, page: int, limit: int, max_k: int,
                 gain_useful: float, loss_waste: float) -> int:
    """The window prefix with the largest known net gain (0 if none gains)."""
    hi = min(page + max_k, limit - 1)
    best, best_j, acc = 0.0, 0, 0.0
    for j in range(page + 1, hi + 1):
        if private[j] == 0:
            acc += gain_useful if written[j] else -loss_waste
        if acc > best:
            best, best_j = acc, j - page
    return best_j


@njit(cache=True, nogil=True)
def _lookahead_run(pages: np.ndarray, ends: np.ndarray, voffs: np.ndarray,
                   private: np.ndarray, touched: np.ndarray, written: np.ndarray,
                   noise: np.ndarray, lay: np.ndarray, st: np.ndarray, thp: bool,
                   extra_private: int, coef: np.ndarray, decided: int, cells: np.ndarray,
                   ss: np.ndarray, ns1: np.ndarray, ev1: np.ndarray,
                   total: np.ndarray, max_k: int, gain: float, loss: float,
                   out_k: np.ndarray) -> int:
    """At each demand fault left, :func:`_lookahead_k`'s degree applied by one
    :func:`~cowrl.sim.engine.replay` of one fault (what ``engine.apply`` does from Python,
    without a context and an event per fault); the degrees into ``out_k``, their count
    returned."""
    nf = 0
    while st[0, POS] < pages.shape[0]:
        k = _lookahead_k(written, private, st[0, PAGE], st[0, REND], max_k, gain, loss)
        replay(pages, ends, voffs, private, touched, written, noise, lay, st, 0, thp,
               extra_private, coef, decided, STATIC, k, cells, 0, 1, 1, ss, 1, ns1, False,
               ev1, total)
        out_k[nf] = k
        nf += 1
    return nf


def lookahead_degrees(trace: Trace, cost: CostModel, lam: float, max_k: int = 64
                      ) -> np.ndarray:
    """The greedy look-ahead's degree at each demand fault of ``trace``."""
    engine = ReplayEngine(cost, decided=True)
    engine.reset(trace)
    gain = cost.fault_ns + cost.copy_ns - cost.precopy_ns
    loss = cost.precopy_ns + lam * cost.page_cost_ns
    out = np.zeros(int(np.count_nonzero(engine.written)), dtype=np.int64)  # a page faults once
    nf = _lookahead_run(engine.pages, engine.ends, engine.voffs, engine.private,
                        engine.touched, engine.written, engine.noise, engine._lay,
                        engine._st, engine.thp, engine.extra_private, engine.coef,
                        engine.decided, engine._cells0, engine._ss0, engine._ns1,
                        engine._ev1, engine.total_ns, int(max_k), float(gain), float(loss),
                        out)
    return out[:nf].copy()


class DegreeSequence(Policy):
    """Plays a given degree at each successive demand fault (decided at run time)."""

    def __init__(self, degrees: np.ndarray, name: str, extra: dict[str, Any]) -> None:
        self.name = name
        self.degrees = degrees
        self.extra = extra
        self._i = 0

    def reset(self, n_pages: int, seed: int | None = None) -> None:
        self._i = 0

    def decide(self, ctx: FaultContext) -> int:
        k = int(self.degrees[self._i])
        self._i += 1
        return k

    def run_extra(self) -> dict[str, Any]:
        return self.extra

    @property
    def replay_degrees(self) -> np.ndarray:
        """The degrees, for ``simulate()`` to apply in compiled code (as :meth:`decide`)."""
        return self.degrees


class _Choice(StaticPrecopy):
    def __init__(self, base: StaticPrecopy, extra: dict[str, Any]) -> None:
        super().__init__(k=int(base.static_k or 0), name=base.name)
        self.thp = base.thp  # type: ignore[misc]
        self.extra = extra

    def run_extra(self) -> dict[str, Any]:
        return self.extra


class Oracle(Policy):
    """Best of a greedy look-ahead and a set of static policies, in hindsight."""

    needs_future = True

    def __init__(self, lam: float = 1.0, candidates: Sequence[int] = (0, 1, 2, 4, 8, 16, 32, 64),
                 include_thp: bool = True, name: str = "oracle") -> None:
        self.name = name
        self.lam = float(lam)
        self.candidates = tuple(int(k) for k in candidates)
        self.include_thp = include_thp

    def for_trace(self, trace: Trace, cost: CostModel, seed: int | None = None) -> Policy:
        """The candidate with the lowest objective on ``trace`` (noise drawn with ``seed``)."""
        greedy = DegreeSequence(lookahead_degrees(trace, cost, self.lam), "lookahead", {})
        cands: list[Policy] = [greedy]
        cands += [Baseline() if k == 0 else StaticPrecopy(k) for k in self.candidates]
        if self.include_thp:
            cands.append(HugePage())
        scored = []
        for i, p in enumerate(cands):
            rec: Any = simulate(trace, p, cost, seed=seed)
            scored.append((objective(rec, self.lam, cost.page_cost_ns), i, p))
        _, _, best = min(scored, key=lambda r: (r[0], r[1]))
        extra = {"oracle_choice": best.name}
        if best.static_k is not None:
            return _Choice(best, extra)  # type: ignore[arg-type]
        return DegreeSequence(greedy.degrees, self.name, extra)

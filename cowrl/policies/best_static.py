"""``precopy_best``: the best fixed degree for each workload, chosen in hindsight (simulator)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cowrl.policies.base import Policy
from cowrl.policies.static import StaticPrecopy
from cowrl.sim.costmodel import CostModel
from cowrl.sim.simulator import cow_objective
from cowrl.traces.io import Trace


class _Chosen(StaticPrecopy):
    """The static degree ``precopy_best`` chose for one trace (recorded as ``best_k``)."""

    def run_extra(self) -> dict[str, Any]:
        return {"best_k": self.static_k}


class BestStatic(Policy):
    """Runs every candidate degree and keeps the lowest objective (:meth:`for_trace`; the
    row records the chosen ``k`` as ``best_k``)."""

    def __init__(self, candidates: Sequence[int] = (0, 1, 2, 4, 8, 16, 32, 64),
                 lam: float | None = 1.0, name: str = "precopy_best") -> None:
        self.name = name
        self.candidates = tuple(int(k) for k in candidates)
        self.lam = 1.0 if lam is None else float(lam)

    def objectives(self, trace: Trace, cost: CostModel) -> dict[int, float]:
        return {k: cow_objective(trace, StaticPrecopy(k), cost, self.lam)
                for k in self.candidates}

    def best_k(self, trace: Trace, cost: CostModel) -> int:
        objs = self.objectives(trace, cost)
        return min(objs, key=lambda k: (objs[k], k))

    def for_trace(self, trace: Trace, cost: CostModel, seed: int | None = None
                  ) -> StaticPrecopy:
        return _Chosen(self.best_k(trace, cost), name=self.name)

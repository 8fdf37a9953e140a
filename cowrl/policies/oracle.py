"""The oracle: sees the rest of the trace. Simulator only.

It runs a greedy look-ahead (at each fault, precopy the prefix of the next
pages whose known future writes make it pay) and every static policy of its
candidate set, and keeps the run with the lowest objective. By construction
it is never worse than any static policy in that set. The look-ahead runs in
the replay engine's degree loop (``ReplayEngine.run_lookahead``), decided from
its page state at each fault (no copy of the rules or of the loop).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cowrl.metrics import objective
from cowrl.policies.base import FaultContext, Policy
from cowrl.policies.static import Baseline, HugePage, StaticPrecopy
from cowrl.sim.costmodel import CostModel
from cowrl.sim.engine import ReplayEngine
from cowrl.sim.simulator import simulate
from cowrl.traces.io import Trace


def lookahead_degrees(trace: Trace, cost: CostModel, lam: float, max_k: int = 64
                      ) -> np.ndarray:
    """The greedy look-ahead's degree at each demand fault of ``trace``: the engine's
    :func:`~cowrl.sim.engine.lookahead_k` at each fault, a page written later counted as
    the demand fault it saves less its precopy, one never written as its precopy plus
    ``lam`` times its memory cost."""
    engine = ReplayEngine(cost, decided=True)
    engine.reset(trace)
    return engine.run_lookahead(max_k, *cost.page_prices(lam))


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

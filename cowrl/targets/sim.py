"""``target=sim``: the trace-driven simulator, priced by the plan's cost model."""

from __future__ import annotations

from cowrl.metrics import RunRecord
from cowrl.targets.base import Plan, Target


class SimTarget(Target):
    """Replays every run with :func:`cowrl.sim.simulate` (exact for a seed: no repeats).

    Args:
        name: the rows' ``target``.
        costmodel: the cost model ``costmodel=auto`` means here.
    """

    def __init__(self, name: str = "sim", costmodel: str = "seed_table1") -> None:
        self.name = name
        self.costmodel = costmodel
        self.calibration_name = costmodel

    def run(self, plan: Plan) -> list[RunRecord]:
        from tqdm import tqdm

        from cowrl.sim import simulate

        out = []
        for policy, trace in tqdm(plan.runs, desc=self.name, unit="run",
                                  disable=not plan.progress, leave=False):
            rec = simulate(trace, policy, plan.cost, seed=plan.seed, shared=plan.shared)
            assert isinstance(rec, RunRecord)
            rec.target = self.name
            out.append(rec)
        return out

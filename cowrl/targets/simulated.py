"""``target=kernel_sim``: the simulator dressed as the kernel target (tests; no guest).

It exists so that everything that takes a measured target (``calibrate``,
``experiments/fidelity.py``, ``compare_targets``, ``evaluate``) can be tested
end to end without booting a kernel. Nothing it returns is a measurement.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from cowrl.errors import ConfigError
from cowrl.metrics import RunRecord
from cowrl.policies.base import Policy
from cowrl.sim.costmodel import CostModel, NoiseModel
from cowrl.targets.base import Plan, Target
from cowrl.traces.io import Trace


class SimulatedKernel(Target):
    """The simulator priced by a known cost model with noise, returning kernel-shaped records.

    Records have one latency per write (``write_ns``: the simulated faults, and
    ``truth.write_ns`` times a lognormal factor of shape ``sigma / 4`` for the
    writes that took none) and the kernel target's extras (``kfault_avg_ns`` =
    ``truth.copy_ns``, ``k``, ``mode``, ``thp_backed``...). Repetitions run
    through the same scheduling and median as the kernel target's.

    Args:
        truth: cost model name or object the runs are priced with; None = the plan's.
        sigma: lognormal noise shape put on ``truth``; None = ``truth``'s own noise.
        seed: seeds the noise (with the plan's seed).
        repeats: runs per (policy, trace) when the plan does not say.
        name: the rows' ``target``.
        costmodel: the cost model ``costmodel=auto`` means here.
    """

    write_latencies: ClassVar[bool] = True

    def __init__(self, truth: str | CostModel | None = None, sigma: float | None = 0.2,
                 seed: int = 0, repeats: int = 1, name: str = "kernel_sim",
                 costmodel: str = "seed_table1") -> None:
        if sigma is not None and (isinstance(sigma, bool) or not isinstance(sigma, (int, float))
                                  or not np.isfinite(sigma) or sigma < 0):
            raise ConfigError(f"target.sigma must be a number >= 0 or null, got {sigma!r}")
        if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
            raise ConfigError(f"target.repeats must be an integer >= 1, got {repeats!r}")
        if isinstance(truth, str):
            from cowrl.registry import make_costmodel

            truth = make_costmodel(truth, "target.truth")
        elif truth is not None and not isinstance(truth, CostModel):
            from cowrl.registry import available

            raise ConfigError(f"target.truth must be a cost model name "
                              f"({', '.join(available('costmodel'))}) or null, got {truth!r}")
        from cowrl.targets.kernel import KernelForms

        self.forms = KernelForms()
        self.truth = truth
        self.sigma = sigma
        self.seed = int(seed)
        self.repeats = repeats
        self.name = name
        self.costmodel = costmodel
        self.calibration_name = name

    def unsupported(self, policy: Policy, trace: Trace | None = None,
                    cost: CostModel | None = None) -> str | None:
        """As on the kernel target: what the module cannot run, this stand-in refuses too."""
        return self.forms.unsupported(policy, trace, cost)

    def truth_for(self, plan: Plan) -> CostModel:
        """The cost model this plan's runs are priced with (noise included)."""
        cost = self.truth if self.truth is not None else plan.cost
        if self.sigma is None:
            return cost
        return dataclasses.replace(cost, noise=NoiseModel("lognormal" if self.sigma else "none",
                                                          float(self.sigma)))

    def run(self, plan: Plan) -> list[RunRecord]:
        from cowrl.kernel.backend import run_repeated

        truth = self.truth_for(plan)
        rng = np.random.default_rng([self.seed, plan.seed])

        def session(runs: list[tuple[Policy, Trace]]) -> list[RunRecord]:
            return [self._one(t, p, truth, rng, plan.shared) for p, t in runs]

        # resolved as the kernel target resolves (with the plan's cost model, not truth)
        runs = [(self.forms.resolve(p, t, plan.cost), t) for p, t in plan.runs]
        return run_repeated(runs, plan.repeats or self.repeats, False, session)

    def _one(self, t: Trace, p: Policy, truth: CostModel, rng: np.random.Generator,
             shared: bool = False) -> RunRecord:
        from cowrl.sim import simulate

        out: Any = simulate(t, p, truth, seed=int(rng.integers(1 << 31)), record_events=True,
                            shared=shared)
        rec, ev = out
        w = np.full(t.writes, truth.write_ns, dtype=np.float64)
        w *= rng.lognormal(0.0, truth.noise.sigma / 4, size=w.size)
        w[ev.write_index] = rec.fault_ns
        rec.write_ns = w
        rec.target = self.name
        rec.extra = {**rec.extra, "kfault_avg_ns": truth.copy_ns, "thp": bool(p.thp),
                     "thp_backed": bool(p.thp), "k": int(p.static_k or 0),
                     "mode": "static" if p.static_k is not None else "table",
                     "runner": "simulated", "accel": "none (simulated)",
                     "kernel_release": "simulated"}
        return rec

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "truth": getattr(self.truth, "name", "the plan's"),
                "sigma": self.sigma, "note": "simulator stand-in: NOT A MEASUREMENT"}

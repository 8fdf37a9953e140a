"""``target=kernel``: the cowrl module in a real Linux kernel (qemu guest, or this host)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from cowrl.errors import CowrlError
from cowrl.kernel.config import KernelConfig
from cowrl.metrics import RunRecord
from cowrl.policies.base import Policy
from cowrl.sim.costmodel import CostModel
from cowrl.targets.base import Plan, Target
from cowrl.traces.io import Trace


class KernelForms:
    """What the module runs for a (policy, trace): the policy resolved for the trace.

    A policy chosen per trace in hindsight (``precopy_best``) is resolved with
    ``Policy.for_trace`` in simulation, then its choice runs for real (the record
    gets its ``run_extra``, e.g. ``best_k``). A policy that reads the future (the
    oracle) or has no kernel program cannot run. Resolutions are cached, so the
    check before a plan and the run itself resolve once.
    """

    def __init__(self) -> None:
        self._cache: dict[tuple[int, int, int], tuple[Any, ...]] = {}

    def resolve(self, policy: Policy, trace: Trace, cost: CostModel) -> Policy:
        key = (id(policy), id(trace), id(cost))
        hit = self._cache.get(key)
        if hit is None or hit[0] is not policy or hit[1] is not trace or hit[2] is not cost:
            hit = (policy, trace, cost, policy.for_trace(trace, cost))  # keeps the ids alive
            self._cache[key] = hit
        return hit[3]

    def unsupported(self, policy: Policy, trace: Trace | None, cost: CostModel | None
                    ) -> str | None:
        from cowrl.kernel.jobs import kernel_plan

        if policy.needs_future:
            return f"policy {policy.name!r} reads the rest of the trace (simulator only)"
        q = self.resolve(policy, trace, cost) if trace is not None and cost is not None \
            else policy
        try:
            kernel_plan(q)
        except CowrlError as e:
            return str(e)
        return None


class KernelTarget(Target):
    """Every run of a plan in one guest boot: the replay harness with the module loaded.

    Where the kernel is comes from ``kernel`` (Hydra group ``kernel``,
    :class:`~cowrl.kernel.config.KernelConfig`): ``runner: qemu`` boots the
    Debian kernel under qemu (KVM when it works, else TCG), ``runner: host``
    loads the module into the running kernel. ``kernel.repeats`` and
    ``kernel.warmup`` apply (:func:`cowrl.kernel.backend.run_repeated`); policies
    are resolved per trace first (:class:`KernelForms`).

    Args:
        kernel: the kernel target's settings (``conf/kernel/*.yaml``).
        name: the rows' ``target``.
        costmodel: the cost model ``costmodel=auto`` means here (calibrated on this guest).
    """

    measured: ClassVar[bool] = True
    write_latencies: ClassVar[bool] = True

    def __init__(self, kernel: KernelConfig | Mapping[str, Any] | None = None,
                 name: str = "kernel", costmodel: str = "tcg") -> None:
        self.kernel = KernelConfig.from_any(kernel)
        self.forms = KernelForms()
        self.name = name
        self.costmodel = costmodel
        self.calibration_name = costmodel

    def unsupported(self, policy: Policy, trace: Trace | None = None,
                    cost: CostModel | None = None) -> str | None:
        return self.forms.unsupported(policy, trace, cost)

    def run(self, plan: Plan) -> list[RunRecord]:
        from cowrl.kernel.backend import check_guest_memory, run_repeated, run_session
        from cowrl.kernel.jobs import RunRequest

        check_guest_memory(self.kernel, [t for _, t in plan.runs])  # before resolving policies

        def session(runs: list[tuple[Policy, Trace]]) -> list[RunRecord]:
            # A policy without the module (NoModule) keeps its own name as the rows' policy.
            reqs = [RunRequest(trace=t, policy=p, module=self.kernel.module and p.kernel_module,
                               label=None if p.kernel_module else p.name, shared=plan.shared)
                    for p, t in runs]
            return run_session(reqs, self.kernel, progress=plan.progress).records

        runs = [(self.forms.resolve(p, t, plan.cost), t) for p, t in plan.runs]
        records = run_repeated(runs, plan.repeats or self.kernel.repeats,
                               self.kernel.warmup, session)
        for (q, _), rec in zip(runs, records, strict=True):
            rec.target = self.name
            rec.extra.update(q.run_extra())
        return records

    def describe(self) -> dict[str, Any]:
        k = self.kernel
        return {**super().describe(), "runner": k.runner, "accel": k.accel, "cpus": k.cpus,
                "memory_mb": k.memory_mb, "writer": k.writer, "icount": k.icount,
                "repeats": k.repeats, "warmup": k.warmup}

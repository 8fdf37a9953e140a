"""``target=kernel``: the cowrl module in a real Linux kernel (qemu guest, or this host)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from cowrl.errors import CowrlError
from cowrl.kernel.config import KernelConfig
from cowrl.metrics import RunRecord
from cowrl.policies.base import Policy
from cowrl.targets.base import Plan, Target


def kernel_unsupported(policy: Policy) -> str | None:
    """Why the module cannot run ``policy`` (it reads the future, or has no kernel form)."""
    from cowrl.kernel.jobs import kernel_plan

    try:
        kernel_plan(policy)
    except CowrlError as e:
        return str(e)
    return None


class KernelTarget(Target):
    """Every run of a plan in one guest boot: the replay harness with the module loaded.

    Where the kernel is comes from ``kernel`` (Hydra group ``kernel``,
    :class:`~cowrl.kernel.config.KernelConfig`): ``runner: qemu`` boots the
    Debian kernel under qemu (KVM when it works, else TCG), ``runner: host``
    loads the module into the running kernel. ``kernel.repeats`` and
    ``kernel.warmup`` apply (:func:`cowrl.kernel.backend.run_repeated`).

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
        self.name = name
        self.costmodel = costmodel
        self.calibration_name = costmodel

    def unsupported(self, policy: Policy) -> str | None:
        return kernel_unsupported(policy)

    def run(self, plan: Plan) -> list[RunRecord]:
        from cowrl.kernel.backend import run_repeated, run_session
        from cowrl.kernel.jobs import RunRequest

        def session(runs: list[tuple[Policy, Any]]) -> list[RunRecord]:
            reqs = [RunRequest(trace=t, policy=p, module=self.kernel.module) for p, t in runs]
            return run_session(reqs, self.kernel, progress=plan.progress).records

        records = run_repeated(plan.runs, plan.repeats or self.kernel.repeats,
                               self.kernel.warmup, session)
        for rec in records:
            rec.target = self.name
        return records

    def describe(self) -> dict[str, Any]:
        k = self.kernel
        return {**super().describe(), "runner": k.runner, "accel": k.accel, "cpus": k.cpus,
                "memory_mb": k.memory_mb, "writer": k.writer, "icount": k.icount,
                "repeats": k.repeats, "warmup": k.warmup}

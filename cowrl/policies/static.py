"""Static policies: the same decision at every fault."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cowrl.errors import ConfigError
from cowrl.policies.base import FaultContext, Policy


class StaticPrecopy(Policy):
    """Precopy the next ``k`` pages at every demand fault (``k=0`` is the kernel's baseline)."""

    def __init__(self, k: int = 1, name: str | None = None) -> None:
        if int(k) != k or k < 0:
            raise ConfigError(f"policy.k must be a non-negative integer, got {k!r}")
        self.static_k = int(k)
        self.name = name or f"precopy{k}"

    artifact_kind = "static"

    def decide(self, ctx: FaultContext) -> int:
        return self.static_k  # type: ignore[return-value]

    def artifact_spec(self) -> dict[str, Any]:
        return {"k": int(self.static_k)}  # type: ignore[arg-type]

    @classmethod
    def from_artifact(cls, spec: dict[str, Any], name: str, directory: Path) -> Policy:
        return StaticPrecopy(k=spec["k"], name=name)


class Baseline(StaticPrecopy):
    """Linux's behaviour: copy only the faulting page."""

    def __init__(self, name: str = "baseline") -> None:
        super().__init__(k=0, name=name)


class NoModule(Baseline):
    """Linux without the cowrl module: the baseline's faults with nothing hooked.

    On the kernel target its runs go without the module loaded (``kernel_module``), which
    measures what observing costs; the simulator has no term for the hook, so there it is
    the baseline.
    """

    kernel_module = False
    artifact_kind = None  # saved as a static k=0 it would come back with the module

    def __init__(self, name: str = "nomodule") -> None:
        super().__init__(name=name)


class HugePage(StaticPrecopy):
    """Back the region with THP (2 MiB); no precopy. The cost model's THP part prices it."""

    thp = True

    def __init__(self, name: str = "hugepage") -> None:
        super().__init__(k=0, name=name)


class FaultAround(StaticPrecopy):
    """A fixed 16-page window: the COW analogue of Linux's 64 KiB fault-around."""

    def __init__(self, k: int = 16, name: str = "fault_around") -> None:
        super().__init__(k=k, name=name)

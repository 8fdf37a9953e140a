"""The policy interface shared by static, oracle and learned precopy policies.

At every COW *demand* fault the simulator (or the kernel module, for policies
that can be compiled to a kernel program) asks the policy for a precopy degree
``k >= 0``: how many pages after the faulting page to make private in the same
fault. ``FaultContext`` holds only what the kernel module can also observe at a
fault, so a policy that decides from it can be deployed in the module. The
replay engine (:mod:`cowrl.sim.engine`) builds it and, after the fault, hands
the policy a ``FaultEvent`` (:meth:`Policy.observe`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from cowrl.sim.context import FaultContext, FaultEvent

if TYPE_CHECKING:
    from pathlib import Path

    from cowrl.sim.costmodel import CostModel
    from cowrl.traces.io import Trace

__all__ = ["FaultContext", "FaultEvent", "KernelProgram", "Policy"]


@dataclass(frozen=True)
class KernelProgram:
    """What a policy pushes to the kernel module through the ioctl ABI."""

    mode: str  # "static", or "table" (table.decide: "table" or "readahead")
    k: int = 0
    thp: bool = False
    table: Any = None


class Policy:
    """Base class. Subclasses set ``name`` and implement :meth:`decide`."""

    name: str = "policy"
    thp: ClassVar[bool] = False
    """Back the region with transparent huge pages (2 MiB-aligned)."""
    static_k: int | None = None
    """The degree used at every fault, when the policy is static (the module's STATIC mode:
    no run-time decision, no ``decide_ns``)."""
    decide_program: ClassVar[str] = "table"
    """The module program that decides ``k`` at run time for this policy, whose cost the
    cost model charges (:meth:`CostModel.decide_cost`): a TABLE lookup unless a subclass
    runs another one. Static policies decide nothing."""
    needs_future: ClassVar[bool] = False
    """True for policies that read the rest of the trace (oracle): simulator only."""
    kernel_module: ClassVar[bool] = True
    """False: the kernel target runs it with the cowrl module unloaded (``NoModule``: what
    the module's mere presence costs)."""

    artifact_kind: ClassVar[str | None] = None
    """The artifact kind (``cowrl.policies.artifacts.ARTIFACT_KINDS``) this policy saves as."""

    def artifact_spec(self) -> dict[str, Any]:
        """What :meth:`from_artifact` needs to rebuild this policy (``policy`` in the JSON)."""
        raise NotImplementedError(f"policy {self.name!r} cannot be saved as an artifact")

    @classmethod
    def from_artifact(cls, spec: dict[str, Any], name: str, directory: Path) -> Policy:
        """Rebuild a policy saved with :meth:`artifact_spec` (``directory``: the artifact's)."""
        raise NotImplementedError(f"{cls.__name__} has no artifact form")

    def reset(self, n_pages: int, seed: int | None = None) -> None:  # noqa: B027
        """Start a new run over a region of ``n_pages`` pages."""

    def decide(self, ctx: FaultContext) -> int:
        raise NotImplementedError

    def observe(self, ctx: FaultContext, event: FaultEvent) -> None:  # noqa: B027
        """Feedback after the fault ``ctx``: what applying the degree did (and cost)."""

    def kernel_program(self) -> KernelProgram:
        """The module-side form of this policy; raises if it cannot run in the kernel."""
        if self.static_k is not None:
            return KernelProgram(mode="static", k=int(self.static_k), thp=self.thp)
        raise NotImplementedError(f"policy {self.name!r} has no kernel program")

    def replay_program(self) -> KernelProgram | None:
        """The program the engine may run instead of calling :meth:`decide` at every fault
        (same decisions, compiled), or None. Static policies have one."""
        if self.static_k is not None:
            return KernelProgram(mode="static", k=int(self.static_k), thp=self.thp)
        return None

    def for_trace(self, trace: Trace, cost: CostModel, seed: int | None = None) -> Policy:
        """The policy to replay ``trace`` with: as deployed under ``cost``
        (:meth:`deployed_under`: itself, or a frozen bandit's, ``guarded``'s or a shielded
        network's form with ``cost``'s budget), or, for policies chosen per trace in hindsight
        (``precopy_best``, the oracle), the chosen one."""
        return self.deployed_under(cost)

    def deployed_under(self, cost: CostModel) -> Policy:
        """The policy as deployed under ``cost``, whatever the trace: itself, or, where the
        deployed form follows the cost model (a frozen bandit, ``guarded`` with ``costmodel:
        auto``), that form."""
        return self

    def priced(self, cost: CostModel) -> CostModel:
        """The cost model this policy's runs are priced by under ``cost``: ``cost`` itself,
        unless the policy's module run pays more per copied page (guarded ``proof: 1``:
        :meth:`CostModel.with_clean`). The simulator (``simulate``) and the table learner
        ask here, so every evaluation prices a policy alike."""
        return cost

    def run_extra(self) -> dict[str, Any]:
        """Extra fields for the run's record (e.g. the degree ``precopy_best`` chose)."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

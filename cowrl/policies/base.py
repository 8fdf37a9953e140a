"""The policy interface shared by static, oracle and learned precopy policies.

At every COW *demand* fault the simulator (or the kernel module, for policies
that can be compiled to a kernel program) asks the policy for a precopy degree
``k >= 0``: how many pages after the faulting page to make private in the same
fault. ``FaultContext`` holds only what the kernel module can also observe at a
fault, so a policy that decides from it can be deployed in the module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class FaultContext:
    """What is observable at one demand fault (in the simulator and in the module)."""

    page: int
    """Faulting page index within the region."""
    n_pages: int
    """Region size in pages."""
    fault_index: int
    """Demand faults seen before this one in this run."""
    prev_page: int
    """Page of the previous demand fault, or -1."""
    prev_k: int
    """Degree applied at the previous demand fault (0 if none)."""
    private_pages: int
    """Pages already private (demand-copied plus precopied) before this fault."""
    write_index: int = -1
    """Position of the faulting write in the trace (simulator only; -1 in the kernel)."""


@dataclass(frozen=True)
class KernelProgram:
    """What a policy pushes to the kernel module through the ioctl ABI."""

    mode: str  # "static" now; "table" for learned policies
    k: int = 0
    thp: bool = False
    table: Any = None


class Policy:
    """Base class. Subclasses set ``name`` and implement :meth:`decide`."""

    name: str = "policy"
    thp: ClassVar[bool] = False
    """Back the region with transparent huge pages (2 MiB-aligned)."""
    static_k: int | None = None
    """The degree used at every fault, when the policy is static (enables the fast path)."""
    needs_future: ClassVar[bool] = False
    """True for policies that read the rest of the trace (oracle): simulator only."""

    def reset(self, n_pages: int, seed: int | None = None) -> None:  # noqa: B027
        """Start a new run over a region of ``n_pages`` pages."""

    def decide(self, ctx: FaultContext) -> int:
        raise NotImplementedError

    def observe(self, ctx: FaultContext, k: int, fault_ns: float, precopied: int) -> None:  # noqa: B027
        """Feedback after the fault ``ctx``: degree applied, its latency, pages precopied."""

    def kernel_program(self) -> KernelProgram:
        """The module-side form of this policy; raises if it cannot run in the kernel."""
        if self.static_k is not None:
            return KernelProgram(mode="static", k=int(self.static_k), thp=self.thp)
        raise NotImplementedError(f"policy {self.name!r} has no kernel program")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

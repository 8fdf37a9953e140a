"""``TablePolicy``: a frozen context-cell -> degree table, the form every learned policy deploys.

At each demand fault the policy computes the integer context of
:mod:`cowrl.policies.context` and looks the degree up in a table of
:data:`~cowrl.policies.context.N_CELLS` entries. The module runs the same
code (``kernel_module/cowrl_policy.h``), so what the simulator evaluates is
what the kernel executes, decision for decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cowrl.errors import ConfigError
from cowrl.policies.base import FaultContext, KernelProgram, Policy
from cowrl.policies.context import N_CELLS, ContextSpec, Fault, StreamContext, describe_cell

MAX_TABLE_K = 512  # COWRL_MAX_K of the uapi header


def check_table(table: Sequence[int], field: str = "table") -> list[int]:
    vals = [int(k) for k in table]
    if len(vals) != N_CELLS:
        raise ConfigError(f"{field}: expected {N_CELLS} entries, got {len(vals)}")
    bad = [k for k in vals if not 0 <= k <= MAX_TABLE_K]
    if bad:
        raise ConfigError(f"{field}: degrees must be in 0..{MAX_TABLE_K}, got {bad[0]}")
    return vals


class StreamPolicy(Policy):
    """Decides from the per-stream context at each demand fault, as the module does."""

    def __init__(self, context: ContextSpec | dict[str, Any] | None, name: str) -> None:
        self.name = name
        self.spec = ContextSpec.from_any(context)
        self.ctx = StreamContext(self.spec)

    def degree(self, fault: Fault) -> int:
        """The degree for a fault the context has just classified."""
        raise NotImplementedError

    def reset(self, n_pages: int, seed: int | None = None) -> None:
        self.ctx.reset()

    def decide(self, ctx: FaultContext) -> int:
        off = ctx.coord_offset  # the decision's pages (0 but in the one-address layout)
        f = self.ctx.observe_fault(ctx.page + off, ctx.region_start + off)
        k = self.degree(f)
        self.ctx.commit(f, ctx.page + off,
                        (ctx.region_end if ctx.region_end >= 0 else ctx.n_pages) + off, k)
        return k

    def replay_program(self) -> KernelProgram | None:
        # The decisions are the module program's: the engine runs it compiled.
        return self.kernel_program()


class TablePolicy(StreamPolicy):
    """Decide ``k = table[cell(context)]`` at every demand fault (kernel-deployable)."""

    artifact_kind = "table"

    def __init__(self, table: Sequence[int], context: ContextSpec | dict[str, Any] | None = None,
                 name: str = "table") -> None:
        self.table = check_table(table)
        super().__init__(context, name)

    def degree(self, fault: Fault) -> int:
        return self.table[fault.cell]

    def kernel_program(self) -> KernelProgram:
        return KernelProgram(mode="table", k=0, thp=False, table={
            "decide": "table", "slots": self.spec.slots, "near": self.spec.near,
            "cells": list(self.table)})

    def artifact_spec(self) -> dict[str, Any]:
        return {"table": list(self.table), "context": {"slots": self.spec.slots,
                                                       "near": self.spec.near},
                "cells": self.describe()}

    @classmethod
    def from_artifact(cls, spec: dict[str, Any], name: str, directory: Path) -> Policy:
        return TablePolicy(spec["table"], context=spec["context"], name=name)

    def describe(self) -> dict[str, int]:
        """Non-zero entries of the table, keyed by the cell in words."""
        return {describe_cell(c): k for c, k in enumerate(self.table) if k}

"""``readahead``: a non-learned adaptive heuristic, the COW analogue of Linux readahead.

Per stream (the stream slots of :mod:`cowrl.policies.context`, as Linux keeps
readahead state per file), the degree doubles on every sequential hit (the
fault lands right after the stream's last precopy window) from 1 up to
``max_k``, and drops to 0 on a miss (no stream, or a gap). It runs in the
module as ``COWRL_DECIDE_READAHEAD`` (``kernel_module/cowrl_policy.h``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cowrl.errors import ConfigError
from cowrl.policies.base import KernelProgram
from cowrl.policies.context import ContextSpec, Fault
from cowrl.policies.table import StreamPolicy
from cowrl.sim.programs import readahead_k


class Readahead(StreamPolicy):
    """Double k on a sequential hit, reset to 0 on a miss."""

    artifact_kind = "readahead"

    def __init__(self, max_k: int = 64, context: ContextSpec | dict[str, Any] | None = None,
                 name: str = "readahead") -> None:
        if isinstance(max_k, bool) or not isinstance(max_k, int) or not 1 <= max_k <= 512:
            raise ConfigError(f"policy.max_k must be an integer in 1..512, got {max_k!r}")
        self.max_k = max_k
        super().__init__(context, name)

    def degree(self, fault: Fault) -> int:
        return int(readahead_k(int(fault.matched), fault.gap, fault.slot_k, self.max_k))

    def kernel_program(self) -> KernelProgram:
        return KernelProgram(mode="table", table={
            "decide": "readahead", "slots": self.spec.slots, "near": self.spec.near,
            "max_k": self.max_k, "cells": []})

    def artifact_spec(self) -> dict[str, Any]:
        return {"max_k": self.max_k, "context": {"slots": self.spec.slots,
                                                 "near": self.spec.near}}

    @classmethod
    def from_artifact(cls, spec: dict[str, Any], name: str, directory: Path) -> Readahead:
        return Readahead(name=name, **spec)

"""The per-stream context that table policies decide from (what the module computes too).

The rules (stream slots, the cell) are in :mod:`cowrl.sim.programs`, compiled,
shared by the engine's fast replay and by :class:`StreamContext`, which a
Python policy (the learning bandit, a table or readahead asked fault by fault)
steps one fault at a time. ``tests/test_policy_equivalence.py`` checks both
against ``kernel_module/cowrl_policy.h`` decision for decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cowrl.errors import ConfigError
from cowrl.sim.programs import (  # noqa: F401  (the context's sizes, re-exported)
    GAP_BUCKETS,
    MAX_SLOTS,
    N_CELLS,
    RATE_BUCKETS,
    RUN_BUCKETS,
    STATE_BYTES,
    TABLE_BYTES,
    new_stream_state,
    stream_commit,
    stream_observe,
)


def describe_cell(cell: int) -> str:
    """``"exact/run4-7/rate3"``: a cell index in words (for reports and table dumps)."""
    rate_b = cell % RATE_BUCKETS
    run_b = (cell // RATE_BUCKETS) % RUN_BUCKETS
    gap_b = cell // (RATE_BUCKETS * RUN_BUCKETS)
    gap = ("miss", "exact", "near")[gap_b]
    run = ("run0", "run1", "run2-3", "run4-7", "run8+")[run_b]
    return f"{gap}/{run}/rate{rate_b}"


@dataclass(frozen=True)
class ContextSpec:
    """Parameters of the context (pushed to the module with the table)."""

    slots: int = 4
    near: int = 16

    def __post_init__(self) -> None:
        if not isinstance(self.slots, int) or not 1 <= self.slots <= MAX_SLOTS:
            raise ConfigError(f"policy.context.slots must be an integer in 1..{MAX_SLOTS}, "
                              f"got {self.slots!r}")
        if not isinstance(self.near, int) or not 1 <= self.near <= 4096:
            raise ConfigError(f"policy.context.near must be an integer in 1..4096, "
                              f"got {self.near!r}")

    @classmethod
    def from_any(cls, spec: ContextSpec | dict[str, Any] | None) -> ContextSpec:
        if spec is None:
            return cls()
        if isinstance(spec, ContextSpec):
            return spec
        unknown = set(spec) - {"slots", "near"}
        if unknown:
            raise ConfigError(f"policy.context.{sorted(unknown)[0]}: unknown field "
                              "(fields: slots, near)")
        return cls(**{k: int(v) if isinstance(v, float) and v == int(v) else v
                      for k, v in spec.items()})


@dataclass
class Fault:
    """What :meth:`StreamContext.observe_fault` found: the cell and the matched stream."""

    cell: int
    slot: int  # the slot this fault's stream lives in (matched, or newly taken)
    matched: bool
    gap: int
    run: int
    slot_k: int  # the degree last applied in the matched stream (0 for a new stream)


class StreamContext:
    """Integer per-region state of the module's policy, stepped one fault at a time."""

    def __init__(self, spec: ContextSpec | None = None) -> None:
        self.spec = spec or ContextSpec()
        self.reset()

    def reset(self) -> None:
        self.state: np.ndarray = new_stream_state()

    def observe_fault(self, page: int, start: int = 0) -> Fault:
        """First half of a fault: match a stream of the page's region (``start``: its first
        page) and compute the cell."""
        cell, slot, matched, gap, run, slot_k = stream_observe(
            self.state, self.spec.slots, self.spec.near, page, start)
        return Fault(cell=cell, slot=slot, matched=bool(matched), gap=gap, run=run,
                     slot_k=slot_k)

    def commit(self, f: Fault, page: int, limit: int, k: int) -> None:
        """Second half: record the degree applied at this fault (``limit``: the end of the
        page's region)."""
        stream_commit(self.state, f.slot, f.run, page, limit, k)

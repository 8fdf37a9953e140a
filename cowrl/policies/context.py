"""The integer fault context that learned policies decide from, and the module computes too.

This is the Python reference of ``kernel_module/cowrl_policy.h``: every
operation here is integer arithmetic that the header repeats line for line,
and ``tests/test_policy_equivalence.py`` replays recorded fault streams
through both and checks they agree decision for decision.

**Streams.** Linux readahead keeps state per open file; a COW region written
by several sequential writers (interleaved streams) needs the same, or each
writer's faults look random to the next. The context keeps ``slots`` stream
slots (default 4). Each slot remembers the end of the last precopy window it
issued (``end = min(page + k, n_pages - 1)``) and its run of matched faults.
A fault at ``page`` *matches* the slot whose window end lies just behind it,
``1 <= page - end <= near``, the smallest such gap winning (lowest slot on a
tie). ``gap == 1`` is an exact sequential continuation (the whole window was
used and the stream asked for more); ``2..near`` is a strided or sparse
forward stream. A fault that matches no slot starts a new stream in the
least recently used slot.

**Cell.** The decision table is indexed by three small buckets:

* ``gap_b``: 0 no stream matched, 1 exact continuation, 2 near-forward gap;
* ``run_b``: the stream's consecutive matches, log2-bucketed
  (0, 1, 2-3, 4-7, >= 8);
* ``rate_b``: the fraction of recent faults that matched a stream, an EWMA
  with weight 1/8 in fixed point (``MATCH_ONE = 256``), split in quarters.

``cell = (gap_b * RUN_BUCKETS + run_b) * RATE_BUCKETS + rate_b`` (60 cells).

The state also carries :class:`~cowrl.policies.features.FaultHistory`'s
integer part (``run``, ``hit_rate_fp``, ``last_seq_hit``), updated exactly as
``features.py`` does, so the module can export the same history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cowrl.errors import ConfigError
from cowrl.policies.features import HIT_RATE_ONE

GAP_BUCKETS = 3
RUN_BUCKETS = 5
RATE_BUCKETS = 4
N_CELLS = GAP_BUCKETS * RUN_BUCKETS * RATE_BUCKETS
MATCH_ONE = 256  # fixed-point 1.0 of the stream-match EWMA
RUN_CAP = 255  # runs saturate (a u8 in the module)
MAX_SLOTS = 16
STATE_BYTES = 64 + 24 * MAX_SLOTS  # sizeof(struct cowrl_policy_state)
TABLE_BYTES = 24 + 2 * N_CELLS  # sizeof(struct cowrl_policy_table), the ioctl payload


def asr3(x: int) -> int:
    """``floor(x / 8)``: Python's ``>> 3``; the header spells it out for negative ``x``."""
    return x >> 3


def run_bucket(run: int) -> int:
    if run <= 0:
        return 0
    if run == 1:
        return 1
    if run < 4:
        return 2
    if run < 8:
        return 3
    return 4


def cell_of(gap_b: int, run_b: int, rate_b: int) -> int:
    return (gap_b * RUN_BUCKETS + run_b) * RATE_BUCKETS + rate_b


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
    """Integer per-region state of the module's policy (see the module docstring)."""

    def __init__(self, spec: ContextSpec | None = None) -> None:
        self.spec = spec or ContextSpec()
        self.reset()

    def reset(self) -> None:
        s = self.spec.slots
        self.valid = [0] * s
        self.end = [0] * s
        self.run = [0] * s
        self.k = [0] * s
        self.stamp = [0] * s
        self.n_faults = 0
        self.match_rate = 0
        # FaultHistory's integer state, updated exactly as features.py does.
        self.prev_page = -1
        self.prev_k = 0
        self.fh_run = 0
        self.fh_hit_rate = 0
        self.fh_last_seq_hit = 0

    def observe_fault(self, page: int) -> Fault:
        """First half of a fault: match a stream and compute the cell (no state change yet
        beyond the histories, which do not depend on the decision)."""
        seq_hit = int(self.prev_page >= 0 and page == self.prev_page + self.prev_k + 1)
        self.fh_run = self.fh_run + 1 if seq_hit else 0
        self.fh_hit_rate += asr3(seq_hit * HIT_RATE_ONE - self.fh_hit_rate)
        self.fh_last_seq_hit = seq_hit

        best, best_gap = -1, self.spec.near + 1
        for i in range(self.spec.slots):
            if self.valid[i]:
                gap = page - self.end[i]
                if 1 <= gap < best_gap:
                    best, best_gap = i, gap
        matched = best >= 0
        if matched:
            run = min(self.run[best] + 1, RUN_CAP)
            slot, gap, slot_k = best, best_gap, self.k[best]
            gap_b = 1 if gap == 1 else 2
        else:
            run, gap, slot_k, gap_b = 0, 0, 0, 0
            slot = 0
            for i in range(self.spec.slots):  # LRU victim: an empty slot, else the oldest
                if not self.valid[i]:
                    slot = i
                    break
                if self.stamp[i] < self.stamp[slot]:
                    slot = i
        self.match_rate += asr3(int(matched) * MATCH_ONE - self.match_rate)
        rate_b = min(self.match_rate >> 6, RATE_BUCKETS - 1)
        cell = cell_of(gap_b, run_bucket(run), rate_b)
        return Fault(cell=cell, slot=slot, matched=matched, gap=gap, run=run, slot_k=slot_k)

    def commit(self, f: Fault, page: int, n_pages: int, k: int) -> None:
        """Second half: record the degree applied at this fault."""
        s = f.slot
        self.n_faults += 1
        self.valid[s] = 1
        self.end[s] = max(min(page + k, n_pages - 1), page)
        self.run[s] = f.run
        self.k[s] = k
        self.stamp[s] = self.n_faults
        self.prev_page = page
        self.prev_k = k

    @staticmethod
    def state_bytes() -> int:
        """Bytes of module state per region: sizeof(struct cowrl_policy_state) in the header."""
        return STATE_BYTES

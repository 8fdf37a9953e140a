"""Features of the recent fault history, computable in the kernel module with integers.

Both the gymnasium observation and the contextual policies use
:class:`FaultHistory`. Every feature derives from what the module sees at a
demand fault (page, previous page, previous degree, pages already private), so
a policy trained on them can be compiled to a module decision table.

A *sequential hit* is a fault that lands on the page right after the previous
fault's precopy window (``page == prev_page + prev_k + 1``): the stream used
the whole window and asked for more. Its exponentially weighted rate (weight
1/8, a shift in the module) stands in for the hit rate of recent precopies,
which the kernel cannot observe directly (a precopied page that is later
written takes no fault).
"""

from __future__ import annotations

import math

import numpy as np

from cowrl.policies.base import FaultContext

N_FEATURES = 7
FEATURE_NAMES = (
    "delta_log",      # sign(delta) * log2(1 + |delta|) / log2(n_pages), delta = page - prev_page
    "seq_hit",        # 1 if page == prev_page + prev_k + 1
    "run_log",        # log2(1 + consecutive sequential hits) / 8, clipped to 1
    "hit_rate",       # EWMA of seq_hit, weight 1/8
    "to_end",         # (n_pages - 1 - page) / n_pages
    "private_frac",   # private pages / n_pages
    "prev_k_log",     # log2(1 + prev_k) / 7, clipped to 1
)
HIT_RATE_ONE = 256  # fixed-point 1.0 of the hit-rate EWMA, as in the module


class FaultHistory:
    """Running fault-history state; :meth:`update` returns the feature vector of a fault."""

    __slots__ = ("run", "hit_rate_fp", "last_seq_hit")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.run = 0
        self.hit_rate_fp = 0  # fixed point, HIT_RATE_ONE == 1.0
        self.last_seq_hit = 0

    def update(self, ctx: FaultContext) -> np.ndarray:
        seq_hit = int(ctx.prev_page >= 0 and ctx.page == ctx.prev_page + ctx.prev_k + 1)
        self.run = self.run + 1 if seq_hit else 0
        # EWMA with weight 1/8 in integers: r += (x - r) >> 3, as the module computes it.
        self.hit_rate_fp += (seq_hit * HIT_RATE_ONE - self.hit_rate_fp) >> 3
        self.last_seq_hit = seq_hit
        n = max(ctx.n_pages, 2)
        delta = ctx.page - ctx.prev_page if ctx.prev_page >= 0 else 0
        delta_log = math.copysign(math.log2(1 + abs(delta)), delta) / math.log2(n)
        return np.array([
            delta_log,
            float(seq_hit),
            min(1.0, math.log2(1 + self.run) / 8.0),
            self.hit_rate_fp / HIT_RATE_ONE,
            (ctx.n_pages - 1 - ctx.page) / n,
            ctx.private_pages / n,
            min(1.0, math.log2(1 + ctx.prev_k) / 7.0),
        ], dtype=np.float32)

"""The oracle: sees the rest of the trace. Simulator only.

It runs a greedy look-ahead policy (at each fault, precopy the prefix of the
next pages whose known future writes make it pay) and every static policy of
its candidate set, and keeps the run with the lowest objective. By
construction it is never worse than any static policy in that set.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cowrl.metrics import objective
from cowrl.policies.base import FaultContext, Policy
from cowrl.policies.static import Baseline, HugePage, StaticPrecopy
from cowrl.sim.costmodel import CostModel
from cowrl.traces.io import Trace


class GreedyLookahead(Policy):
    """Precopy the window prefix with the largest known net gain (needs the trace)."""

    def __init__(self, written: np.ndarray, cost: CostModel, lam: float, max_k: int = 64) -> None:
        self.name = "lookahead"
        self.written = written
        self.max_k = max_k
        self.gain_useful = cost.fault_ns + cost.copy_ns - cost.precopy_ns
        self.loss_waste = cost.precopy_ns + lam * cost.page_cost_ns
        self.private = bytearray(0)

    def reset(self, n_pages: int, seed: int | None = None) -> None:
        self.private = bytearray(n_pages)

    def observe(self, ctx: FaultContext, k: int, fault_ns: float, precopied: int) -> None:
        # Mirror the simulator's page state: the faulting page and its window are now private.
        hi = max(min(ctx.page + k, ctx.n_pages - 1), ctx.page) + 1
        self.private[ctx.page:hi] = b"\x01" * (hi - ctx.page)

    def decide(self, ctx: FaultContext) -> int:
        hi = min(ctx.page + self.max_k, ctx.n_pages - 1)
        if hi <= ctx.page:
            return 0
        w = self.written[ctx.page + 1:hi + 1]
        gains = np.where(w, self.gain_useful, -self.loss_waste)
        priv = np.frombuffer(bytes(self.private[ctx.page + 1:hi + 1]), dtype=np.uint8)
        gains[priv.astype(bool)] = 0.0
        c = np.cumsum(gains)
        j = int(np.argmax(c))
        return j + 1 if c[j] > 0 else 0


class Oracle(Policy):
    """Best of a greedy look-ahead and a set of static policies, in hindsight."""

    needs_future = True

    def __init__(self, lam: float = 1.0, candidates: Sequence[int] = (0, 1, 2, 4, 8, 16, 32, 64),
                 include_thp: bool = True, name: str = "oracle") -> None:
        self.name = name
        self.lam = float(lam)
        self.candidates = tuple(int(k) for k in candidates)
        self.include_thp = include_thp

    def decide(self, ctx: FaultContext) -> int:  # pragma: no cover - never called
        raise RuntimeError("the oracle runs through simulate_oracle")


def simulate_oracle(trace: Trace, oracle: Oracle, cost: CostModel, seed: int | None = None,
                    record_events: bool = False, target: str = "sim") -> Any:
    from cowrl.sim import simulator as S

    written = S.written_mask(trace)
    greedy = GreedyLookahead(written, cost, oracle.lam)
    runs: list[tuple[float, str, Any]] = []

    def _run(policy: Policy) -> None:
        out = S.simulate(trace, policy, cost, seed=seed, record_events=record_events,
                         target=target)
        rec = out[0] if record_events else out
        obj = objective(rec, oracle.lam, cost.page_cost_ns)
        runs.append((obj, policy.name, out))

    _run(greedy)
    for k in oracle.candidates:
        _run(Baseline() if k == 0 else StaticPrecopy(k))
    if oracle.include_thp:
        _run(HugePage())
    best = min(runs, key=lambda r: r[0])
    out = best[2]
    rec = out[0] if record_events else out
    rec.policy = oracle.name
    rec.extra["oracle_choice"] = best[1]
    return out


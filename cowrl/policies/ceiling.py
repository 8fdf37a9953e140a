"""The safe ceiling: the most any precopy policy can gain on a trace without ever costing more
than ``1 + slack`` times baseline on a prefix of it. Simulator only; a bound, not a policy.

Why prefixes. A policy decides at a fault from what it has seen, so on a trace and on any
prefix of it (the same writes, then the process exits) it copies the same pages up to the
prefix's end. The prefix is a trace too, and a pending copy (made, not yet written) is wasted
in it. So a policy that keeps "no trace costs more than ``1 + slack`` x baseline" (issue #10's
safety target, ``slack = 0.02``) keeps, at every point ``t`` of every trace,

    loss(t) = L * pending(t) - sum of g over the pages saved by t <= slack * B(t)

where ``B(t)`` is baseline's cost of the prefix (its demand faults so far), ``L =
precopy_ns + lambda * page_cost_ns`` what a copied page costs if never written, and ``g =
demand fault - precopy_ns`` what a copied page saves once written. Window set-up, skips,
decisions, proof reads and cleans only add to a real policy's loss and are left out, and the
pages copied are free: any set, not only a window after the fault, at most 64 pages, or in one
region. That relaxation makes the figure an upper bound on every precopy policy that meets the
safety target on all traces, online or clairvoyant, learned or not.

The bound itself is computed exactly by a greedy schedule that knows the future: at each
demand fault copy the next pages to be first written, as many as the inequality allows right
after the copy. With every demand fault priced alike (the cost models without noise) no
schedule saves more pages: if one saved the page after the greedy's coverage without a fault,
it held that page and all before it pending at the greedy's fault, with no more saved pages
than the greedy had (by induction on the faults), and so broke the same inequality; the proof
is in docs/policies.md, "The safe ceiling", and ``tests/test_ceiling.py`` checks it against an
exhaustive search over every copy schedule on small traces.

What it says. Where the ceiling's gain is below 60% of the oracle's, or its objective above
1.10 x the best fixed k's, no policy that is safe on every trace can meet that target on the
trace: the targets conflict there, whatever the learner. Where it is above, the bound says
nothing about an online policy's chances (the ceiling sees the future).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cowrl.errors import ConfigError
from cowrl.policies.static import Baseline
from cowrl.sim.costmodel import CostModel
from cowrl.traces.io import Trace


@dataclass(frozen=True)
class Ceiling:
    """The safe ceiling of one trace: its objective, baseline's, the pages it saves (copies
    that are later written: it wastes none) and the demand faults it still takes."""

    objective: float
    baseline: float
    saved: int
    faults: int
    first_fault_saved: int  # index (in first writes) of the first page saved, -1 if none

    @property
    def ratio(self) -> float:
        return self.objective / self.baseline if self.baseline > 0 else 1.0


def _check_loss(loss_ns: float) -> None:
    if loss_ns <= 0:
        raise ConfigError(f"safe ceiling: loss_ns must be positive, got {loss_ns}")


def _loss(cost: CostModel, lam: float, slack: float) -> float:
    """What a copy never written costs under ``cost`` (``L``); a ConfigError for a ``slack``
    outside [0, 1)."""
    if not (0 <= slack < 1):
        raise ConfigError(f"safe ceiling: slack must be in [0, 1), got {slack}")
    return cost.page_prices(lam)[1]


def greedy_saved(demand: np.ndarray, precopy_ns: float, loss_ns: float, slack: float) -> np.ndarray:
    """The pages (indices into ``demand``, first writes in order) that the greedy schedule
    saves, given baseline's cost ``demand[i]`` of each first write, what a copy costs
    (``precopy_ns``) and what a copy never written costs (``loss_ns``)."""
    n = len(demand)
    budget_base = slack * np.cumsum(demand)  # slack x B after first write i
    gain = np.asarray(demand, dtype=np.float64) - precopy_ns
    saved = np.zeros(n, dtype=bool)
    _check_loss(loss_ns)
    proven = 0.0  # sum of gain over the pages saved so far
    a = 0
    while a < n:  # a: a demand fault (its page is not saved)
        m = int((budget_base[a] + proven) // loss_ns) if budget_base[a] + proven > 0 else 0
        hi = min(a + m, n - 1)
        if hi > a:
            seg = gain[a + 1:hi + 1]
            if np.any(seg <= 0):  # a copy that saves nothing is never worth it: stop before
                stop = int(np.argmax(seg <= 0))
                hi = a + stop
            saved[a + 1:hi + 1] = True
            proven += float(gain[a + 1:hi + 1].sum())
        a = hi + 1
    return saved


def safe_ceiling(trace: Trace, cost: CostModel, lam: float = 1.0, slack: float = 0.02
                 ) -> Ceiling:
    """The safe ceiling of ``trace`` under ``cost`` (see the module docstring): the lowest
    objective of any precopy policy whose objective on every prefix of ``trace`` is at most
    ``1 + slack`` times baseline's."""
    from cowrl.sim.simulator import simulate

    loss = _loss(cost, lam, slack)
    rec = simulate(trace, Baseline(), cost)
    demand = np.asarray(rec.fault_ns, dtype=np.float64)  # baseline faults = first writes
    base = float(demand.sum())
    saved = greedy_saved(demand, cost.precopy_ns, loss, slack)
    gain = float((demand[saved] - cost.precopy_ns).sum())
    first = int(np.argmax(saved)) if saved.any() else -1
    return Ceiling(objective=base - gain, baseline=base, saved=int(saved.sum()),
                   faults=int(len(demand) - saved.sum()), first_fault_saved=first)


def unknown_order_saved(uncertain: np.ndarray, demand: float, precopy_ns: float,
                        loss_ns: float, slack: float) -> float:
    """An upper bound on the *expected* pages saved by any online policy that meets the
    safety target on every trace, when the writes come in an order it cannot know:
    ``uncertain[n]`` is a number such that, given everything up to the ``n``-th first write,
    no page not yet written has a chance above ``1 / uncertain[n]`` of being the next first
    write (a uniformly random fill of N pages: ``N - n``; one chunk after another, each in
    random order: the pages left in the chunk). Every first write costs ``demand`` at
    baseline.

    At each step the pages it holds copied and unwritten (``pending``) are at most
    ``(slack x B + g x saved) / L`` (the safety inequality of the module docstring) and at
    most ``uncertain[n]`` of them can be the next write, so the expected pages saved grow by
    at most ``min(pending, uncertain) / uncertain``; the recursion below takes that bound
    step by step (it is linear in the expected saved pages, so the bound passes through
    the expectation). It holds for randomized policies too, and whatever pages they copy."""
    g = demand - precopy_ns
    if g <= 0:
        return 0.0
    _check_loss(loss_ns)
    w = 0.0
    for n, r in enumerate(np.asarray(uncertain, dtype=np.float64)):
        if r <= 0:
            raise ConfigError(f"safe ceiling: uncertain[{n}] must be positive, got {r}")
        pending = (slack * demand * n + g * w) / loss_ns  # after the n-th first write
        w += min(pending, r) / r
    return w


def segment_uncertainty(pages: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``uncertain`` for writes that fill segments one after another, each in random order
    (the ``dense_chunks`` family; a uniformly random fill is one segment): segment ``i`` holds
    pages ``edges[i] .. edges[i+1] - 1``, and at each first write of ``pages`` (in trace
    order; later writes to a page are not first writes) the next one is any of the pages of
    its segment not yet written, or, at a segment's first write, any page of a segment not
    begun. The bound holds where that describes how the writes were drawn, not for an
    arbitrary trace."""
    pages = np.asarray(pages, dtype=np.int64)
    _, first = np.unique(pages, return_index=True)
    order = pages[np.sort(first)]
    seg = np.searchsorted(np.asarray(edges), order, side="right") - 1
    sizes = np.diff(np.asarray(edges, dtype=np.float64))
    if len(order) and (seg.min() < 0 or seg.max() >= len(sizes)):
        raise ConfigError("safe ceiling: a page lies outside the segments' edges")
    out = np.empty(len(order), dtype=np.float64)
    done: dict[int, int] = {}
    for n, sgm in enumerate(seg):
        j = done.get(int(sgm), 0)
        out[n] = sizes[sgm] - j
        done[int(sgm)] = j + 1
    return out


def unknown_order_ceiling(uncertain: np.ndarray, cost: CostModel, lam: float = 1.0,
                          slack: float = 0.02) -> float:
    """The bound of :func:`unknown_order_saved` as an expected objective / baseline: no online
    policy meeting the safety target has an expected ratio below it on such writes."""
    demand = cost.demand_ns
    w = unknown_order_saved(uncertain, demand, cost.precopy_ns, _loss(cost, lam, slack), slack)
    m = len(uncertain)
    return 1.0 - w * (demand - cost.precopy_ns) / (m * demand) if m else 1.0

"""One metrics schema for every target (simulator and kernel).

Every row of ``results.json`` has the fields in :data:`FIELDS`. Per-fault
figures are what the seed study measured; they are biased in precopy's favour
because precopy removes faults from the denominator. The per-write and total
figures (``write_*``, ``cow_ns``, ``objective``) are the honest ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit

FIELDS: tuple[str, ...] = (
    "policy", "workload", "target",
    "writes", "faults", "precopied", "wasted",
    "cow_ns",
    "fault_avg_ns", "fault_min_ns", "fault_max_ns", "fault_p99_ns",
    "write_p50_ns", "write_p99_ns", "write_max_ns",
    "objective", "lambda", "page_cost_ns",
)


@dataclass
class RunRecord:
    """Raw outcome of one (policy, workload) run on one target.

    ``fault_ns`` holds one latency per demand fault, on the critical path of the
    faulting write (trap, copy and any synchronous precopy work). Per-write
    latencies are ``write_ns`` when measured one by one (kernel target);
    otherwise every write that took no fault costs ``nonfault_write_ns``
    (simulator), which avoids materialising millions of equal values.
    """

    policy: str
    workload: str
    target: str
    n_pages: int
    writes: int
    faults: int
    precopied: int
    wasted: int
    fault_ns: np.ndarray
    write_ns: np.ndarray | None = None
    nonfault_write_ns: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _order_stats(x: np.ndarray, ranks: list[int]) -> dict[int, float]:
    """The values of ranks ``ranks`` (0-based) of ``x`` sorted, by selection (O(n), not a sort:
    a run can hold 10^8 latencies)."""
    want = sorted(set(ranks))
    if not want:
        return {}
    part = np.partition(x, want)
    return {r: float(part[r]) for r in want}


def _rank(q: float, n: int) -> int:
    """The (lower) quantile's 0-based rank among ``n`` values."""
    return min(n - 1, max(0, int(np.ceil(q * n)) - 1))


def write_quantiles(rec: RunRecord, qs: tuple[float, ...] = (0.5, 0.99, 1.0)) -> list[float]:
    """Per-write latency quantiles over *all* writes, including those that took no fault.

    Simulator records hold the faults' latencies and one constant for the other
    ``writes - faults`` writes: the quantile of that mixture is read off the faults'
    order statistics, without materialising the constant writes.
    """
    if rec.write_ns is not None:
        w = np.asarray(rec.write_ns, dtype=np.float64)
        stats = _order_stats(w, [_rank(q, w.size) for q in qs])
        return [stats[_rank(q, w.size)] for q in qs]
    f = np.asarray(rec.fault_ns, dtype=np.float64)
    n_const, const = rec.writes - rec.faults, float(rec.nonfault_write_ns)
    n = f.size + n_const
    below = int(np.count_nonzero(f < const))  # faults cheaper than a plain write
    where: list[tuple[str, int]] = []
    for q in qs:
        r = _rank(q, n)
        if r < below:
            where.append(("f", r))
        elif r < below + n_const:
            where.append(("c", 0))
        else:
            where.append(("f", r - n_const))
    stats = _order_stats(f, [r for kind, r in where if kind == "f"])
    return [stats[r] if kind == "f" else const for kind, r in where]


_CDF_POINTS = 2048


@njit(cache=True, nogil=True)
def _log_histogram(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of ``x`` in the bins ``(edges[b], edges[b + 1]]`` (the first one closed),
    for log-spaced ``edges``: the bin from the logarithm, then checked against the edges
    themselves so that every count is exact at its upper edge."""
    bins = edges.shape[0] - 1
    counts = np.zeros(bins, dtype=np.int64)
    lo = math.log(edges[0])
    scale = bins / (math.log(edges[bins]) - lo)
    for v in x:
        b = min(max(int((math.log(v) - lo) * scale), 0), bins - 1)
        while b > 0 and v <= edges[b]:
            b -= 1
        while b < bins - 1 and v > edges[b + 1]:
            b += 1
        counts[b] += 1
    return counts


def latency_distribution(rec: RunRecord, max_points: int = _CDF_POINTS
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Per-write latencies as ``(values, counts)``, ascending, including writes without a fault.

    Exact (every distinct latency) when there are at most ``max_points`` writes'
    latencies to look at; otherwise counts in ``max_points`` log-spaced bins, each
    reported at its upper edge (O(n): a CDF plot of 10^8 faults draws 2048 steps).
    """
    vals = np.asarray(rec.write_ns if rec.write_ns is not None else rec.fault_ns,
                      dtype=np.float64)
    if vals.size <= max_points or vals.min() <= 0:
        x, c = np.unique(vals, return_counts=True)
    elif vals.max() == vals.min():
        x, c = vals[:1].copy(), np.array([vals.size])
    else:
        lo, hi = float(vals.min()), float(vals.max())
        edges = np.geomspace(lo, hi, max_points + 1)
        edges[0], edges[-1] = lo, hi
        c = _log_histogram(vals, edges)
        x = edges[1:]
        keep = c > 0
        x, c = x[keep], c[keep]
    if rec.write_ns is None and rec.writes > rec.faults:
        x = np.concatenate([[float(rec.nonfault_write_ns)], x])
        c = np.concatenate([[rec.writes - rec.faults], c])
        order = np.argsort(x, kind="stable")
        x, c = x[order], c[order]
    return x, c.astype(np.int64)


def objective(rec: RunRecord, lam: float, page_cost_ns: float) -> float:
    """``cow_ns + lam * wasted * page_cost_ns``: the one definition of the objective."""
    return float(np.sum(np.asarray(rec.fault_ns, dtype=np.float64))) \
        + lam * rec.wasted * page_cost_ns


def geomean(xs: Sequence[float]) -> float:
    """Geometric mean (values floored at 1e-300 so a zero cannot give -inf)."""
    return math.exp(sum(math.log(max(float(x), 1e-300)) for x in xs) / len(xs))


def geomean_gain(ratios: Sequence[float]) -> float:
    """The gain over baseline in %: 100 x (1 - geometric mean of objective / baseline); 0 for
    no ratios."""
    return 100 * (1 - geomean(ratios)) if len(ratios) else 0.0


def summarize(rec: RunRecord, lam: float, page_cost_ns: float) -> dict[str, Any]:
    """Turn a :class:`RunRecord` into one results row (all of :data:`FIELDS`, plus extras)."""
    f = np.asarray(rec.fault_ns, dtype=np.float64)
    cow_ns = float(f.sum())
    p50, p99, pmax = write_quantiles(rec)
    row: dict[str, Any] = {
        "policy": rec.policy,
        "workload": rec.workload,
        "target": rec.target,
        "writes": int(rec.writes),
        "faults": int(rec.faults),
        "precopied": int(rec.precopied),
        "wasted": int(rec.wasted),
        "cow_ns": cow_ns,
        "fault_avg_ns": float(f.mean()) if f.size else 0.0,
        "fault_min_ns": float(f.min()) if f.size else 0.0,
        "fault_max_ns": float(f.max()) if f.size else 0.0,
        "fault_p99_ns": float(np.quantile(f, 0.99, method="inverted_cdf")) if f.size else 0.0,
        "write_p50_ns": p50,
        "write_p99_ns": p99,
        "write_max_ns": pmax,
        "objective": objective(rec, lam, page_cost_ns),
        "lambda": float(lam),
        "page_cost_ns": float(page_cost_ns),
    }
    row.update(rec.extra)
    return row

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


def _mixture_quantile(sorted_faults: np.ndarray, n_const: int, const: float, q: float) -> float:
    """Quantile (lower) of the multiset {sorted_faults} ∪ {const × n_const}."""
    n = sorted_faults.size + n_const
    rank = min(n - 1, max(0, int(np.ceil(q * n)) - 1))
    # values below const among faults
    below = int(np.searchsorted(sorted_faults, const, side="left"))
    if rank < below:
        return float(sorted_faults[rank])
    if rank < below + n_const:
        return float(const)
    return float(sorted_faults[rank - n_const])


def write_quantiles(rec: RunRecord, qs: tuple[float, ...] = (0.5, 0.99, 1.0)) -> list[float]:
    """Per-write latency quantiles over *all* writes, including those that took no fault."""
    if rec.write_ns is not None:
        w = np.sort(np.asarray(rec.write_ns, dtype=np.float64))
        return [float(w[min(w.size - 1, max(0, int(np.ceil(q * w.size)) - 1))]) for q in qs]
    f = np.sort(np.asarray(rec.fault_ns, dtype=np.float64))
    return [_mixture_quantile(f, rec.writes - rec.faults, rec.nonfault_write_ns, q) for q in qs]


def objective(rec: RunRecord, lam: float, page_cost_ns: float) -> float:
    """``cow_ns + lam * wasted * page_cost_ns``: the one definition of the objective."""
    return float(np.sum(np.asarray(rec.fault_ns, dtype=np.float64))) \
        + lam * rec.wasted * page_cost_ns


def geomean(xs: Sequence[float]) -> float:
    """Geometric mean (values floored at 1e-300 so a zero cannot give -inf)."""
    return math.exp(sum(math.log(max(float(x), 1e-300)) for x in xs) / len(xs))


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

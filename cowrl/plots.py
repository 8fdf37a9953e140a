"""Result plots (PNG): objective vs baseline, COW time against waste, write-latency CDFs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cowrl.metrics import RunRecord  # noqa: E402


def _grid(n: int) -> tuple[Any, np.ndarray]:
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def plot_objective(out: Path, rows: list[dict[str, Any]]) -> Path:
    workloads = sorted({r["workload"] for r in rows})
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    ref = {r["workload"]: r["objective"] for r in rows if r["policy"] == "baseline"}
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(workloads) * max(1, len(policies)) / 3), 4))
    width = 0.8 / max(1, len(policies))
    for i, p in enumerate(policies):
        vals = []
        for w in workloads:
            r = next((r for r in rows if r["policy"] == p and r["workload"] == w), None)
            denom = ref.get(w) or 1.0
            vals.append(r["objective"] / denom if r else np.nan)
        ax.bar(np.arange(len(workloads)) + i * width, vals, width, label=p)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(np.arange(len(workloads)) + 0.4 - width / 2, workloads, rotation=30)
    ax.set_ylabel("objective / baseline" if ref else "objective (ns)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path = out / "objective.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_pareto(out: Path, rows: list[dict[str, Any]]) -> Path:
    workloads = sorted({r["workload"] for r in rows})
    fig, axes = _grid(len(workloads))
    for ax, w in zip(axes.flat, workloads, strict=False):
        for r in (r for r in rows if r["workload"] == w):
            ax.scatter(r["wasted"], r["cow_ns"] / 1e6, label=r["policy"], s=22)
            ax.annotate(r["policy"], (r["wasted"], r["cow_ns"] / 1e6), fontsize=6)
        ax.set_title(w, fontsize=9)
        ax.set_xlabel("wasted pages")
        ax.set_ylabel("COW time (ms)")
    fig.tight_layout()
    path = out / "pareto.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_latency_cdf(rec: RunRecord) -> tuple[np.ndarray, np.ndarray]:
    """(latency ns, cumulative fraction of writes), including writes that took no fault."""
    if rec.write_ns is not None:
        x = np.sort(np.asarray(rec.write_ns, dtype=np.float64))
        return x, np.arange(1, x.size + 1) / x.size
    x = np.concatenate([[rec.nonfault_write_ns], np.sort(np.asarray(rec.fault_ns, float))])
    weights = np.concatenate([[rec.writes - rec.faults], np.ones(rec.faults)])
    return x, np.cumsum(weights) / rec.writes


def plot_write_cdf(out: Path, records: list[RunRecord]) -> Path:
    workloads = sorted({r.workload for r in records})
    fig, axes = _grid(len(workloads))
    for ax, w in zip(axes.flat, workloads, strict=False):
        for rec in (r for r in records if r.workload == w):
            x, y = write_latency_cdf(rec)
            ax.step(np.maximum(x, 1.0), y, where="post", label=rec.policy, lw=1)
        ax.set_xscale("log")
        ax.set_title(w, fontsize=9)
        ax.set_xlabel("write latency (ns)")
        ax.set_ylabel("fraction of writes")
    axes.flat[0].legend(fontsize=6)
    fig.tight_layout()
    path = out / "write_cdf.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_all(out: Path, rows: list[dict[str, Any]], records: list[RunRecord]) -> list[Path]:
    return [plot_objective(out, rows), plot_pareto(out, rows), plot_write_cdf(out, records)]

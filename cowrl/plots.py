"""Result plots (PNG): objective vs baseline, COW time against waste, write-latency CDFs."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from cowrl.metrics import RunRecord, latency_distribution  # noqa: E402

log = logging.getLogger(__name__)

GROUP_ORDER = ("suite", "held-out", "other", "traces")
MARKERS = "osD^vP*Xh<>p"
MAX_PANELS = 32
"""Panels of ``pareto.png`` and ``write_cdf.png`` (one per workload) at most: 300 trace files
made a 75 x 4 grid whose layout ran for over 10 minutes (at about 750, past matplotlib's
2^16-pixel limit, an error). Beyond it they show the first ``MAX_PANELS`` workloads and say so;
``objective.png`` shows up to :data:`MAX_ROWS`; ``results.csv`` holds every row."""
MAX_ROWS = 400
"""Workload rows of ``objective.png`` at most (400 rows: 16,000 pixels high at 110 dpi)."""


def _shown(workloads: list[str], limit: int) -> tuple[list[str], str]:
    """The first ``limit`` of ``workloads``, and a note saying so when some are left out."""
    if len(workloads) <= limit:
        return workloads, ""
    return workloads[:limit], (f"the first {limit} of {len(workloads)} workloads "
                               "(every row in results.csv)")


def _grid(n: int) -> tuple[Any, np.ndarray]:
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def _layout(fig: Any, note: str) -> None:
    """``tight_layout``, below a title holding ``note`` (if any)."""
    if note:
        fig.suptitle(note, fontsize=10)
        fig.tight_layout(rect=(0, 0, 1, 0.985))
    else:
        fig.tight_layout()


def _ordered_workloads(rows: Sequence[dict[str, Any]], groups: Mapping[str, str] | None
                       ) -> list[str]:
    """Workloads in row order, grouped (suite, held-out, trace files) when groups are known."""
    names = list(dict.fromkeys(r["workload"] for r in rows))
    rank = {g: i for i, g in enumerate(GROUP_ORDER)}
    return sorted(names, key=lambda w: rank.get((groups or {}).get(w, ""), len(rank)))


def plot_objective(out: Path, rows: list[dict[str, Any]],
                   groups: Mapping[str, str] | None = None) -> Path:
    """Heatmap of workload x policy, coloured and annotated with objective / baseline.

    Green is better than baseline, red worse; the colour scale is centred on 1.
    Without baseline rows each workload is relative to its best policy instead.
    Lines separate the workload groups (suite, held-out, trace files).
    """
    workloads, note = _shown(_ordered_workloads(rows, groups), MAX_ROWS)
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    obj = {(r["workload"], r["policy"]): r["objective"] for r in rows}
    has_base = any(p == "baseline" for p in policies)
    ref = {w: (obj.get((w, "baseline")) if has_base
               else min(v for (w2, _), v in obj.items() if w2 == w)) for w in workloads}
    m = np.full((len(workloads), len(policies)), np.nan)
    for i, w in enumerate(workloads):
        for j, p in enumerate(policies):
            if (w, p) in obj and ref[w]:
                m[i, j] = obj[(w, p)] / ref[w]
    # Colour by log(ratio), each side of 1 scaled to its own extreme (at least 1%, at most a
    # factor 2): a 5% gain must show as green even when another cell is 18x worse (the
    # numbers say how much).
    logs = np.log(m[np.isfinite(m) & (m > 0)])
    lo = -float(np.clip(-logs.min() if logs.size else 0.0, np.log(1.01), np.log(2.0)))
    hi = float(np.clip(logs.max() if logs.size else 0.0, np.log(1.01), np.log(2.0)))
    norm = TwoSlopeNorm(vmin=lo, vcenter=0.0, vmax=hi)
    fig, ax = plt.subplots(figsize=(max(6.5, 2.6 + 0.95 * len(policies)),
                                    max(3.0, 1.6 + 0.36 * len(workloads))))
    with np.errstate(divide="ignore", invalid="ignore"):
        shown = np.log(m)
    im = ax.imshow(np.ma.masked_invalid(shown), cmap="RdYlGn_r", norm=norm, aspect="auto")
    for i in range(len(workloads)):
        for j in range(len(policies)):
            v = m[i, j]
            if not np.isfinite(v):
                ax.text(j, i, "-", ha="center", va="center", fontsize=8, color="0.4")
                continue
            shade = float(norm(np.log(v))) if v > 0 else 0.0
            ax.text(j, i, f"{v:.3f}", ha="center", va="center", fontsize=8,
                    color="white" if shade < 0.12 or shade > 0.88 else "black")
    ax.set_xticks(range(len(policies)), policies, rotation=35, ha="right")
    ax.set_yticks(range(len(workloads)), workloads)
    ax.tick_params(length=0)
    if groups:
        g = [groups.get(w, "") for w in workloads]
        for i in range(1, len(g)):
            if g[i] != g[i - 1]:
                ax.axhline(i - 0.5, color="black", lw=1.5)
    label = "objective / baseline" if has_base else "objective / best policy"
    bar = fig.colorbar(im, ax=ax, fraction=0.05, pad=0.02, label=label)
    ticks = [lo, lo / 2, 0.0, hi / 2, hi]
    bar.set_ticks(ticks, labels=[f"{np.exp(t):.3g}" for t in ticks])
    ax.set_title(f"{label}, lower is better\n(objective = cow_ns + lambda * wasted * page cost)"
                 + (f"\n{note}" if note else ""), fontsize=9)
    fig.tight_layout()
    path = out / "objective.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_labels(ax: Any, xs: Sequence[float], ys: Sequence[float], labels: Sequence[str],
                 fontsize: float = 7.0, draw: bool = True) -> list[tuple[float, float]]:
    """Put each label near its point with no two labels overlapping (deterministic).

    In display space, each label tries, in order: right of its point, left of
    it, then further above or below (one text line per step), and takes the
    first place that overlaps no label placed before it, no other point and
    stays inside the axes. Points are taken from top to bottom. A label moved
    off its point's line gets a thin leader line. Returns the offsets (points).
    ``draw=False``: the caller has drawn the figure since its layout last changed (a draw
    renders every panel: one per panel made a grid of n panels cost n^2 panel draws).
    """
    fig = ax.figure
    if draw:
        fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    to_px = ax.transData.transform
    pts = to_px(np.column_stack([xs, ys])) if len(xs) else np.zeros((0, 2))
    bbox = ax.get_window_extent()
    px_per_pt = fig.dpi / 72.0
    h = fontsize * 1.25 * px_per_pt
    r = 3.5 * px_per_pt  # marker radius
    gap = 4 * px_per_pt
    placed: list[tuple[float, float, float, float]] = []
    offsets: list[tuple[float, float]] = [(0.0, 0.0)] * len(labels)
    for i in sorted(range(len(labels)), key=lambda i: (-pts[i, 1], pts[i, 0], labels[i])):
        x, y = pts[i]
        probe = ax.text(0, 0, labels[i], fontsize=fontsize)
        w = probe.get_window_extent(renderer).width + 1.0  # the text's real width
        probe.remove()
        best = None
        for step in range(0, 40):
            dy = ((step + 1) // 2) * h * (1 if step % 2 else -1) if step else 0.0
            for side in (1, -1):
                x0 = x + gap if side > 0 else x - gap - w
                box = (x0, y + dy - h / 2, x0 + w, y + dy + h / 2)
                inside = (box[0] >= bbox.x0 and box[2] <= bbox.x1 and box[1] >= bbox.y0
                          and box[3] <= bbox.y1)
                hits_point = any(_overlaps(box, (px - r, py - r, px + r, py + r))
                                 for j, (px, py) in enumerate(pts) if j != i)
                if inside and not hits_point and not any(_overlaps(box, b) for b in placed):
                    best = (box, side, dy)
                    break
                if best is None and step == 0 and side == 1:
                    fallback = (box, side, dy)
            if best is not None:
                break
        box, side, dy = best if best is not None else fallback
        placed.append(box)
        off = ((gap if side > 0 else -gap) / px_per_pt, dy / px_per_pt)
        offsets[i] = off
        ax.annotate(labels[i], (xs[i], ys[i]), xytext=off, textcoords="offset points",
                    ha="left" if side > 0 else "right", va="center", fontsize=fontsize,
                    arrowprops=dict(arrowstyle="-", lw=0.4, color="0.5",
                                    shrinkA=0, shrinkB=2) if dy else None)
    return offsets


def plot_pareto(out: Path, rows: list[dict[str, Any]],
                groups: Mapping[str, str] | None = None) -> Path:
    """COW time against wasted pages, one panel per workload, labels that never overlap."""
    workloads, note = _shown(_ordered_workloads(rows, groups), MAX_PANELS)
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    style = {p: (f"C{i % 10}", MARKERS[i % len(MARKERS)]) for i, p in enumerate(policies)}
    fig, axes = _grid(len(workloads))
    panels = []
    for ax, w in zip(axes.flat, workloads, strict=False):
        rs = [r for r in rows if r["workload"] == w]
        xs = [float(r["wasted"]) for r in rs]
        ys = [r["cow_ns"] / 1e6 for r in rs]
        for r, x, y in zip(rs, xs, ys, strict=True):
            c, mk = style[r["policy"]]
            ax.scatter([x], [y], color=c, marker=mk, s=24, zorder=3)
        # room for labels: pad the data limits
        xr = (max(xs) - min(xs)) or 4.0  # wasted pages are integers
        yr = (max(ys) - min(ys)) or max(1e-3, 0.1 * max(ys))
        ax.set_xlim(min(xs) - 0.15 * xr, max(xs) + 0.45 * xr)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
        ax.set_ylim(min(ys) - 0.15 * yr, max(ys) + 0.15 * yr)
        ax.set_title(w, fontsize=9)
        ax.set_xlabel("wasted pages")
        ax.set_ylabel("COW time (ms)")
        ax.grid(alpha=0.3)
        panels.append((ax, xs, ys, [r["policy"] for r in rs]))
    _layout(fig, note)
    fig.canvas.draw()  # once: the limits are set, and labels move no axes
    for ax, xs, ys, labels in panels:
        place_labels(ax, xs, ys, labels, draw=False)
    path = out / "pareto.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_latency_cdf(rec: RunRecord) -> tuple[np.ndarray, np.ndarray]:
    """(latency ns, cumulative fraction of writes), including writes that took no fault
    (at most about 2048 points: :func:`cowrl.metrics.latency_distribution`)."""
    x, counts = latency_distribution(rec)
    return x, np.cumsum(counts) / max(int(counts.sum()), 1)


def plot_write_cdf(out: Path, records: list[RunRecord],
                   groups: Mapping[str, str] | None = None) -> Path:
    workloads, note = _shown(_ordered_workloads([{"workload": r.workload} for r in records],
                                                groups), MAX_PANELS)
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
    _layout(fig, note)
    path = out / "write_cdf.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_all(out: Path, rows: list[dict[str, Any]], records: list[RunRecord],
             groups: Mapping[str, str] | None = None) -> list[Path]:
    """``objective.png``, ``pareto.png`` and ``write_cdf.png`` in ``out``."""
    n = len({r["workload"] for r in rows})
    if n > MAX_PANELS:
        log.info("plots: pareto.png and write_cdf.png show the first %d of %d workloads%s",
                 MAX_PANELS, n, f", objective.png the first {MAX_ROWS}" if n > MAX_ROWS else "")
    return [plot_objective(out, rows, groups), plot_pareto(out, rows, groups),
            plot_write_cdf(out, records, groups)]

"""Describe recorded traces: ``python -m cowrl.record.describe FILE.npz... [--img DIR]``.

Prints, per trace, the writes, regions, distinct pages, writers, time span and
how sequential it is (the share of writes in runs of consecutive pages, by run
length, each writer's stream taken on its own), and with ``--img`` draws page
against time (``DIR/<name>.png``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from cowrl.errors import CowrlError
from cowrl.traces.io import Trace, load_trace

RUN_BINS = [(1, 1), (2, 3), (4, 7), (8, 15), (16, 63), (64, None)]


def run_lengths(trace: Trace) -> np.ndarray:
    """Lengths of the maximal runs of consecutive ascending pages, per writer's stream."""
    writers = trace.writer if trace.writer is not None else np.zeros(trace.writes, np.int32)
    out = []
    for w in np.unique(writers):
        p = trace.pages[writers == w]
        breaks = np.nonzero(np.diff(p) != 1)[0]
        edges = np.concatenate([[-1], breaks, [p.size - 1]])
        out.append(np.diff(edges))
    return np.concatenate(out)


def describe(trace: Trace) -> dict[str, Any]:
    """The figures docs/traces.md gives for one trace."""
    runs = run_lengths(trace)
    hist = {}
    for lo, hi in RUN_BINS:
        sel = (runs >= lo) & (runs <= (hi if hi is not None else np.inf))
        label = f"{lo}" if lo == hi else (f"{lo}+" if hi is None else f"{lo}-{hi}")
        hist[label] = float(runs[sel].sum() / trace.writes)
    t = trace.t_ns
    return {"name": trace.name, "writes": trace.writes,
            "regions": 1 if trace.region_sizes is None else int(trace.region_sizes.size),
            "n_pages": trace.n_pages, "distinct_pages": int(np.unique(trace.pages).size),
            "writers": int(np.unique(trace.writer).size) if trace.writer is not None else 1,
            "span_ms": float((t[-1] - t[0]) / 1e6) if t is not None else None,
            "mean_run": float(trace.writes / runs.size), "runs_share": hist}


def plot(trace: Trace, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=90)
    x = trace.t_ns / 1e6 if trace.t_ns is not None else np.arange(trace.writes)
    c = trace.writer if trace.writer is not None else np.zeros(trace.writes)
    few = int(c.max()) <= 9
    sc = ax.scatter(x, trace.pages, c=c, s=1, cmap="tab10" if few else "viridis", vmin=0,
                    vmax=9 if few else int(c.max()), linewidths=0)
    ends = trace.region_ends[:-1]
    if ends.size <= 100:  # more lines than that would paint the plot grey
        for e in ends:
            ax.axhline(e, color="0.85", lw=0.5, zorder=0)
    ax.set_xlabel("ms since the fork (guest clock)" if trace.t_ns is not None else "write")
    ax.set_ylabel("page (regions end to end" + ("; grey: region ends)" if ends.size <= 100
                                                 else f", {ends.size + 1} regions)"))
    ax.set_title(f"{trace.name}: {trace.writes} COW faults")
    if trace.writer is not None and np.unique(trace.writer).size > 1:
        fig.colorbar(sc, ax=ax, label="writer (0 parent, i child i)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("traces", nargs="+")
    ap.add_argument("--img", default=None, help="write DIR/<name>.png (page against time)")
    a = ap.parse_args(argv)
    if a.img:  # checked before the table: a file or unwritable place was a traceback
        from cowrl.cli import output_dir

        try:
            output_dir(a.img, "--img")
        except CowrlError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    head = ["trace", "writes", "regions", "n_pages", "distinct", "writers", "span ms",
            "mean run"] + [f"run {k}" for k in ("1", "2-3", "4-7", "8-15", "16-63", "64+")]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for f in a.traces:
        try:
            t = load_trace(f)
        except CowrlError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        d = describe(t)
        span = f"{d['span_ms']:.1f}" if d["span_ms"] is not None else "-"
        cells = [d["name"], str(d["writes"]), str(d["regions"]), str(d["n_pages"]),
                 str(d["distinct_pages"]), str(d["writers"]), span, f"{d['mean_run']:.2f}"]
        cells += [f"{100 * v:.1f}%" for v in d["runs_share"].values()]
        print("| " + " | ".join(cells) + " |")
        if a.img:
            plot(t, Path(a.img) / f"{t.name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Plots a reader can use: a readable heatmap for many workloads, pareto labels that never
overlap."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.text import Text

from cowrl.plots import place_labels, plot_objective, plot_pareto


def _rows(n_work: int, policies: list[str]) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n_work):
        for p in policies:
            cow = 1e6 if p == "baseline" else 1e6 * rng.uniform(0.6, 2.0)
            wasted = 0 if p in ("baseline", "hugepage") else int(rng.integers(0, 3))
            rows.append({"workload": f"w{i}", "policy": p, "objective": cow + wasted,
                         "cow_ns": cow, "wasted": wasted})
    return rows


def test_objective_heatmap_is_a_readable_grid(tmp_path: Path) -> None:
    pols = ["bandit", "baseline", "precopy", "precopy_best", "hugepage", "fault_around",
            "readahead", "oracle"]
    rows = _rows(16, pols)
    groups = {f"w{i}": "suite" if i < 8 else "held-out" for i in range(16)}
    h, w = plt.imread(plot_objective(tmp_path, rows, groups)).shape[:2]
    assert 600 <= w <= 1400 and 500 <= h <= 1200  # a grid, not a 4928 x 440 strip


def test_objective_heatmap_cells_are_objective_over_baseline(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The numbers in the cells, by hand: w0 100 / 80 / 50 -> 1.000 0.800 0.500; w1 (held
    out, listed after the suite's w2) 200 / 300 and no oracle row -> 1.000 1.500 -; w2 10 /
    5 / 4. Without baseline rows each workload is over its best policy. Green (the low end
    of RdYlGn_r) for a gain, red for a loss."""
    figs: list = []
    close = plt.close
    monkeypatch.setattr(plt, "close", figs.append)  # keep the figure to read its cells

    def row(w: str, p: str, obj: float) -> dict:
        return {"workload": w, "policy": p, "objective": obj, "cow_ns": obj, "wasted": 0}

    rows = [row("w0", "baseline", 100), row("w0", "precopy", 80), row("w0", "oracle", 50),
            row("w1", "baseline", 200), row("w1", "precopy", 300),
            row("w2", "baseline", 10), row("w2", "precopy", 5), row("w2", "oracle", 4)]
    groups = {"w0": "suite", "w1": "held-out", "w2": "suite"}
    plot_objective(tmp_path, rows, groups)
    ax = figs[-1].axes[0]
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text()
             for t in ax.texts}
    assert [t.get_text() for t in ax.get_yticklabels()] == ["w0", "w2", "w1"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["baseline", "precopy", "oracle"]
    assert cells == {(0, 0): "1.000", (0, 1): "0.800", (0, 2): "0.500",
                     (1, 0): "1.000", (1, 1): "0.500", (1, 2): "0.400",
                     (2, 0): "1.000", (2, 1): "1.500", (2, 2): "-"}
    shown = ax.images[0].get_array()
    assert shown[0, 1] < 0 < shown[2, 1]  # log(0.8) green side, log(1.5) red side
    plot_objective(tmp_path, [r for r in rows if r["policy"] != "baseline"], groups)
    ax = figs[-1].axes[0]
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text()
             for t in ax.texts}
    assert cells == {(0, 0): "1.600", (0, 1): "1.000", (1, 0): "1.250", (1, 1): "1.000",
                     (2, 0): "1.000", (2, 1): "-"}
    assert "objective / best policy" in ax.get_title()
    for f in figs:
        close(f)


def test_pareto_labels_do_not_overlap(tmp_path: Path) -> None:
    # many policies on the same few points: the worst case for labels
    xs = [0, 0, 0, 0, 0, 3, 3, 3, 1000, 0, 0, 1]
    ys = [5.0, 5.0, 5.0, 4.99, 5.01, 2.0, 2.0, 2.0, 9.0, 1.0, 1.0, 1.0]
    labels = [f"policy_{i}" for i in range(len(xs))]
    fig, ax = plt.subplots(figsize=(4, 3.2))
    ax.scatter(xs, ys)
    ax.set_xlim(-200, 1500)
    ax.set_ylim(0, 10)
    place_labels(ax, xs, ys, labels)
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    boxes = [Text.get_window_extent(t, r) for t in ax.texts]  # the text, not its leader line
    assert len(boxes) == len(labels)
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            assert not boxes[i].overlaps(boxes[j]), (labels[i], labels[j])
    plt.close(fig)
    rows = _rows(5, ["baseline", "precopy", "hugepage", "oracle", "fault_around"])
    assert plot_pareto(tmp_path, rows).stat().st_size > 1000


def test_many_workloads_are_capped_and_say_so(tmp_path: Path) -> None:
    """300 trace files made pareto.png a 75 x 4 grid of panels whose layout ran for over 10
    minutes (and at ~750, past matplotlib's 2^16-pixel limit, an error after the results were
    written): the per-workload plots show the first MAX_PANELS and say so."""
    from cowrl.metrics import RunRecord
    from cowrl.plots import MAX_PANELS, MAX_ROWS, _shown, plot_write_cdf

    n = MAX_PANELS + 9
    rows = _rows(n, ["baseline", "precopy"])
    recs = [RunRecord(policy=r["policy"], workload=r["workload"], target="sim", n_pages=8,
                      writes=10, faults=4, precopied=0, wasted=0,
                      fault_ns=np.array([1e3, 2e3, 3e3, 4e3]), nonfault_write_ns=50.0)
            for r in rows]
    tall = (MAX_PANELS // 4) * 3.2 * 110 + 40  # MAX_PANELS / 4 rows of 3.2 in at 110 dpi
    for png in (plot_pareto(tmp_path, rows), plot_write_cdf(tmp_path, recs)):
        h, w = plt.imread(png).shape[:2]
        assert h <= tall and w <= 4 * 4 * 110 + 40, (png.name, h, w)
    shown, note = _shown([f"w{i}" for i in range(MAX_ROWS + 1)], MAX_ROWS)
    assert len(shown) == MAX_ROWS and note == (f"the first {MAX_ROWS} of {MAX_ROWS + 1} "
                                               "workloads (every row in results.csv)")
    assert _shown(["a", "b"], 2) == (["a", "b"], "")


def test_pareto_draws_the_figure_once_not_once_per_panel(tmp_path: Path, monkeypatch) -> None:
    """Each panel's labels drew the whole figure first: n panels cost n^2 panel draws (12
    panels 11.8 s, 32 panels 69 s on a busy 2-core VM). The labels land where they did."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    draws = []
    real = FigureCanvasAgg.draw
    monkeypatch.setattr(FigureCanvasAgg, "draw", lambda self, *a, **k: (draws.append(1),
                                                                         real(self, *a, **k)))
    plot_pareto(tmp_path, _rows(6, ["baseline", "precopy", "hugepage", "oracle"]))
    assert len(draws) <= 3, len(draws)  # the layout's, the labels' one and savefig's (was 8)

"""Fidelity metrics on hand-made rows, and the experiment end to end on the test target."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import PathCollection, PolyCollection

from cowrl.calibration.fidelity import compare, pair_rows, rank_agreement, rel_err, summary, tau
from cowrl.metrics import RunRecord

ROOT = Path(__file__).resolve().parent.parent


def _row(policy: str, workload: str, cow: float, p99: float = 10.0, faults: int = 10,
         precopied: int = 0, wasted: int = 0, objective: float | None = None) -> dict:
    return {"policy": policy, "workload": workload, "cow_ns": cow, "write_p99_ns": p99,
            "faults": faults, "precopied": precopied, "wasted": wasted,
            "objective": cow if objective is None else objective}


def test_rel_err() -> None:
    assert rel_err(110.0, 100.0) == pytest.approx(0.10)
    assert rel_err(80.0, 100.0) == pytest.approx(-0.20)
    assert rel_err(0.0, 0.0) == 0.0
    assert rel_err(1.0, 0.0) != rel_err(1.0, 0.0)  # nan


def test_tau() -> None:
    assert tau([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert tau([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    assert tau([5.0], [7.0]) == 1.0


def test_compare_counts_and_errors() -> None:
    sim = [_row("baseline", "w", 100.0, p99=5.0), _row("precopy", "w", 60.0, precopied=4)]
    kern = [_row("baseline", "w", 125.0, p99=10.0),
            {**_row("precopy", "w", 50.0, precopied=3), "precopy_skipped": 1}]
    rows = compare(pair_rows(sim, kern))
    assert rows[0]["counts_equal"] and rows[0]["counts_note"] == ""
    assert rows[0]["cow_rel_err"] == pytest.approx(-0.2)
    assert rows[0]["write_p99_rel_err"] == pytest.approx(-0.5)
    assert not rows[1]["counts_equal"]
    assert "precopied sim 4 vs kernel 3" in rows[1]["counts_note"]
    assert "skipped 1" in rows[1]["counts_note"]
    s = summary(rows)
    assert s["counts_equal"] == 1 and s["pairs"] == 2
    assert s["median_abs_cow_rel_err"] == pytest.approx((0.2 + 0.2) / 2)


def test_rank_agreement_per_workload_and_overall() -> None:
    # workload a: same order on both targets; workload b: two policies swapped
    sim = [_row("baseline", "a", 100), _row("p1", "a", 80), _row("p4", "a", 60),
           _row("baseline", "b", 100), _row("p1", "b", 90), _row("p4", "b", 110)]
    kern = [_row("baseline", "a", 200), _row("p1", "a", 150), _row("p4", "a", 110),
            _row("baseline", "b", 100), _row("p1", "b", 130), _row("p4", "b", 200)]
    rows = compare(pair_rows(sim, kern))
    r = rank_agreement(rows)
    assert r["per_workload"]["a"] == pytest.approx(1.0)
    assert r["per_workload"]["b"] == pytest.approx(1 / 3)
    assert r["mean_per_workload"] == pytest.approx(2 / 3)
    # geometric mean relative to baseline: sim p1 sqrt(.8 x .9) = .85, p4 sqrt(.6 x 1.1) = .81;
    # kernel p1 sqrt(.75 x 1.3) = .99, p4 sqrt(.55 x 2) = 1.05: of the three pairs only
    # (p1, baseline) is ordered alike, tau = (1 - 2) / 3 (it was only checked to be in [-1, 1])
    assert r["overall_policy_order_sim"] == ["p4", "p1", "baseline"]
    assert r["overall_policy_order_kernel"] == ["p1", "baseline", "p4"]
    assert r["overall"] == pytest.approx(-1 / 3)
    # pooled over the 6 objectives: 9 pairs concordant, 4 discordant, one tied in each list:
    # tau-b = (9 - 4) / sqrt(14 x 14)
    assert r["pooled"] == pytest.approx(5 / 14)


def test_fidelity_experiment_on_the_test_target(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        import fidelity
    finally:
        sys.path.pop(0)
    res = fidelity.run(fidelity.parse_args([
        "--costmodel", "host", "--target", "kernel_sim", "--n-pages", "512",
        "--workloads", "stride", "random", "--policies", "baseline", "precopy", "precopy4",
        "--out", str(tmp_path)]))
    assert res["summary"]["counts_equal"] == res["summary"]["pairs"] == 6
    assert (tmp_path / "predicted_vs_measured.png").stat().st_size > 1000
    data = json.loads((tmp_path / "fidelity.json").read_text())
    assert data["kernel"]["backend"].startswith("FAKE")
    assert data["kernel"]["target"]["measured"] is False
    assert len(data["rows"]) == 6
    assert data["same_session_calibration"]["params"]["precopy_ns"] > 0
    # the figure says what it compares: a stand-in is FAKE, and the commit it ran at
    assert data["commit"] == data["kernel"]["commit"] != ""
    title = fidelity.figure_title(data)
    assert "costmodel=host" in title and "FAKE" in title and f"commit {data['commit']};" in title
    assert "records from" not in title and "guest ns" not in title
    # kernel rows: the repetition with the median cow_ns (the kernel target's rule)
    recs = [RunRecord(policy="p", workload=f"w{fidelity.REP}{r}", target="k", n_pages=4,
                      writes=4, faults=1, precopied=0, wasted=0, fault_ns=np.array([c]))
            for r, c in enumerate([30.0, 10.0, 20.0])]
    (row,) = fidelity.median_rep_rows(recs, 1.0, 1.0, 10.0)
    assert row["workload"] == "w" and row["cow_ns"] == 20.0 and row["rep"] == 2
    assert row["cow_ns_reps"] == [10.0, 20.0, 30.0]
    assert row["objective_reps"] == [30.0, 10.0, 20.0]


def test_trimming_compares_a_fault_with_faults_of_its_own_window() -> None:
    """An adaptive policy's few large windows are not outliers: trimmed against the whole
    run's median they were dropped (readahead on phased: +133% 'trimmed' error, 2026-12-04);
    against faults of the same window only the interrupted one goes."""
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        import fidelity
    finally:
        sys.path.pop(0)
    f = np.array([10.0] * 29 + [500.0] + [600.0] * 5)  # one 1-page fault interrupted
    win = np.array([0] * 30 + [64] * 5)
    rec = RunRecord(policy="readahead", workload=f"phased{fidelity.REP}0", target="k",
                    n_pages=99, writes=35, faults=35, precopied=320, wasted=0, fault_ns=f)
    assert fidelity.trimmed_cow(rec, 10.0) == 290.0  # the 5 windows trimmed with it: wrong
    assert fidelity.trimmed_cow(rec, 10.0, win) == 290.0 + 3000.0
    assert fidelity.trimmed_cow(rec, 10.0, win[:-1]) == 290.0  # not this run's: run median
    (row,) = fidelity.median_rep_rows([rec], 1.0, 1.0, 10.0, {("readahead", "phased"): win})
    assert row["cow_ns_trimmed"] == 3290.0 and row["cow_ns"] == f.sum()


@pytest.mark.parametrize("content", [None, b"not a pickle", b"\x80\x04N."])  # none, junk, None
def test_fidelity_reuse_without_records_is_one_line(tmp_path: Path, content: bytes | None,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """``--reuse DIR`` without an earlier run's kernel_records.pkl was a Python traceback."""
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        import fidelity
    finally:
        sys.path.pop(0)
    if content is not None:
        (tmp_path / "kernel_records.pkl").write_bytes(content)
    rc = fidelity.main(["--costmodel", "host", "--target", "kernel_sim", "--reuse", str(tmp_path),
                        "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: --reuse: "), err
    assert str(tmp_path / "kernel_records.pkl") in err[0]


def test_fidelity_figure_from_a_tiny_result(tmp_path: Path) -> None:
    """The figure drawn from a hand-made two-pair result: every pair is a visible point on
    both log-log panels (above the ±15% band, not under it), the third panel shows the
    signed cow_ns error in %, and the title names cost model, kernel clock and commits."""
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        import fidelity
    finally:
        sys.path.pop(0)
    sim = [_row("baseline", "w", 1.001e7, p99=2.0e4), _row("precopy", "w", 1.2e7, p99=3.9e4)]
    kern = [_row("baseline", "w", 1.0e7, p99=3.0e4), _row("precopy", "w", 1.2e7, p99=3.8e4)]
    rows = compare(pair_rows(sim, kern))
    result = {"costmodel": "tcg", "commit": "abc1234", "kernel_release": "6.1.0-x",
              "accel": "tcg", "icount": "shift=0,sleep=off",
              "kernel": {"target": {"target": "kernel", "measured": True}, "reps": 3,
                         "commit": "0ld0ne1", "date": "2026-12-04 12:00 UTC"},
              "summary": summary(rows), "kendall_tau": rank_agreement(rows)}
    fig = fidelity.plot(tmp_path / "f.png", rows, "tcg", result)
    assert (tmp_path / "f.png").stat().st_size > 1000
    title = fig._suptitle.get_text()
    assert "costmodel=tcg" in title and "1 guest ns = 1 instruction" in title
    assert "commit abc1234, kernel records from 0ld0ne1" in title and "2026-12-04" in title
    assert "median of 3 reps" in title and "event counts equal 2/2" in title
    cow, p99, err = fig.axes[:3]
    for ax, key, div in ((cow, "cow_ns", 1e6), (p99, "write_p99", 1e3)):
        band = max(c.get_zorder() for c in ax.collections if isinstance(c, PolyCollection))
        pts = [c for c in ax.collections
               if isinstance(c, PathCollection) and c.get_offsets().size]
        assert len(pts) == 2 and all(c.get_zorder() > band for c in pts)
        got = sorted(tuple(c.get_offsets()[0]) for c in pts)
        want = sorted((r[f"{key}_kernel"] / div, r[f"{key}_sim"] / div) for r in rows)
        assert np.allclose(got, want)
        assert "guest" in ax.get_xlabel() and "costmodel=tcg" in ax.get_ylabel()
    ys = sorted(c.get_offsets()[0][1] for c in err.collections
                if isinstance(c, PathCollection) and c.get_offsets().size)
    assert np.allclose(ys, [0.0, 0.1])  # % signed error: precopy exact, baseline +0.1%
    assert "%" in err.get_ylabel()


def test_fidelity_a_region_too_small_for_the_calibration_names_n_pages(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--n-pages 256`` stopped with ``kernel_bench.region_pages: ...``, an option this script
    does not have (session 44, walking docs/calibration.md's fidelity command, made small)."""
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        import fidelity
    finally:
        sys.path.pop(0)
    out = tmp_path / "out"
    rc = fidelity.main(["--costmodel", "tcg", "--target", "kernel_sim", "--n-pages", "256",
                        "--workloads", "seq", "--policies", "baseline", "--reps", "1",
                        "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith("error: --n-pages 256: ") and "--no-same-session" in err[0], err
    assert not out.exists()

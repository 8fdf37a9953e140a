"""Fidelity metrics on hand-made rows, and the experiment end to end on the test target."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

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
           _row("baseline", "b", 100), _row("p1", "b", 90), _row("p4", "b", 120)]
    kern = [_row("baseline", "a", 200), _row("p1", "a", 150), _row("p4", "a", 110),
            _row("baseline", "b", 100), _row("p1", "b", 130), _row("p4", "b", 140)]
    rows = compare(pair_rows(sim, kern))
    r = rank_agreement(rows)
    assert r["per_workload"]["a"] == pytest.approx(1.0)
    assert r["per_workload"]["b"] == pytest.approx(1 / 3)
    assert r["mean_per_workload"] == pytest.approx(2 / 3)
    # geometric mean relative to baseline: sim p1 .85, p4 .85 (tie); kernel p1 .99, p4 .79
    assert r["overall_policy_order_kernel"][0] == "p4"
    assert -1.0 <= r["overall"] <= 1.0


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
    # kernel rows: the repetition with the median cow_ns (the kernel target's rule)
    recs = [RunRecord(policy="p", workload=f"w{fidelity.REP}{r}", target="k", n_pages=4,
                      writes=4, faults=1, precopied=0, wasted=0, fault_ns=np.array([c]))
            for r, c in enumerate([30.0, 10.0, 20.0])]
    (row,) = fidelity.median_rep_rows(recs, 1.0, 1.0, 10.0)
    assert row["workload"] == "w" and row["cow_ns"] == 20.0 and row["rep"] == 2
    assert row["cow_ns_reps"] == [10.0, 20.0, 30.0]
    assert row["objective_reps"] == [30.0, 10.0, 20.0]


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

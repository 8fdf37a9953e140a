"""experiments/corner_audit.py at ``--small`` (about 10-40 s): the shielded policies stay within
their budget's bound and the safety target on the corners no generator draws (bait and
switch, runs that stop when the window has grown, tiny and very short traces), and the
audit's judge flags what exceeds them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import load_experiment
from conftest import run_experiment as run

BAIT = ("bait_seq_random", "bait_periodic_64", "bait_stride_random", "stop_65")


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    d = tmp_path_factory.mktemp("corner")
    out = run("corner_audit", "--small", "--no-progress", "--json", str(d / "rows.json"),
              tmp=d, timeout=240)
    assert "## worst objective / baseline per policy and cost model" in out
    return json.loads((d / "rows.json").read_text())


def test_small_runs_every_policy_without_error(rows: list[dict[str, Any]]) -> None:
    mod = load_experiment("corner_audit")
    assert {r["trace"] for r in rows} == set(mod.SMALL)
    assert {r["costmodel"] for r in rows} == {"seed_table1", "host", "tcg"}
    assert not [r for r in rows if "ERROR" in r["flags"]]
    assert len(rows) == len(mod.SMALL) * 3 * len(mod.POLICIES)


def test_shielded_policies_within_bound_and_target(rows: list[dict[str, Any]]) -> None:
    """No shielded row over the budget's bound or issue #10's target, on any small corner."""
    shielded = [r for r in rows if r["policy"] in ("guarded", "shield64", "guarded0")]
    bad = [(r["costmodel"], r["policy"], r["trace"], r["ratio"]) for r in shielded
           if set(r["flags"]) & {"BOUND", "TARGET"}]
    assert not bad
    for r in shielded:
        assert r["ratio"] <= r["bound"] + 1e-12 and r["ratio"] <= r["target"] + 1e-12
        if r["costmodel"] != "tcg":
            assert r["bound"] <= 1.0100 + 1e-9  # 1% allowance, no decision price there


def test_loss_within_the_allowances_granted(rows: list[dict[str, Any]]) -> None:
    """The budget's own bound, run by run: the loss over k = 0 never exceeds the allowances
    the run granted (no GRANT flag); on isolated 4-page blocks and runs of 4 with gaps of 61
    ``guarded`` / ``shield64`` lose most of their grants (the check is not vacuous)."""
    g = [r for r in rows if "granted_ns" in r]
    assert {r["policy"] for r in g} == {"guarded", "shield64", "guarded0"}
    assert not [r for r in g if "GRANT" in r["flags"]]
    for r in g:
        assert r["loss_ns"] <= r["granted_ns"] + 1e-9 * r["objective"]
    by = {(r["trace"], r["costmodel"], r["policy"]): r for r in g}
    for cm in ("seed_table1", "host"):
        q = by[("r2_quads", cm, "guarded")]
        assert 0.5 * q["granted_ns"] < q["loss_ns"]
        s = by[("r2_run4_gap61", cm, "shield64")]
        assert 0.5 * s["granted_ns"] < s["loss_ns"]
        assert 1.003 < s["ratio"] <= 1.01


def test_bait_and_switch_gains_and_stays_safe(rows: list[dict[str, Any]]) -> None:
    """On the bait shapes the shield gains under seed_table1 / host (the bound is not met by
    doing nothing), within 1.01 x baseline; under tcg it is inert (baseline exactly)."""
    by = {(r["trace"], r["costmodel"], r["policy"]): r for r in rows}
    for t in BAIT:
        for p in ("guarded", "shield64"):
            for cm in ("seed_table1", "host"):
                assert by[(t, cm, p)]["ratio"] <= 1.01
            assert by[(t, "tcg", p)]["ratio"] == pytest.approx(1.0, abs=1e-12)
            assert by[(t, "tcg", p)]["precopied"] == 0
    assert by[("bait_seq_random", "seed_table1", "shield64")]["ratio"] < 0.95
    assert by[("stop_65", "host", "guarded")]["ratio"] < 0.97


def test_judge_flags_what_exceeds(rows: list[dict[str, Any]]) -> None:
    """readahead (not shielded) is flagged over the target on runs of 8 with gaps of 64;
    a shielded row over its bound is flagged BOUND, one under it is not."""
    assert "TARGET" in next(r for r in rows if r["trace"] == "run8_gap64"
                            and r["costmodel"] == "seed_table1"
                            and r["policy"] == "readahead")["flags"]
    mod = load_experiment("corner_audit")
    base = {"trace": "t", "costmodel": "host", "policy": "baseline", "objective": 1000.0,
            "faults": 10, "decide_ns": 0.0, "decides": False, "allowance_ns": 0.0,
            "seconds": 0.1, "rss_mb": 100.0}
    pol = {**base, "policy": "shield64", "allowance_ns": 1.0, "decides": True}
    over = mod.judge([dict(base), {**pol, "objective": 1010.5}])[1]
    under = mod.judge([dict(base), {**pol, "objective": 1009.9}])[1]
    assert over["flags"] == ["BOUND"] and under["flags"] == []
    slow = mod.judge([dict(base), {**pol, "objective": 1030.0, "seconds": 61.0}])[1]
    assert slow["flags"] == ["TARGET", "BOUND", "SLOW"]


def test_bad_corner_is_one_line(tmp_path: Path) -> None:
    err = run("corner_audit", "--corners", "tiny_1,nope", "--no-progress", tmp=tmp_path,
              status=2, timeout=60)
    assert "--corners: unknown corner 'nope'" in err

"""experiments/heldout_option.py: two sweeps compared job for job, and the rule applied."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))

from heldout_option import compare, per_holdout  # noqa: E402

from cowrl.errors import ConfigError  # noqa: E402


def _job(holdout: str, cm: str, ratio: float, wasted: int = 0, ref: float = 0.95) -> dict:
    rows = [{"policy": "guarded", "trace": f"{holdout}_0", "ratio": ratio, "precopied": wasted,
             "wasted": wasted},
            {"policy": "shield64", "trace": f"{holdout}_0", "ratio": ref, "precopied": 0,
             "wasted": 0}]
    return {"holdout": holdout, "seed": 0, "costmodel": cm, "rows": rows}


def _sweep(**ratio: float) -> dict:
    jobs = [_job(h, "host", r) for h, r in ratio.items()]
    jobs.append(_job("random", "host", 1.0, wasted=ratio.get("_waste", 0)))  # type: ignore[arg-type]
    return {(j["holdout"], 0, j["costmodel"]): j for j in jobs}


def test_the_rule_passes_and_fails_on_each_of_its_terms() -> None:
    before = _sweep(seq=0.90, validation=0.92)
    before[("app:redis", 0, "host")] = _job("app:redis", "host", 0.99)
    after = _sweep(seq=0.9005, validation=0.92)
    after[("app:redis", 0, "host")] = _job("app:redis", "host", 0.99)
    r = compare(before, after, "guarded", "shield64")["host"]
    assert r["pass"] and r["reference_same"]
    assert r["sets"]["families"]["change"] == pytest.approx(-0.025, abs=0.01)
    worse = dict(after)
    worse[("validation", 0, "host")] = _job("validation", "host", 0.925)  # -0.5 point
    assert not compare(before, worse, "guarded", "shield64")["host"]["ok"]["gain"]
    unsafe = dict(after)
    unsafe[("seq", 0, "host")] = _job("seq", "host", 1.02)
    assert not compare(before, unsafe, "guarded", "shield64")["host"]["ok"]["worst"]
    waste = dict(after)
    waste[("random", 0, "host")] = _job("random", "host", 1.0, wasted=2)
    assert not compare(before, waste, "guarded", "shield64")["host"]["ok"]["waste"]
    moved = dict(after)
    moved[("seq", 0, "host")] = _job("seq", "host", 0.9005, ref=0.96)  # the reference moved
    assert not compare(before, moved, "guarded", "shield64")["host"]["reference_same"]
    assert "| host | seq | +10.00% | +9.95% | -0.05 |" in per_holdout(before, after, "guarded")
    with pytest.raises(ConfigError, match="one sweep only"):
        compare(before, {k: v for k, v in after.items() if k[0] != "seq"}, "guarded", None)

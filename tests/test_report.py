"""The report's target checks."""

from __future__ import annotations

import math

from cowrl.report import (
    check_targets,
    generalization_section,
    generalization_targets,
    misses_section,
    near_best_misses,
)


def _rows(oracle: float, policy: float) -> list[dict]:
    return [{"policy": p, "workload": w, "objective": v, "wasted": 0, "precopied": 0}
            for w in ("a", "b") for p, v in (("baseline", 100.0), ("oracle", oracle),
                                             ("learned", policy))]


def test_oracle_share_when_the_oracle_has_room() -> None:
    c = check_targets(_rows(oracle=80.0, policy=90.0), "learned", ["a", "b"], None)
    assert math.isclose(c["oracle_gain_captured"], 0.5)
    assert c["oracle_ok"] is False
    assert math.isclose(c["oracle_gain_frac"], 0.2)


def test_no_oracle_share_when_the_oracle_gains_under_one_percent() -> None:
    # A 0.5% oracle gain would make a 4%-worse policy "capture -800%".
    c = check_targets(_rows(oracle=99.5, policy=104.0), "learned", ["a", "b"], None)
    assert "oracle_gain_captured" not in c and "oracle_ok" not in c
    assert math.isclose(c["oracle_gain_frac"], 0.005)


def _row(policy: str, workload: str, objective: float, wasted: int = 0,
         precopied: int = 0) -> dict:
    return {"policy": policy, "workload": workload, "objective": objective, "wasted": wasted,
            "precopied": precopied}


def test_per_workload_target_against_the_best_static_of_each_workload() -> None:
    """Target 1, by hand: on a the best static is precopy (80), the policy 85 -> 1.0625, a
    miss; on b the best static is baseline (100), the policy 104 -> 1.04, within 1.05.
    The oracle and readahead are no static policies: an oracle at 10 changes nothing."""
    rows = [_row("baseline", "a", 100.0), _row("precopy", "a", 80.0), _row("oracle", "a", 10.0),
            _row("learned", "a", 85.0), _row("baseline", "b", 100.0),
            _row("precopy", "b", 120.0), _row("readahead", "b", 50.0),
            _row("learned", "b", 104.0)]
    c = check_targets(rows, "learned", ["a", "b"], None)
    assert c["workloads"] == 2
    assert math.isclose(c["per_workload_worst_vs_best_static"], 85 / 80)
    assert c["per_workload_ok"] is False and c["per_workload_misses"] == ["a (1.062)"]
    c = check_targets(rows, "learned", ["b"], None)
    assert math.isclose(c["per_workload_worst_vs_best_static"], 1.04)
    assert c["per_workload_ok"] is True and c["per_workload_misses"] == []
    assert "geomean_ok" not in c and "random_waste_ok" not in c  # no singles, no random


def test_geomean_target_against_the_best_single_static() -> None:
    """Target 2, by hand: the policy's geometric mean over a, b is sqrt(50 x 200) = 100; the
    single statics' are sqrt(100 x 100) = 100 (k=1) and sqrt(25 x 400) = 100 (hugepage) at a
    tie, and sqrt(64 x 256) = 128 (k=2): the best is 100, so a 0% improvement, short of 15%;
    with the policy at 40 and 160 (geomean 80) it is 20%, which passes."""
    singles = {"k=1": {"a": 100.0, "b": 100.0}, "k=2": {"a": 64.0, "b": 256.0},
               "hugepage": {"a": 25.0, "b": 400.0}}
    for (pa, pb), gain in (((50.0, 200.0), 0.0), ((40.0, 160.0), 0.2)):
        rows = [_row("baseline", "a", 100.0), _row("baseline", "b", 100.0),
                _row("learned", "a", pa), _row("learned", "b", pb)]
        c = check_targets(rows, "learned", ["a", "b"], singles)
        assert math.isclose(c["geomean_improvement_vs_best_single"], gain, abs_tol=1e-12)
        assert c["best_single_static"] in ("k=1", "hugepage")
        assert c["geomean_ok"] is (gain >= 0.15)
    singles["k=2"] = {"a": 49.0, "b": 100.0}  # geomean 70: now the best single
    c = check_targets(rows, "learned", ["a", "b"], singles)
    assert c["best_single_static"] == "k=2"
    assert math.isclose(c["geomean_improvement_vs_best_single"], 1 - 80 / 70)
    assert c["geomean_ok"] is False


def test_random_waste_target_on_the_random_workloads_only() -> None:
    """Target 4, by hand: on random_a 3 of 100 precopied pages wasted (3%, within 5%), on
    random_b 6 of 100 (6%, a miss), on seq 90 of 100 (not a random workload: not counted);
    a random workload with nothing precopied wastes 0."""
    rows = [_row("baseline", w, 100.0) for w in ("random_a", "random_b", "seq", "random_c")]
    rows += [_row("learned", "random_a", 90.0, wasted=3, precopied=100),
             _row("learned", "random_b", 90.0, wasted=6, precopied=100),
             _row("learned", "seq", 90.0, wasted=90, precopied=100),
             _row("learned", "random_c", 90.0)]
    c = check_targets(rows, "learned", ["random_a", "random_b", "seq", "random_c"], None)
    assert c["random_waste_frac"] == {"random_a": 0.03, "random_b": 0.06, "random_c": 0.0}
    assert c["random_waste_ok"] is False
    c = check_targets(rows, "learned", ["random_a", "seq", "random_c"], None)
    assert c["random_waste_ok"] is True
    c = check_targets(rows, "learned", ["seq"], None)
    assert "random_waste_frac" not in c


def _grows(policy: dict[str, float], precopied: int = 100, wasted: int = 0) -> list[dict]:
    refs = {"baseline": {"seq": 100.0, "random": 100.0},
            "precopy_best": {"seq": 70.0, "random": 100.0},
            "oracle": {"seq": 60.0, "random": 90.0}}
    rows = [_row(p, w, v) for p, vs in refs.items() for w, v in vs.items()]
    rows += [_row("learned", w, v, wasted=wasted if w == "random" else 0, precopied=precopied)
             for w, v in policy.items()]
    return rows


def test_generalization_targets_by_hand() -> None:
    """Issue #10's targets on seq (best k 70, oracle 60) and random (best k 100, oracle 90).
    The policy at 75 and 101: worst 1.01 x baseline (random, within 1.02); worst 75 / 70 =
    1.071 x the best k (seq, within 1.10, 2/2); gain 1 - sqrt(0.75 x 1.01) = 12.96% of the
    oracle's 1 - sqrt(0.6 x 0.9) = 26.52%: share 0.489, a miss; 2 of 100 precopied pages
    wasted on random: 2%, a miss. At 80 and 103 safety (1.03) and near best (80 / 70 = 1.143)
    fail too, with 1/2 within."""
    c = generalization_targets(_grows({"seq": 75.0, "random": 101.0}, wasted=2), "learned",
                               ["seq", "random"], {})
    assert math.isclose(c["safety"], 1.01) and c["safety_trace"] == "random" and c["ok_safety"]
    assert math.isclose(c["near_best"], 75 / 70) and c["ok_near_best"] and c["within"] == 2
    assert math.isclose(c["gain"], 1 - math.sqrt(0.75 * 1.01))
    assert math.isclose(c["gain_share"], (1 - math.sqrt(0.75 * 1.01)) / (1 - math.sqrt(0.54)))
    assert c["ok_gain_share"] is False
    assert math.isclose(c["waste"], 0.02) and c["ok_waste"] is False
    c = generalization_targets(_grows({"seq": 80.0, "random": 103.0}), "learned",
                               ["seq", "random"], {})
    assert c["ok_safety"] is False and c["ok_near_best"] is False and c["within"] == 1
    assert c["waste"] == 0.0 and c["ok_waste"] is True
    md = "\n".join(generalization_section({"learned/traces": c}))
    assert "| learned/traces | 1.030 ✗ (random) | 1.143 ✗ (seq; 1/2 within) |" in md


def test_generalization_targets_need_every_reference_row() -> None:
    """Without precopy_best's (or the oracle's) row of a workload there is no check. A
    workload counts for the waste target by its family or its name (random: 5 of 100
    wasted), and with none of them counted there is no waste figure."""
    rows = [r for r in _grows({"seq": 75.0, "random": 101.0})
            if (r["policy"], r["workload"]) != ("precopy_best", "random")]
    assert generalization_targets(rows, "learned", ["seq", "random"], {}) == {}
    rows = _grows({"seq": 75.0, "random": 101.0}, wasted=5)
    c = generalization_targets(rows, "learned", ["seq"], {"seq": "sparse"})
    assert c["waste"] == 0.0 and c["n"] == 1
    c = generalization_targets(rows, "learned", ["seq", "random"], {"random": "tiled2d"})
    assert math.isclose(c["waste"], 0.05) and c["ok_waste"] is False
    c = generalization_targets(rows, "learned", ["seq"], {})
    assert c["waste"] is None and c["ok_waste"] is None


def _guard_row(workload: str, objective: float, faults: int, asked: int, floor: int,
               refused: int, windows: int, precopied: int, wasted: int) -> dict:
    return {"policy": "shield", "workload": workload, "objective": objective, "faults": faults,
            "precopied": precopied, "wasted": wasted, "guard_asked": asked,
            "guard_floor": floor, "guard_refused": refused, "guard_windows": windows}


def test_near_best_misses_read_the_tallies() -> None:
    """Only traces above 1.10 x the best fixed k are listed, each with the first reading
    that applies: little asked (under 5% of the faults asked past the floor), below
    break-even (copies written under the break-even share), budget-bound (half or more of
    the windows asked refused), else smaller windows."""
    best = {"ok": 95.0, "rand": 70.0, "block": 80.0, "start": 70.0, "ramp": 70.0}
    rows = [{"policy": "precopy_best", "workload": w, "objective": v, "best_k": 8}
            for w, v in best.items()]
    rows += [_guard_row("ok", 100.0, 1000, 900, 0, 800, 50, 100, 0),       # 1.053: within
             _guard_row("rand", 100.0, 1000, 80, 31, 0, 40, 40, 2),         # 49 past the floor
             _guard_row("block", 100.0, 1000, 900, 0, 100, 800, 1000, 400),  # 60% written
             _guard_row("start", 100.0, 1000, 900, 100, 400, 300, 900, 9),   # 400 of 800
             _guard_row("ramp", 100.0, 1000, 900, 100, 399, 300, 900, 9)]    # 399 of 800
    m = near_best_misses(rows, "shield", list(best), break_even=0.85)
    assert [(x["trace"], x["reading"]) for x in m] == [
        ("rand", "little asked"), ("block", "below break-even"), ("start", "budget-bound"),
        ("ramp", "smaller windows")]
    assert m[0]["asked"] == 49 and math.isclose(m[0]["vs_best"], 100 / 70)
    assert math.isclose(m[1]["used"], 0.6)
    md = "\n".join(misses_section({"shield/traces": m}, 0.85))
    assert "| shield/traces | block | 1.250 (8) | 1,000 | 900 | 100 | 800 | 1,000 (60.0%) | " \
           "below break-even |" in md
    assert "at least 85.0% are" in md
    # a row without tallies (not a GUARDED program; on the kernel target: copies but no
    # window tallied) or without precopy_best's: no reading
    plain = [{**r, "guard_asked": None} if r["policy"] == "shield" else r for r in rows]
    assert near_best_misses(plain, "shield", list(best), 0.85) == []
    assert near_best_misses(rows[1:], "shield", list(best), 0.85) == []
    zeros = [{**r, "guard_windows": 0} if r["workload"] == "block" else r for r in rows]
    assert near_best_misses(zeros, "shield", list(best), 0.85) == []

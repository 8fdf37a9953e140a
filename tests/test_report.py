"""The report's target checks."""

from __future__ import annotations

import math

from cowrl.report import check_targets


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

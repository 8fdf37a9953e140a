"""bench_kernel_proof's ring prices from the passes of a cowrl_stress proof series (no boot).

The kernel test (tests/kernel/test_kernel_target.py, the proof-ring prices) compares these
figures with ``tcg``'s prices; here: the median over passes of a pair's difference in the same
pass shrugs off one pass hit by something else the vCPU ran (a per-CPU list refill more on
6.12 is about 30,000 instruction-ns), and still moves with the module's own cost."""

from __future__ import annotations

import pytest
from conftest import load_experiment

from cowrl.registry import make_costmodel

FAULTS, JUMPS, JUMP = 2048, 2031, 43.0
BASE = 29_000.0 * FAULTS
PASS_SHIFT = [0.0, 11_000.0, -7_000.0, 23_000.0, 4_000.0]
"""What each pass adds to both runs of a pair (6.12's passes move together like this)."""


def _counts(jumps: int) -> dict[str, int]:
    return {"faults": FAULTS, "copies": FAULTS, "proven": FAULTS - 1, "unproven": 0,
            "empty": 0, "live": 0, "jumps": jumps, "duejumps": 0, "scans": 0}


def _runs(jump_ns: float = JUMP, hit: tuple[int, int, float] | None = None
          ) -> tuple[dict, dict]:
    """The bare jump pair (runs 5 and 6 of proofstep): ``b`` makes JUMPS jumps more at
    ``jump_ns`` each; ``hit`` = (run 0 or 1, pass, instruction-ns) adds to one run's pass."""
    reps = [[BASE + s for s in PASS_SHIFT], [BASE + s + JUMPS * jump_ns for s in PASS_SHIFT]]
    if hit is not None:
        reps[hit[0]][hit[1]] += hit[2]
    return tuple({"loop_ns": sorted(r)[2], "loop_ns_reps": r} for r in reps)  # type: ignore


@pytest.fixture(scope="module")
def bench():  # noqa: ANN201
    return load_experiment("bench_kernel_proof")


def test_the_pair_is_the_median_of_its_passes_differences(bench) -> None:  # noqa: ANN001
    cm = make_costmodel("tcg")
    a, b = _runs()
    price, away = bench.ring_price(a, b, _counts(0), _counts(JUMPS), cm, "jumps")
    assert price == pytest.approx(JUMP) and away == 0.0


@pytest.mark.parametrize("run", [0, 1])
@pytest.mark.parametrize("extra", [30_000.0, -30_000.0, 120_000.0])
def test_one_pass_hit_does_not_move_the_price(bench, run: int, extra: float) -> None:  # noqa: ANN001
    """One refill more (or less) in one run's pass moved a pair of single figures by
    extra / JUMPS (~15 instruction-ns a jump, a third of the price); the median drops it."""
    cm = make_costmodel("tcg")
    a, b = _runs(hit=(run, 3, extra))
    price = bench.ring_price(a, b, _counts(0), _counts(JUMPS), cm, "jumps")[0]
    assert price == pytest.approx(JUMP, abs=6_000 / JUMPS)
    one = (b["loop_ns_reps"][3] - a["loop_ns_reps"][3]) / JUMPS
    assert abs(one - JUMP) == pytest.approx(abs(extra) / JUMPS)


def test_a_dearer_jump_moves_the_price_and_fails_the_bound(bench) -> None:  # noqa: ANN001
    """The check can fail: a module whose jump costs 25 instruction-ns more in every pass
    prices at 68.0, above ``tcg``'s ``proof_jump_ns`` x 1.03 (the kernel test's bound)."""
    cm = make_costmodel("tcg")
    a, b = _runs(jump_ns=JUMP + 25.0)
    price = bench.ring_price(a, b, _counts(0), _counts(JUMPS), cm, "jumps")[0]
    assert price == pytest.approx(JUMP + 25.0)
    assert price > cm.proof_jump_ns * 1.03


def test_an_older_result_without_passes_prices_from_loop_ns(bench) -> None:  # noqa: ANN001
    cm = make_costmodel("tcg")
    a, b = ({"loop_ns": BASE}, {"loop_ns": BASE + JUMPS * JUMP})
    assert bench.ring_price(a, b, _counts(0), _counts(JUMPS), cm, "jumps")[0] == \
        pytest.approx(JUMP)
    with pytest.raises(ValueError, match="unknown stat"):
        bench.pass_diffs(*_runs(), stat="mean")

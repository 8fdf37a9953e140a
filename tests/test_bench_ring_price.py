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


DUE_MORE, JUMP_TRUE = 11_937, 158.0
"""The refresh pair's extra due jumps (session 34) and what one costs: 20 below ``tcg``'s
``proof_duejump_ns`` 178.0, the upper bound the pair prices them away at."""
SCANS = 4 * DUE_MORE
"""Its extra refreshed entries (4 a jump): each is priced 20 / 4 = 5.0 below what it costs."""


def _scan_pair(entry_ns: float) -> tuple[dict, dict, dict, dict]:
    """The ``proof_duemap`` refresh pair (``--what scan``): run ``b`` refreshes SCANS more
    waiting entries at ``entry_ns`` each and makes DUE_MORE more due jumps at JUMP_TRUE each,
    in every pass (the passes move together, PASS_SHIFT)."""
    extra = SCANS * entry_ns + DUE_MORE * JUMP_TRUE
    reps = [[BASE + s for s in PASS_SHIFT], [BASE + s + extra for s in PASS_SHIFT]]
    a, b = ({"loop_ns": sorted(r)[2], "loop_ns_reps": r} for r in reps)
    ca = {**_counts(0), "duejumps": 3_000, "scans": 20_000}
    cb = {**ca, "duejumps": 3_000 + DUE_MORE, "scans": 20_000 + SCANS}
    return a, b, ca, cb


@pytest.mark.parametrize("release", ["6.1.0-57-amd64", "6.12.118+deb13-amd64"])
@pytest.mark.parametrize(("entry_ns", "priced", "holds"), [
    (14.40, 9.40, True),   # above 0.85 x 11.0 = 9.35 (below 0.9's 9.90 and 0.86's 9.46)
    (14.30, 9.30, False),  # below 9.35: the floor binds (above 0.84's 9.24 and 0.8's 8.80)
])
def test_the_refresh_pair_against_scan_floor(bench, release: str, entry_ns: float,  # noqa: ANN001
                                             priced: float, holds: bool) -> None:
    """``SCAN_FLOOR`` by hand: the pair's figure is entry_ns - 20 / 4 (its due jumps priced
    away 20 too dear, 4 entries a jump), and the kernel test's floor for ``--what scan``
    (``ring_floor``, on either kernel) is 0.85 x ``tcg``'s ``proof_duescan_ns`` 11.0 = 9.35:
    9.40 holds, 9.30 does not. A floor of 0.84 / 0.86 or the other steps' 0.9 / the due
    jump's 0.8 in its place each flips one of the two."""
    cm = make_costmodel("tcg")
    assert (cm.proof_duescan_ns, cm.proof_duejump_ns) == (11.0, 178.0)
    assert bench.ring_floor("scan", release) == (0.85, "median")
    assert bench.SCAN_FLOOR * cm.proof_duescan_ns == pytest.approx(9.35)
    share, stat = bench.ring_floor("scan", release)
    a, b, ca, cb = _scan_pair(entry_ns)
    price, away = bench.ring_price(a, b, ca, cb, cm, "scans", stat)
    assert price == pytest.approx(priced)
    assert away == pytest.approx(DUE_MORE * 178.0 / (SCANS * entry_ns + DUE_MORE * JUMP_TRUE))
    assert price <= cm.proof_duescan_ns * 1.03  # the kernel test's upper bound holds in both
    assert bench.floor_holds([price], cm.proof_duescan_ns, share) is holds


def test_each_ring_step_has_its_floor(bench) -> None:  # noqa: ANN001
    """The floors the kernel test reads: 0.9 for the empty slot and the live entry, 0.8 for the
    due jump, SCAN_FLOOR's 0.85 for the refreshed entry, JUMP_FLOOR's 0.65 of each run's
    minimum for the jump on 6.1 and none on 6.12; an unknown step is refused."""
    floors = {w: bench.ring_floor(w, "6.1.0-57-amd64") for w in bench.RING_PAIRS}
    assert floors == {"step": (0.9, "median"), "skip": (0.9, "median"),
                      "jump": (0.65, "min"), "due": (0.8, "median"), "scan": (0.85, "median")}
    assert bench.ring_floor("jump", "6.12.118+deb13-amd64") is None
    assert bench.ring_floor("scan", "6.12.118+deb13-amd64") == (0.85, "median")
    with pytest.raises(ValueError, match="unknown --what 'read'"):
        bench.ring_floor("read", "6.1.0-57-amd64")

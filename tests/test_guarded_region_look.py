"""``guarded``'s ``region_look`` (a simulator study, session 44, docs/results/region-look-s44.md):
``last_look``'s last look, whose proving credit goes to a late reserve of the copying window's
row (class, strided) and region, which only that row's windows in that region may draw on (2:
at most what the budget holds). The compiled program decides as the prototype; the loss stays
within the allowances; off (the default) leaves the program as it was; bad values name the
field; the module's table and the kernel target refuse it (tests/test_sim_study_options.py)."""

from __future__ import annotations

import numpy as np
import pytest
from test_guarded_last_look import _columns, _dev_shapes, _shield
from test_guarded_program import (
    _compiled_equals_and_option_matters,
    _compiled_equals_prototype,
)
from test_guarded_proof import _bound_traces, _excess

from cowrl.errors import ConfigError
from cowrl.policies.guarded import N_CELLS, GuardedPolicy, shipped_options
from cowrl.registry import make_costmodel
from cowrl.sim import programs as P
from cowrl.sim.simulator import simulate
from cowrl.traces import generators as g
from cowrl.traces.io import Trace


def _phase_shift(n: int = 4096) -> Trace:
    """A sequential writer over the first half, then the second half written at random: the
    first phase's copies are proven by their last looks while the second phase copies, the
    credit a stream earned (row 0) and the second phase's faults are misses (row 2)."""
    rng = np.random.default_rng(2000)
    half = n // 2
    pages = np.concatenate([np.arange(half), half + rng.permutation(half)]).astype(np.int64)
    return Trace(pages=pages, n_pages=n, name="seq_then_random")


def test_the_credit_goes_to_the_late_reserve_not_the_budget() -> None:
    """On the column sweep the last looks prove as many entries as with ``last_look`` at first
    (the same reads), their credit lands in the late reserves, windows draw on it, and the
    budget is credited only by the looks."""
    t = _columns()
    cost = make_costmodel("seed_table1")
    ll, rl = _shield(last_look=1), _shield(region_look=1)
    simulate(t, ll, cost, fast=False)
    simulate(t, rl, cost, fast=False)
    assert rl.ctx.last_proven > 0 and rl.ctx.late_spent > 0
    assert rl.ctx.overwritten == rl.ctx.last_unproven
    assert sum(rl.ctx.late) >= 0 and all(x >= 0 for x in rl.ctx.late)
    assert rl.ctx.proven > 0


def test_a_phase_cannot_spend_another_rows_credit() -> None:
    """Sequential then random: with ``last_look`` the stream's late credit finances the random
    phase's windows; with ``region_look: 1`` the random phase (other-class faults) cannot draw
    on the stream row's reserve, so it copies no more than with ``last_look``, and the
    reserve of the stream row is what is left over."""
    t = _phase_shift()
    cost = make_costmodel("seed_table1")
    ll, rl = _shield(last_look=1), _shield(region_look=1)
    r_ll = simulate(t, ll, cost, fast=False)
    r_rl = simulate(t, rl, cost, fast=False)
    assert rl.ctx.last_proven > 0
    assert r_rl.wasted <= r_ll.wasted
    assert rl.ctx.late[0] > 0  # the stream row's credit, never spent by the random phase


def test_lineage_keeps_the_financed_windows_credit_in_the_reserve() -> None:
    """``region_look: 3``: on the column sweep, entries of windows that drew on a late
    reserve are proven by ordinary looks and their credit goes to the reserve (``late_looked``);
    with 1 none does, and 3 decides otherwise than 1 there."""
    t = _columns()
    cost = make_costmodel("seed_table1")
    one, three = _shield(region_look=1), _shield(region_look=3)
    _, ev1 = simulate(t, one, cost, fast=False, record_events=True)
    _, ev3 = simulate(t, three, cost, fast=False, record_events=True)
    assert one.ctx.late_looked == 0 and not any(one.ctx.proof_latefin)
    assert three.ctx.late_looked > 0
    assert not np.array_equal(ev1.k, ev3.k)


@pytest.mark.parametrize("cm", ["seed_table1", "host"])
@pytest.mark.parametrize("value", [1, 2, 3])
def test_compiled_decides_as_the_prototype_on_development_shapes(cm: str, value: int) -> None:
    """Fault for fault, the prototype and the compiled program with region_look 1 / 2
    (shield64 as the study runs it, and the shipped table), on development shapes where the
    ring wraps (seeds 2000+); and the option changes some decision there, against both
    off and ``last_look: 1``."""
    from cowrl.policies.guarded import make_guarded

    cost = make_costmodel(cm)
    differ = differ_ll = 0
    for on, off, ll in ((_shield(cm, region_look=value), _shield(cm), _shield(cm, last_look=1)),
                        (make_guarded(table="guarded", costmodel=cm, region_look=value,
                                      **shipped_options("guarded")),
                         make_guarded(table="guarded", costmodel=cm,
                                      **shipped_options("guarded")),
                         make_guarded(table="guarded", costmodel=cm, last_look=1,
                                      **shipped_options("guarded")))):
        for t in [*_dev_shapes(), _phase_shift()]:
            _, ev = _compiled_equals_prototype(t, on, cost)
            _, ev0 = simulate(t, off, cost, record_events=True, fast=True)
            _, ev1 = simulate(t, ll, cost, record_events=True, fast=True)
            differ += not np.array_equal(ev.k, ev0.k)
            differ_ll += not np.array_equal(ev.k, ev1.k)
    assert differ > 0 and differ_ll > 0


def _policies(value: int) -> list[GuardedPolicy]:
    cost = make_costmodel("host")
    rand = [int(k) for k in np.random.default_rng(0).choice([0, 1, 2, 4, 8, 16, 32, 64],
                                                            size=N_CELLS)]
    return [
        _shield("host", region_look=value),
        GuardedPolicy.for_cost(cost, table=[64] * N_CELLS, region_look=value,
                               **shipped_options("guarded_adjacent")),
        # loose budgets: a random table with proofs (ttl 3: expiry), use_proof, a skip price
        GuardedPolicy(table=rand, budget_per_mille=1000, skip_ns=300, setup_ns=900,
                      grant_left=0, proof=1, proof_reads=2, proof_ttl=3, use_proof=1,
                      read_credit=1, read_ns=700, region_look=value),
        GuardedPolicy(table=rand, budget_per_mille=300, skip_ns=300, setup_ns=900,
                      grant_left=1, scan=8, merge=True, protect=True, slots=2, near=5,
                      proof=1, proof_reads=1, proof_backoff=1, region_look=value)]


@pytest.mark.parametrize("value", [1, 2, 3])
@pytest.mark.parametrize("pi", range(4))
def test_compiled_decides_as_the_prototype(pi: int, value: int) -> None:
    """On every trace of test_guarded_program (multi-region, pools at recorded addresses:
    several keys share the rows), fault for fault, and the option changes decisions."""
    _compiled_equals_and_option_matters(_policies(value)[pi], region_look=0)


@pytest.mark.parametrize("cm", ["seed_table1", "host"])
@pytest.mark.parametrize("value", [1, 2, 3])
def test_the_loss_stays_within_the_allowances(cm: str, value: int) -> None:
    """The bound (test_guarded_proof's): the loss over k = 0 stays within the allowances
    granted with region_look 1 / 2, tables of 64s and of 1s, the shipped proof options and
    misses by expiry (ttl 3, 1), on its adversarial traces, the column sweep and the phase
    shift."""
    for t in [*_bound_traces(), _columns(), _phase_shift()]:
        for k in (64, 1):
            for opts in ({"proof_ttl": 16, "proof_backoff": 1, "read_credit": 1,
                          "proof_look": 1, "proof_span": 1},
                         {"proof_ttl": 3, "grant_left": 0},
                         {"proof_ttl": 1, "read_credit": 1, "proof_reads": 1}):
                excess, granted = _excess(t, [k] * N_CELLS, cm, proof=1, region_look=value,
                                          **opts)
                assert excess <= granted + t.n_pages, (t.name, k, opts)


def test_the_budget_and_reserves_never_go_negative() -> None:
    """Fault by fault (the prototype), on development draws of families where the ring
    wraps: neither the budget nor a reserve goes below zero, with 1, 2 or 3;
    and the compiled program's budget flow tallies still add up (reserve flows not in them)."""
    cost = make_costmodel("seed_table1")
    for value in (1, 2, 3):
        for fam in ("seq", "tiled2d", "phases", "interleaved", "alloc_pool"):
            t = g.randomized(seed=2001, draw=0, families=fam)
            pol = _shield(region_look=value)
            low = []

            orig = pol.act

            def act(c, ctx, want=None, _pol=pol, _orig=orig, _low=low):  # noqa: ANN001, ANN202
                k = _orig(c, ctx, want)
                _low.append(min(*_pol.ctx.late, _pol.budget))
                return k

            pol.act = act
            simulate(t, pol, cost, fast=False)
            assert not low or min(low) >= 0, (fam, value)
            res, ev = simulate(t, _shield(region_look=value), cost, record_events=True,
                               fast=True)
            if ev.tallies is not None:
                added, spent = P.budget_flow(ev.tallies)
                assert added - spent == ev.tallies["budget_ns"], fam


def test_off_decides_as_before() -> None:
    """``region_look: 0`` (the default): shield64 off decides as shield64 always did (the same
    events as a policy built without the keyword); the program and options checks are
    tests/test_sim_study_options.py's."""
    cost = make_costmodel("host")
    for t in _dev_shapes()[:3]:
        _, ev0 = simulate(t, _shield("host", region_look=0), cost, record_events=True,
                          fast=False)
        _, ev1 = _compiled_equals_prototype(t, _shield("host"), cost)
        assert np.array_equal(ev0.k, ev1.k)


@pytest.mark.parametrize(("kw", "field"), [
    ({"region_look": 4, "proof": 1}, "policy.region_look must be"),
    ({"region_look": -1, "proof": 1}, "policy.region_look must be"),
    ({"region_look": True, "proof": 1}, "policy.region_look must be"),
    ({"region_look": 1.5, "proof": 1}, "policy.region_look must be"),
    ({"region_look": "1", "proof": 1}, "policy.region_look must be"),
    ({"region_look": 1}, "policy.region_look: 1|2|3 needs proof"),
    ({"region_look": 2, "proof": 1, "last_look": 1}, "policy.region_look: not with last_look"),
])
def test_bad_values_name_the_field(kw: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field) as e:
        GuardedPolicy(**kw)
    assert "\n" not in str(e.value)


def test_the_fates_script_runs_and_refuses_bad_input() -> None:
    """experiments/region_look_fates.py (the doc's section 3) on one development draw, and a
    one-line error for an unknown family."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    script = str(root / "experiments" / "region_look_fates.py")
    out = subprocess.run([sys.executable, script, "--costmodels", "host", "--families",
                          "alloc_pool", "--draws", "1", "--variants", "off", "region1",
                          "--tenths"], cwd=root, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("x baseline") == 2 and out.stdout.count("k asked per tenth") == 2
    out = subprocess.run([sys.executable, script, "--families", "bogus"], cwd=root,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        "error: --families: unknown family 'bogus'"], out.stderr

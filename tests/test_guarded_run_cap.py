"""``guarded``'s ``run_cap`` (a simulator study, session 40, docs/results/run-cap-s40.md): an
adjacent window at a stream fault stops where the stream's run would end if it were as long
as the slot's previous run. Hand-computed block traces fix which pages are copied; the
compiled program decides as the prototype; off (the default) leaves the program as it was;
the module's table export, the kernel target and the learner refuse it."""

from __future__ import annotations

import numpy as np
import pytest
from test_guarded_program import (
    _compiled_equals_and_option_matters,
    _compiled_equals_prototype,
)

from cowrl.errors import ConfigError
from cowrl.policies.guarded import (
    N_CELLS,
    GuardedPolicy,
    learn_table,
    shipped_options,
)
from cowrl.registry import make_costmodel
from cowrl.sim.simulator import simulate
from cowrl.traces import generators as g
from cowrl.traces.io import Trace


def _loose(run_cap: int, **kw: object) -> GuardedPolicy:
    """A table of 2s whose budget covers every window: an allowance of ``demand_ns`` (17734)
    at every fault (``grant_left: 0``), ``loss_ns`` 1000 per copied page."""
    opts = {"loss_ns": 1000, "budget_per_mille": 1000, "grant_left": 0, **kw}
    return GuardedPolicy(table=[2] * N_CELLS, run_cap=run_cap, **opts)


def _run(t: Trace, pol: GuardedPolicy, fast: bool) -> tuple:
    """(fault pages, degrees, faults, copied, wasted) of a replay."""
    r, ev = simulate(t, pol, make_costmodel("seed_table1"), record_events=True, fast=fast)
    return ([int(p) for p in ev.page], [int(k) for k in ev.k], r.faults, r.precopied,
            r.wasted)


def _blocks(*runs: tuple[int, int]) -> Trace:
    """Ascending runs ``(first page, length)`` written in turn, in 32 pages."""
    pages = np.concatenate([np.arange(a, a + n) for a, n in runs])
    return Trace(pages=pages, n_pages=32, name="blocks")


@pytest.mark.parametrize("fast", [False, True])
def test_windows_stop_at_the_previous_runs_end(fast: bool) -> None:
    """Blocks of 4 pages, gaps of 4: 0-3, 8-11, 16-19, 24-27. Off: the fault on 0 copies 1, 2;
    the one on 3 copies 4, 5 (the gap: wasted); every block the same: 8 faults, 16 copied, 8
    wasted. On: the first block as off (no length known; its run is 0..3, last fault 3: 4
    pages); the fault on 8 (near: a new run) may copy 3 pages, wants 2: 9, 10; the one on 11
    (the run's 4th page) gets k = 0; its window (none) ends at 11 = 8 + 4 - 1, so the length
    4 is kept for the next blocks: 8 faults, 10 copied, 2 wasted (4 and 5)."""
    t = _blocks((0, 4), (8, 4), (16, 4), (24, 4))
    faults = [0, 3, 8, 11, 16, 19, 24, 27]
    assert _run(t, _loose(0), fast) == (faults, [2] * 8, 8, 16, 8)
    assert _run(t, _loose(1), fast) == (faults, [2, 2, 2, 0, 2, 0, 2, 0], 8, 10, 2)


@pytest.mark.parametrize("fast", [False, True])
def test_a_longer_run_is_not_capped(fast: bool) -> None:
    """0-3, then 8-13: the fault on 8 copies 9, 10 (3 left of a 4-page run), the one on 11
    gets k = 0 (the 4th page), the one on 12 is past the previous run's length: no cap, it
    copies 13 and 14 (wasted). Off: 0 copies 1, 2; 3 copies 4, 5; 8 copies 9, 10; 11 copies
    12, 13: 4 faults, 8 copied, 2 wasted."""
    t = _blocks((0, 4), (8, 6))
    assert _run(t, _loose(1), fast) == ([0, 3, 8, 11, 12], [2, 2, 2, 0, 2], 5, 8, 3)
    assert _run(t, _loose(0), fast) == ([0, 3, 8, 11], [2, 2, 2, 2], 4, 8, 2)


def _policies() -> list[GuardedPolicy]:
    cost = make_costmodel("host")
    rand = [int(k) for k in np.random.default_rng(0).choice([0, 1, 2, 4, 8, 16, 32, 64],
                                                            size=N_CELLS)]
    return [
        # shield64 as the study runs it (strided windows on), and with adjacent windows
        GuardedPolicy.for_cost(cost, table=[64] * N_CELLS, run_cap=1,
                               **shipped_options("guarded")),
        GuardedPolicy.for_cost(cost, table=[64] * N_CELLS, run_cap=1,
                               **shipped_options("guarded_adjacent")),
        # loose budgets: a random table with proofs and a skip price, scan + merge + protect
        GuardedPolicy(table=rand, budget_per_mille=1000, skip_ns=300, setup_ns=900,
                      grant_left=0, proof=1, proof_reads=8, run_cap=1),
        GuardedPolicy(table=rand, budget_per_mille=300, skip_ns=300, setup_ns=900,
                      grant_left=1, scan=8, merge=True, protect=True, slots=2, near=5,
                      run_cap=1)]


@pytest.mark.parametrize("pi", range(4))
def test_compiled_decides_as_the_prototype(pi: int) -> None:
    """On every trace of test_guarded_program (multi-region, pools at recorded addresses),
    fault for fault, and the option changes decisions somewhere."""
    _compiled_equals_and_option_matters(_policies()[pi], run_cap=0)


@pytest.mark.parametrize("pi", range(4))
def test_compiled_decides_as_the_prototype_on_blocks(pi: int) -> None:
    """... and on block traces (runs of 8 with gaps of 4, 8 with 8, 4 with 4, 16 with 8)."""
    cost = make_costmodel("seed_table1")
    for b, gap in ((8, 4), (8, 8), (4, 4), (16, 8)):
        _compiled_equals_prototype(g.block_stride(n_pages=2048, block=b, gap=gap),
                                   _policies()[pi], cost)


def test_the_learner_refuses_it() -> None:
    t = Trace(pages=np.arange(64), n_pages=64, name="seq64")
    with pytest.raises(ConfigError, match="policy.run_cap"):
        learn_table([t], [make_costmodel("host")], passes=1, run_cap=1)


@pytest.mark.parametrize("v", [2, -1, True, 0.5])
def test_bad_values_name_the_field(v: object) -> None:
    with pytest.raises(ConfigError, match="policy.run_cap"):
        GuardedPolicy(run_cap=v)

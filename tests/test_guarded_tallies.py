"""The GUARDED decision tallies (ABI 17): why a window was or was not granted, counted by the
compiled simulator (``programs.guarded_tallies``, ``SimEvents.tallies``) and by
``cowrl_guarded.h`` (``CGuarded.last_tallies``, what the module returns as its ``guard_*``
counters) at the same branches. Hand-counted on tiny traces; equal to each other and
consistent (asked = floor + refused + windows) on the kernel tests' traces; never a decision."""

from __future__ import annotations

import numpy as np
import pytest

from cowrl.policies.guarded import N_CELLS, GuardedPolicy
from cowrl.policies.readahead import Readahead
from cowrl.registry import make_costmodel, make_policy
from cowrl.sim import simulate
from cowrl.sim.programs import GUARD_TALLY_KEYS
from cowrl.traces import generators as g
from cowrl.traces.io import Trace


@pytest.fixture(scope="module")
def cguarded(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from cowrl.kernel.table import CGuarded

    return CGuarded(tmp_path_factory.mktemp("cguarded_tallies"))


def _seq(n: int) -> Trace:
    return Trace(np.arange(n), n, name=f"seq{n}")


def _counted(cguarded, t: Trace, pol: GuardedPolicy) -> dict[str, int]:  # noqa: ANN001
    """The simulator's tallies of ``pol`` on ``t``, checked equal to the header's (and its
    decisions equal), as a dict without the zero entries."""
    from cowrl.kernel.table import pack_guarded

    _, ev = simulate(t, pol, make_costmodel("seed_table1"), record_events=True)
    assert ev.tallies is not None and tuple(ev.tallies) == GUARD_TALLY_KEYS
    page, k = cguarded.replay(pack_guarded(pol.kernel_program()), t.pages, t.n_pages,
                              t.region_ends)
    assert page.tolist() == ev.page.tolist() and k.tolist() == ev.k.tolist()
    assert cguarded.last_tallies == ev.tallies, (cguarded.last_tallies, ev.tallies)
    return {key: v for key, v in ev.tallies.items() if v}


def test_the_floor_holds_every_window(cguarded) -> None:  # noqa: ANN001
    # floor 256: the hit rate (from 128, at most 241) never reaches it. Each of the 8 writes
    # faults (k = 0), each asks 2 pages, each is held by the floor; each fault's sentinel is
    # the next page, which the next fault hits: 7 hits.
    pol = GuardedPolicy(table=[2] * N_CELLS, floor=256, grant_left=0)
    assert _counted(cguarded, _seq(8), pol) == {"asked": 8, "floor": 8, "hits": 7}


def test_a_budget_below_the_setup_refuses_every_window(cguarded) -> None:  # noqa: ANN001
    # 1 ns of allowance per fault (demand 1000 ns, 1 per mille) against a setup of 1000 ns:
    # after 8 faults the budget holds 8 ns (a hit adds one allowance instead): every window
    # asked is refused by the budget (the header: at observe, below setup_ns; the simulator:
    # no degree fits), none by the floor (0).
    pol = GuardedPolicy(table=[2] * N_CELLS, grant_left=0, demand_ns=1000, budget_per_mille=1,
                        setup_ns=1000)
    assert not pol.inert
    assert _counted(cguarded, _seq(8), pol) == {"asked": 8, "refused": 8, "hits": 7}


def test_windows_cut_short_by_the_budget(cguarded) -> None:  # noqa: ANN001
    # 100 ns of allowance per fault, 100 ns reserved per copied page, degrees 1, 2, 4, the
    # table asks 4 everywhere, proof 0 (a sentinel hit returns its window's reserve):
    # fault 0: budget 100 -> k 1 (2 pages would cost 200; short), 0 left, sentinel 2;
    # fault 2: hit, +100 reserve +100 allowance = 200 -> k 2 (short), 0 left, sentinel 5;
    # fault 5: hit, +200 +100 = 300 -> k 2 (4 would cost 400; short), 100 left, sentinel 8;
    # fault 8: hit, +200 +100 = 400 -> k 4, 0 left, sentinel 13;
    # fault 13: hit, +400 +100 = 500 -> k 4, its window 14..15 (the region ends): 2 pages.
    pol = GuardedPolicy(table=[4] * N_CELLS, grant_left=0, demand_ns=1000, budget_per_mille=100,
                        loss_ns=100, gain_ns=0, setup_ns=0, degrees=(1, 2, 4))
    assert _counted(cguarded, _seq(16), pol) == {"asked": 5, "windows": 5, "short": 3,
                                                 "pages": 1 + 2 + 2 + 4 + 2, "hits": 4}


def test_a_window_past_the_region_end_is_granted_with_no_page(cguarded) -> None:  # noqa: ANN001
    # loss 0: every window of 4 fits. Faults at 0, 5, 10, 15; the last one's window lies past
    # the region: granted (k 4), no page read shared. Each later fault hits the sentinel.
    pol = GuardedPolicy(table=[4] * N_CELLS, grant_left=0, demand_ns=1000, budget_per_mille=100,
                        loss_ns=0, gain_ns=0, setup_ns=0, degrees=(1, 2, 4))
    assert _counted(cguarded, _seq(16), pol) == {"asked": 4, "windows": 4, "pages": 12,
                                                 "hits": 3}


def _kernel_test_traces() -> list[Trace]:
    """The shapes of tests/kernel/test_kernel_target.py's GUARDED traces, and a column sweep."""
    multi = g.block_stride(n_pages=1024, block=5, gap=2)
    cols = np.array([r * 32 + c for c in range(32) for r in range(32)], dtype=np.int64)
    return [g.alloc_pool(n_pages=1024, sizes=(2, 4), density=0.8, whole=0.7, streams=2, seed=3),
            Trace(multi.pages, multi.n_pages, name="g_multi",
                  region_sizes=np.array([300, 211, 513])),
            g.block_stride(n_pages=1024, block=3, gap=3),
            g.uniform(n_pages=1024, writes=1024, seed=3), Trace(cols, 1024, name="columns")]


@pytest.mark.parametrize("name", ["shield64", "guarded"])
def test_the_header_counts_as_the_simulator_on_the_kernel_traces(cguarded, name: str) -> None:  # noqa: ANN001
    """shield64 and the shipped guarded (strided windows on): on every trace the tallies of
    the header and of the compiled simulator are equal, windows are the faults of k > 0,
    asked = floor + refused + windows; summed, windows are granted, cut short, refused by the
    budget and strided (the column sweep)."""
    total = dict.fromkeys(GUARD_TALLY_KEYS, 0)
    cost = make_costmodel("seed_table1")
    for t in _kernel_test_traces():
        pol = make_policy(name).deployed_under(cost)  # (costmodel: auto) at seed_table1's
        _, ev = simulate(t, pol, cost, record_events=True)
        tal = ev.tallies
        assert tal is not None
        assert tal["windows"] == int(np.count_nonzero(ev.k)), t.name
        assert tal["asked"] == tal["floor"] + tal["refused"] + tal["windows"], t.name
        assert tal["short"] <= tal["windows"] and tal["strided"] <= tal["windows"], t.name
        assert _counted(cguarded, t, pol) == {k: v for k, v in tal.items() if v}
        for k, v in tal.items():
            total[k] += v
    assert total["windows"] > 0 and total["short"] > 0 and total["refused"] > 0, total
    if name == "guarded":  # ships stride_window: 1
        assert total["strided"] > 0, total


def test_no_tallies_without_a_compiled_guarded_program() -> None:
    """A TABLE program (readahead) has none; nor has the prototype's replay (fast=False), which
    decides in Python; the tallies never change a decision (the compiled run equals it)."""
    cost = make_costmodel("seed_table1")
    t = g.alloc_pool(n_pages=512, sizes=(2, 4), density=0.8, whole=0.7, streams=2, seed=1)
    _, ev = simulate(t, Readahead(), cost, record_events=True)
    assert ev.tallies is None
    _, proto = simulate(t, make_policy("shield64"), cost, record_events=True, fast=False)
    _, fast = simulate(t, make_policy("shield64"), cost, record_events=True)
    assert proto.tallies is None and fast.tallies is not None
    assert proto.k.tolist() == fast.k.tolist()

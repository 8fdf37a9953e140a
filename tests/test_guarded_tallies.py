"""The GUARDED decision tallies (ABI 17, 18): why a window was or was not granted (and, ABI 18,
why refused: the budget below setup_ns, protect's cap, no candidate fitting) and how the budget
moved, counted by the compiled simulator (``programs.guarded_tallies``, ``SimEvents.tallies``)
and by ``cowrl_guarded.h`` (``CGuarded.last_tallies``, what the module returns as its
``guard_*`` counters) at the same branches. Hand-counted on tiny traces; equal to each other
and consistent (asked = floor + refused + windows + empty, refused = setup + protect + fit,
budget = added - spent) on the kernel tests' traces; never a decision. ABI 20: a window granted
over pages all private (or past the region's end) copies nothing and is dropped: k = 0 issued,
counted ``empty``, its fixed cost still paid."""

from __future__ import annotations

import numpy as np
import pytest

from cowrl.policies.guarded import N_CELLS, GuardedPolicy
from cowrl.policies.readahead import Readahead
from cowrl.registry import make_costmodel, make_policy
from cowrl.sim import simulate
from cowrl.sim.programs import GUARD_TALLY_KEYS, budget_flow
from cowrl.traces import generators as g
from cowrl.traces.io import Trace


@pytest.fixture(scope="module")
def cguarded(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from cowrl.kernel.table import CGuarded

    return CGuarded(tmp_path_factory.mktemp("cguarded_tallies"))


def _seq(n: int) -> Trace:
    return Trace(np.arange(n), n, name=f"seq{n}")


def _consistent(tal: dict[str, int]) -> None:
    """The sums the tallies keep: every window asked is held, refused, granted or dropped
    empty; every refusal has one reason; the budget (from 0) is what was added less what was
    spent."""
    assert tal["asked"] == tal["floor"] + tal["refused"] + tal["windows"] + tal["empty"], tal
    assert tal["refused"] == (tal["refused_setup"] + tal["refused_protect"]
                              + tal["refused_fit"]), tal
    added, spent = budget_flow(tal)
    assert tal["budget_ns"] == added - spent, tal


def _counted(cguarded, t: Trace, pol: GuardedPolicy, shared: bool = False) -> dict[str, int]:  # noqa: ANN001
    """The simulator's tallies of ``pol`` on ``t``, checked equal to the header's (and its
    decisions equal) and consistent, as a dict without the zero entries (``shared``: the
    one-address layout, the harness's slots)."""
    from cowrl.kernel.jobs import harness_slots
    from cowrl.kernel.table import pack_guarded

    _, ev = simulate(t, pol, make_costmodel("seed_table1"), record_events=True, shared=shared)
    assert ev.tallies is not None and tuple(ev.tallies) == GUARD_TALLY_KEYS
    page, k = cguarded.replay(pack_guarded(pol.kernel_program()), t.pages, t.n_pages,
                              t.region_ends, t.region_vpn_offsets, t.region_writers,
                              slots=harness_slots(t, shared=True) if shared else None)
    assert page.tolist() == ev.page.tolist() and k.tolist() == ev.k.tolist()
    assert cguarded.last_tallies == ev.tallies, (cguarded.last_tallies, ev.tallies)
    _consistent(ev.tallies)
    return {key: v for key, v in ev.tallies.items() if v}


def test_the_floor_holds_every_window(cguarded) -> None:  # noqa: ANN001
    # floor 256: the hit rate (from 128, at most 241) never reaches it. Each of the 8 writes
    # faults (k = 0), each asks 2 pages, each is held by the floor; each fault's sentinel is
    # the next page, which the next fault hits: 7 hits. Each fault adds its allowance, 17734 *
    # 10 // 1000 = 177 ns (a hit: hit_scale 1 of it), nothing spends: the budget ends at 1416.
    pol = GuardedPolicy(table=[2] * N_CELLS, floor=256, grant_left=0)
    assert _counted(cguarded, _seq(8), pol) == {"asked": 8, "floor": 8, "hits": 7,
                                                "add_allow_ns": 8 * 177, "budget_ns": 8 * 177}


def test_a_budget_below_the_setup_refuses_every_window(cguarded) -> None:  # noqa: ANN001
    # 1 ns of allowance per fault (demand 1000 ns, 1 per mille) against a setup of 1000 ns:
    # after 8 faults the budget holds 8 ns (a hit adds one allowance instead): every window
    # asked is refused by the budget (the header: at observe, below setup_ns; the simulator:
    # no degree fits), none by the floor (0); each for the reason refused_setup (the simulator
    # names it as the header does).
    pol = GuardedPolicy(table=[2] * N_CELLS, grant_left=0, demand_ns=1000, budget_per_mille=1,
                        setup_ns=1000)
    assert not pol.inert
    assert _counted(cguarded, _seq(8), pol) == {"asked": 8, "refused": 8, "refused_setup": 8,
                                                "hits": 7, "add_allow_ns": 8, "budget_ns": 8}


def test_no_candidate_fits_the_budget(cguarded) -> None:  # noqa: ANN001
    # setup 0 (the budget always holds it), 100 ns of allowance per fault, 1000 ns per copied
    # page: the budget reaches 800 by fault 7, below one page's 1000, so faults 0..6 (the next
    # page shared) are refused_fit; fault 7's window lies past the region (no page to read,
    # worst case 0): granted, and dropped, since it copies nothing (empty, k = 0 issued). No
    # credit (proof 0: a hit returns its window's reserve, 0).
    pol = GuardedPolicy(table=[4] * N_CELLS, grant_left=0, demand_ns=1000, budget_per_mille=100,
                        loss_ns=1000, gain_ns=0, setup_ns=0, degrees=(1, 2, 4))
    assert _counted(cguarded, _seq(8), pol) == {"asked": 8, "refused": 7, "refused_fit": 7,
                                                "empty": 1, "hits": 7, "add_allow_ns": 800,
                                                "budget_ns": 800}


def test_protect_leaves_no_degree(cguarded) -> None:  # noqa: ANN001
    # Two processes of a family write their copies of one buffer, decided at one address (the
    # module's one state): process 0 faults at 10 with 100 ns (50 per page): k 2 (4 would cost
    # 200; short), copying 11 and 12, its sentinel at 13. Process 1 then faults at its own 12
    # (still shared for it): protect's loop finds that live sentinel at 12 + 1, cap 1, below
    # every degree (1, 2, 4): refused_protect with 100 ns in the budget (a window of 1 would
    # fit). (In one process a sentinel lies past a window at least a degree wide, so the cap
    # leaves the smallest degree.)
    from conftest import forked_trace

    pol = GuardedPolicy(table=[4] * N_CELLS, grant_left=0, demand_ns=1000, budget_per_mille=100,
                        loss_ns=50, gain_ns=0, setup_ns=0, degrees=(1, 2, 4), protect=True)
    t = forked_trace([10], [12], size=32)
    assert _counted(cguarded, t, pol, shared=True) == {
        "asked": 2, "windows": 1, "short": 1, "pages": 2, "refused": 1, "refused_protect": 1,
        "add_allow_ns": 200, "spend_window_ns": 100, "budget_ns": 100}


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
    # The budget: 5 allowances of 100, the 4 hits' credits (their windows' reserves, 100 +
    # 200 + 200 + 400), the 5 windows' reserves spent (100 + 200 + 200 + 400 + 200): 300 left.
    assert _counted(cguarded, _seq(16), pol) == {"asked": 5, "windows": 5, "short": 3,
                                                 "pages": 1 + 2 + 2 + 4 + 2, "hits": 4,
                                                 "add_allow_ns": 500, "add_credit_ns": 900,
                                                 "spend_window_ns": 1100, "budget_ns": 300}


def test_a_window_past_the_region_end_is_dropped(cguarded) -> None:  # noqa: ANN001
    # loss 0: every window of 4 fits. Faults at 0, 5, 10, 15; the last one's window lies past
    # the region: granted (k 4) with no page read shared, so dropped (empty: k = 0 issued, no
    # work). Each later fault hits the sentinel.
    pol = GuardedPolicy(table=[4] * N_CELLS, grant_left=0, demand_ns=1000, budget_per_mille=100,
                        loss_ns=0, gain_ns=0, setup_ns=0, degrees=(1, 2, 4))
    assert _counted(cguarded, _seq(16), pol) == {"asked": 4, "windows": 3, "empty": 1,
                                                 "pages": 12, "hits": 3, "add_allow_ns": 400,
                                                 "budget_ns": 400}
    _, ev = simulate(_seq(16), pol, make_costmodel("seed_table1"), record_events=True)
    assert ev.k.tolist() == [4, 4, 4, 0] and ev.work.tolist() == [1, 1, 1, 0]


def _stack_down(n: int) -> Trace:
    """A stack written downward: pages n-1, n-2, .., 0 (each fault's next pages are private,
    or past the region's end)."""
    return Trace(np.arange(n - 1, -1, -1), n, name=f"down{n}")


def test_a_stack_written_downward_queues_no_window(cguarded) -> None:  # noqa: ANN001
    # 64 pages asked everywhere, setup 10 ns, 100 ns of allowance per fault (grant_left 0):
    # at fault p (8 -> 0 pages down) the window p+1 .. min(p+64, 7) is all private (or none,
    # at p = 7: past the region): its worst case is the setup alone, 10 <= the budget, so it
    # is granted, and dropped, since it copies nothing: empty 8, windows 0, k = 0 issued at
    # every fault, nothing precopied. Its fixed cost stays paid (the decisions after it are
    # those of ABI 19): 8 x 10 ns spent, 8 x 100 added. No sentinel (each lies past the end).
    pol = GuardedPolicy(table=[64] * N_CELLS, grant_left=0, demand_ns=1000,
                        budget_per_mille=100, loss_ns=1000, gain_ns=0, setup_ns=10)
    t = _stack_down(8)
    assert _counted(cguarded, t, pol) == {"asked": 8, "empty": 8, "add_allow_ns": 800,
                                          "spend_window_ns": 80, "budget_ns": 720}
    cost = make_costmodel("seed_table1")
    rec, ev = simulate(t, pol, cost, record_events=True)
    assert ev.k.tolist() == [0] * 8 and ev.work.sum() == 0 and rec.precopied == 0
    # the prototype (decide() at every fault) drops them alike, and counts them
    _, slow = simulate(t, pol, cost, record_events=True, fast=False)
    assert slow.k.tolist() == [0] * 8 and pol.emptied == 8


def test_an_empty_window_costs_no_setup_in_the_engine() -> None:
    """Priced with a precopy setup (tcg's 1,196 ns), the downward stack's faults cost what
    baseline's do plus the GUARDED decision: the 8 empty windows queue no work, so no setup
    is charged (ABI 19 charged 8 setups)."""
    import dataclasses

    from cowrl.policies.static import StaticPrecopy

    cost = dataclasses.replace(make_costmodel("seed_table1"), precopy_setup_ns=1196.0)
    pol = GuardedPolicy(table=[64] * N_CELLS, grant_left=0, demand_ns=1000,
                        budget_per_mille=100, loss_ns=1000, gain_ns=0, setup_ns=10)
    t = _stack_down(8)
    rec = simulate(t, pol, cost)
    base = simulate(t, StaticPrecopy(0), cost)
    per_decision = cost.decide_cost(pol.decide_program)
    assert rec.precopied == base.precopied == 0 and rec.faults == base.faults == 8
    assert rec.fault_ns.sum() == pytest.approx(base.fault_ns.sum() + 8 * per_decision)


@pytest.mark.parametrize(("stake", "per"), [(0, 1000), (1, 500)])
def test_the_budget_flow_of_a_sibling_window_and_its_proofs(cguarded, stake: int,  # noqa: ANN001
                                                             per: int) -> None:
    # A table of 0s, sibling_window 8, proof 1, 17734 ns of allowance at each of the 6 faults
    # (grant_left 0; a hit adds hit_scale 1 of it). The parent writes 0, 2, 4, 6 of its copy;
    # the child's fault on its 0 copies its 2, 4, 6 (the parent's family bits) at a stake of
    # ``per`` each (the loss, 1000; sibling_stake 1: the expected loss at sib_use 1/2, 500).
    # It writes them (no fault), then faults on its 1: that look reads the 3 ring entries,
    # all written: each returns its stake (stake 0: the loss, 1000) and the gain, 5668.
    from conftest import forked_trace

    pol = GuardedPolicy(table=[0] * N_CELLS, sibling_window=8, sibling_stake=stake,
                        loss_ns=1000, budget_per_mille=1000, grant_left=0, proof=1)
    t = forked_trace([0, 2, 4, 6], [0, 2, 4, 6, 1], size=8)
    tal = _counted(cguarded, t, pol, shared=True)
    flow = {k: tal.get(k, 0) for k in ("sib_windows", "sib_pages", "add_allow_ns",
                                       "add_credit_ns", "spend_window_ns", "spend_walk_ns",
                                       "spend_sib_ns", "budget_ns")}
    assert flow == {"sib_windows": 1, "sib_pages": 3, "add_allow_ns": 6 * 17734,
                    "add_credit_ns": 3 * (per + 5668), "spend_window_ns": 0, "spend_walk_ns": 0,
                    "spend_sib_ns": 3 * per, "budget_ns": 6 * 17734 + 3 * 5668}


def test_the_module_budget_counter_is_an_s64() -> None:
    """guard_budget_ns comes as its u64 (two's complement: a budget may owe with
    sibling_stake 2); the counts stay as they are."""
    from cowrl.sim.programs import guard_counter

    assert guard_counter("budget_ns", 2 ** 64 - 5) == -5
    assert guard_counter("budget_ns", 7) == 7
    assert guard_counter("spend_sib_ns", 2 ** 64 - 5) == 2 ** 64 - 5


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
    asked = floor + refused + windows = ..., budget = added - spent (_consistent); summed,
    windows are granted, cut short, refused by the budget (no candidate fitting) and strided
    (the column sweep), the budget credited by proofs and spent on windows and walks."""
    total = dict.fromkeys(GUARD_TALLY_KEYS, 0)
    cost = make_costmodel("seed_table1")
    for t in _kernel_test_traces():
        pol = make_policy(name).deployed_under(cost)  # (costmodel: auto) at seed_table1's
        _, ev = simulate(t, pol, cost, record_events=True)
        tal = ev.tallies
        assert tal is not None
        assert tal["windows"] == int(np.count_nonzero(ev.k)), t.name
        _consistent(tal)
        assert tal["short"] <= tal["windows"] and tal["strided"] <= tal["windows"], t.name
        assert _counted(cguarded, t, pol) == {k: v for k, v in tal.items() if v}
        for k, v in tal.items():
            total[k] += v
    assert total["windows"] > 0 and total["short"] > 0 and total["refused_fit"] > 0, total
    for key in ("add_allow_ns", "add_credit_ns", "spend_window_ns", "spend_walk_ns"):
        assert total[key] > 0, (key, total)
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

"""``guarded``'s ``group_below`` (a simulator study, session 34, docs/results/group-below-s34.md):
a granted adjacent window also copies the shared pages of the fault's aligned group of G
virtual pages below the fault, staked in every candidate degree and proven in the ring. Hand-
computed traces fix which pages fault and which are copied; the compiled program decides as
the prototype; off (the default) leaves the program as it was; the module's table export, the
kernel target and the learner refuse it."""

from __future__ import annotations

import numpy as np
import pytest
from test_guarded_program import (
    _align_table,
    _compiled_equals_and_option_matters,
    _compiled_equals_prototype,
)
from test_guarded_proof import _bound_traces, _excess

from cowrl.errors import ConfigError
from cowrl.policies.guarded import (
    N_CELLS,
    GuardedPolicy,
    learn_table,
    shipped_options,
)
from cowrl.registry import make_costmodel
from cowrl.sim.simulator import simulate
from cowrl.traces.io import Trace


def _loose(group_below: int, **kw: object) -> GuardedPolicy:
    """A table of 1s whose budget covers a few pages at each fault: an allowance of
    ``demand_ns`` (17734) at every fault (``grant_left: 0``), ``loss_ns`` per copied page."""
    opts = {"loss_ns": 1000, "budget_per_mille": 1000, "grant_left": 0, **kw}
    return GuardedPolicy(table=[1] * N_CELLS, group_below=group_below, **opts)


def _run(t: Trace, pol: GuardedPolicy, fast: bool) -> tuple:
    """(fault pages, degrees, pages copied per fault, pages skipped per fault, faults,
    copied, wasted) of a replay."""
    r, ev = simulate(t, pol, make_costmodel("seed_table1"), record_events=True, fast=fast)
    return ([int(p) for p in ev.page], [int(k) for k in ev.k],
            [int(n) for n in ev.precopied], [int(n) for n in ev.skipped],
            r.faults, r.precopied, r.wasted)


@pytest.mark.parametrize("fast", [False, True])
@pytest.mark.parametrize("proof", [0, 1])
def test_pools_written_out_of_order(fast: bool, proof: int) -> None:
    """Two 4-page pools written 2, 0, 3, 1 and 6, 5, 4, 7. Off: the fault on 2 copies 3, the
    one on 0 copies 1, the one on 6 copies 7, those on 5 and 4 would copy nothing (their next
    page is private): their windows are dropped (k = 0, ABI 20): 5 faults, 3 copies.
    ``group_below: 4``: the fault on 2 copies 0 and 1 below it and 3 after it, the fault on 6
    copies 4, 5 and 7: 2 faults, 6 copies, none wasted, and no later write to a copied page
    faults."""
    t = Trace(pages=np.array([2, 0, 3, 1, 6, 5, 4, 7]), n_pages=8, name="pools")
    assert _run(t, _loose(0, proof=proof), fast) == (
        [2, 0, 6, 5, 4], [1, 1, 1, 0, 0], [1, 1, 1, 0, 0], [0, 0, 0, 0, 0], 5, 3, 0)
    assert _run(t, _loose(4, proof=proof), fast) == (
        [2, 6], [1, 1], [3, 3], [0, 0], 2, 6, 0)


@pytest.mark.parametrize("fast", [False, True])
def test_a_page_below_never_written_is_wasted(fast: bool) -> None:
    """A pool written 2, 0, 3 (page 1 never): the fault on 2 copies 0, 1 and 3; 1 is wasted.
    Off: the fault on 2 copies 3, the one on 0 copies 1, wasted too."""
    t = Trace(pages=np.array([2, 0, 3]), n_pages=4, name="pool_3of4")
    assert _run(t, _loose(4), fast) == ([2], [1], [3], [0], 1, 3, 1)
    assert _run(t, _loose(0), fast) == ([2, 0], [1, 1], [1, 1], [0, 0], 2, 2, 1)


@pytest.mark.parametrize("fast", [False, True])
def test_the_budget_stakes_the_pages_below_first(fast: bool) -> None:
    """``loss_ns`` 10000, an allowance of 17734 per fault. Writes 1, 3, 0, 2, 4. With
    ``group_below: 4`` the fault on 1 would copy 0 below and 2 after it, 20000 > 17734: no
    window (off, 2 alone fits: k = 1). The fault on 3 then holds 35468: page 0 shared, 1
    private, 2 shared below it (the walk starts at 0, skips 1) and 4 after it, 30000: copied.
    Off: 1 copies 2, 3 copies 4, 0 nothing (1 is private: its window is dropped, k = 0)."""
    t = Trace(pages=np.array([1, 3, 0, 2, 4]), n_pages=8, name="below_first")
    assert _run(t, _loose(4, loss_ns=10000), fast) == (
        [1, 3], [0, 1], [0, 3], [0, 1], 2, 3, 0)
    assert _run(t, _loose(0, loss_ns=10000), fast) == (
        [1, 3, 0], [1, 1, 0], [1, 1, 0], [0, 0, 0], 3, 2, 0)


@pytest.mark.parametrize("fast", [False, True])
def test_pages_below_stay_in_the_region(fast: bool) -> None:
    """Regions [0, 3) and [3, 8) at virtual pages 0.. (page = vpn): the fault on 3 has its
    group 0..3, but 0..2 lie in the other region: only 4 after it is copied. The fault on 0
    copies 1; the one on 2 (its window clipped at its region's end) nothing: dropped (k = 0,
    ABI 20). One region: the
    fault on 3 copies 0, 1, 2 and 4."""
    pages = np.array([3, 0, 1, 2, 4])
    two = Trace(pages=pages, n_pages=8, name="two", region_sizes=np.array([3, 5]))
    assert _run(two, _loose(4), fast) == ([3, 0, 2], [1, 1, 0], [1, 1, 0], [0, 0, 0], 3, 2, 0)
    one = Trace(pages=pages, n_pages=8, name="one")
    assert _run(one, _loose(4), fast) == ([3], [1], [4], [0], 1, 4, 0)


def test_the_group_is_of_virtual_pages() -> None:
    """A region whose first page is at virtual page 2 (mod 4): page 1 of the trace is vpn 3,
    its group vpn 0..3 is pages -2..1, of which page 0 is in the region: the fault on 1
    copies 0 below and 2 after it."""
    t = Trace(pages=np.array([1, 0, 2]), n_pages=8, name="at_vpn2",
              region_sizes=np.array([8]), region_starts=np.array([0x7f0000002000],
                                                                  dtype=np.uint64))
    assert int(t.region_vpn_offsets[0]) % 4 == 2
    for fast in (False, True):
        assert _run(t, _loose(4), fast) == ([1], [1], [2], [0], 1, 2, 0)


def _policies() -> list[GuardedPolicy]:
    cost = make_costmodel("host")
    rand = [int(k) for k in np.random.default_rng(0).choice([0, 1, 2, 4, 8, 16, 32, 64],
                                                            size=N_CELLS)]
    return [
        # shield64 as the study runs it (strided windows on), and with adjacent windows
        GuardedPolicy.for_cost(cost, table=[64] * N_CELLS, group_below=4,
                               **shipped_options("guarded")),
        GuardedPolicy.for_cost(cost, table=[64] * N_CELLS, group_below=16,
                               **shipped_options("guarded_adjacent")),
        # loose budgets: a random table with proofs and a skip price, align values, scan+merge
        GuardedPolicy(table=rand, budget_per_mille=1000, skip_ns=300, setup_ns=900,
                      grant_left=0, proof=1, proof_reads=8, group_below=4),
        GuardedPolicy(table=_align_table(1), budget_per_mille=1000, skip_ns=300,
                      setup_ns=900, group_below=64),
        GuardedPolicy(table=rand, budget_per_mille=300, skip_ns=300, setup_ns=900,
                      grant_left=1, scan=8, merge=True, group_below=2)]


@pytest.mark.parametrize("pi", range(5))
def test_compiled_decides_as_the_prototype(pi: int) -> None:
    """On every trace of test_guarded_program (multi-region, pools at recorded addresses),
    fault for fault, and the option changes decisions somewhere."""
    _compiled_equals_and_option_matters(_policies()[pi], group_below=0)


def test_strided_windows_take_no_pages_below() -> None:
    """With ``stride_window: 1`` a strided window copies nothing below its fault; adjacent
    windows of the same run do (the even columns of a 64 x 64 array, written top to bottom:
    the odd columns below a fault are shared)."""
    from test_guarded_stride import _even_columns

    seen: list[tuple[int, int, int]] = []

    class Probe(GuardedPolicy):
        def act(self, c, ctx, want=None):  # noqa: ANN001, ANN202
            k = super().act(c, ctx, want)
            seen.append((self.ctx.win_stride, self.ctx.win_below, k))
            return k

    cost = make_costmodel("seed_table1")
    pol = Probe.for_cost(cost, table=[64] * N_CELLS, group_below=16,
                         **shipped_options("guarded"))
    t = _even_columns(64, 64)
    simulate(t, pol, cost, fast=False)
    strided = [b for s, b, k in seen if s and k]
    assert len(strided) > 10 and not any(strided)
    assert any(b for s, b, k in seen if not s and k)
    _compiled_equals_prototype(t, GuardedPolicy.for_cost(cost, table=[64] * N_CELLS,
                                                         group_below=16,
                                                         **shipped_options("guarded")), cost)


@pytest.mark.parametrize("cm", ["seed_table1", "host"])
@pytest.mark.parametrize("g", [4, 16])
def test_the_loss_stays_within_the_allowances(cm: str, g: int) -> None:
    """Every page copied below is staked as a window page: the loss over k = 0 stays within
    the allowances granted (test_guarded_proof's bound), a table of 64s and of 1s."""
    for t in _bound_traces():
        for k in (64, 1):
            for opts in ({"proof_ttl": 16, "proof_backoff": 1, "read_credit": 1,
                          "proof_look": 1, "proof_span": 1},
                         {"proof_ttl": 3, "grant_left": 0}):
                excess, granted = _excess(t, [k] * N_CELLS, cm, proof=1, group_below=g,
                                          **opts)
                assert excess <= granted + t.n_pages, (t.name, k, opts)


def test_the_learner_refuses_it() -> None:
    """``arm_rewards`` prices the pages after the fault only: ``learn_table`` refuses the
    option (a learned variant is left out of the study)."""
    t = Trace(pages=np.arange(64), n_pages=64, name="seq64")
    with pytest.raises(ConfigError, match="policy.group_below"):
        learn_table([t], [make_costmodel("host")], passes=1, group_below=4)


@pytest.mark.parametrize(("kw", "field"), [
    ({"group_below": 3}, "policy.group_below"),
    ({"group_below": 128}, "policy.group_below"),
    ({"group_below": -4}, "policy.group_below"),
    ({"group_below": True}, "policy.group_below"),
    ({"group_below": 4, "protect": True}, "policy.group_below")])
def test_bad_values_name_the_field(kw: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        GuardedPolicy(**kw)

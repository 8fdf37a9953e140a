"""``guarded``'s ``sibling_window`` (a simulator study, session 35,
docs/results/sibling-window-s35.md): at a demand fault, past the adjacent window, the pages up
to ``page + W`` that some process of the trace demand-faulted (the family bitmap at the
decision's pages) and that are still shared here are copied too, staked and proven through
the budget and the ring (``sibling_stake: 1``: at their expected loss). Hand-computed forked
traces fix which pages fault and which are copied; one process: exactly inert; the compiled
program decides as the prototype; the module's table export, the kernel program and the
learner refuse it; and the multi-writer generator ``forked_workers``."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from conftest import assert_compiled_equals_prototype, forked_trace
from omegaconf import OmegaConf

from cowrl.errors import ConfigError
from cowrl.kernel.table import pack_guarded
from cowrl.policies.guarded import N_CELLS, GuardedPolicy, learn_table
from cowrl.registry import group_config, make_costmodel, make_policy
from cowrl.sim.simulator import simulate
from cowrl.traces import generators as g
from cowrl.traces.io import Trace

START = 0x7F0000000000


_forked = partial(forked_trace, size=8)  # process r writes writes[r] of its copy


def _loose(window: int, stake: int = 0, **kw: object) -> GuardedPolicy:
    """A table of 0s (no adjacent window is ever wanted) with a budget that covers a few
    pages at each fault: an allowance of ``demand_ns`` (17734) at every fault (``grant_left:
    0``), ``loss_ns`` 1000 per copied page, no price on the ring's walk."""
    opts = {"loss_ns": 1000, "budget_per_mille": 1000, "grant_left": 0, "proof": 1, **kw}
    return GuardedPolicy(table=[0] * N_CELLS, sibling_window=window, sibling_stake=stake,
                         **opts)


def _run(t: Trace, pol: GuardedPolicy, fast: bool, shared: bool = True) -> tuple:
    """(fault pages, pages copied per fault, pages skipped per fault, faults, copied,
    wasted) of a replay."""
    r, ev = simulate(t, pol, make_costmodel("seed_table1"), record_events=True, fast=fast,
                     shared=shared)
    return ([int(p) for p in ev.page], [int(n) for n in ev.precopied],
            [int(n) for n in ev.skipped], r.faults, r.precopied, r.wasted)


@pytest.mark.parametrize("fast", [False, True])
@pytest.mark.parametrize("stake", [0, 1, 2])
def test_a_child_copies_what_its_parent_faulted(fast: bool, stake: int) -> None:
    """The parent writes 0, 2, 4, 6 of its copy (4 faults, nothing to copy: no bit ahead);
    the child's fault on 0 (page 8) finds the bits of 2, 4 and 6 within 1 .. 8 (clipped at
    the region's last page, 7) and copies 10, 12, 14, which it then writes without a fault:
    5 faults, 3 copies, none wasted. Off: 8 faults."""
    t = _forked([0, 2, 4, 6], [0, 2, 4, 6])
    assert _run(t, _loose(8, stake), fast) == (
        [0, 2, 4, 6, 8], [0, 0, 0, 0, 3], [0, 0, 0, 0, 0], 5, 3, 0)
    assert _run(t, _loose(0), fast)[3:] == (8, 0, 0)


@pytest.mark.parametrize("fast", [False, True])
def test_siblings_doing_other_work_waste_and_skip(fast: bool) -> None:
    """The parent writes 0, 2, 4, 6, the child 1, 3, 5, 7 (as sqlite_snapshot's parent and
    child: no page in common). The child's fault on 1 copies 2, 4, 6 (bits set, shared there),
    all wasted; on 3 the family pages 4 and 6 are private: no page to copy, nothing walked
    (the walk ends at the last shared family page). W = 2 reaches only 2 and 3 from 1."""
    t = _forked([0, 2, 4, 6], [1, 3, 5, 7])
    assert _run(t, _loose(8), fast) == (
        [0, 2, 4, 6, 9, 11, 13, 15], [0, 0, 0, 0, 3, 0, 0, 0], [0] * 8, 8, 3, 3)
    assert _run(t, _loose(2), fast)[1:] == ([0, 0, 0, 0, 1, 1, 1, 0], [0] * 8, 8, 3, 3)


@pytest.mark.parametrize("fast", [False, True])
def test_a_private_family_page_is_skipped_before_a_shared_one(fast: bool) -> None:
    """The parent writes 0, 1, 2, 3; the child writes 2 (a fault: 0 and 1 of the family lie
    below it, 3 is copied), then 0: the family pages after it are 1 (shared: copied), 2 and
    3 (private: 2 faulted, 3 copied; after the last shared one, not walked). Then it writes
    1 and 3 without a fault: 6 faults, 2 copies, nothing skipped."""
    t = _forked([0, 1, 2, 3], [2, 0, 1, 3])
    assert _run(t, _loose(8), fast) == (
        [0, 1, 2, 3, 10, 8], [0, 0, 0, 0, 1, 1], [0] * 6, 6, 2, 0)


@pytest.mark.parametrize("fast", [False, True])
def test_only_a_demand_fault_sets_a_bit(fast: bool) -> None:
    """A table of 1s. The parent writes 2, 3: its fault on 2 copies 3 (adjacent), whose write
    then takes no fault, so only 2's bit is set. The child's fault on 0 copies 1 (adjacent)
    and 2 (the family page past it), not 3 (written by the parent, but without a fault); its
    write of 3 faults and copies 4. 3 faults, 4 copies, 1, 2 and 4 wasted."""
    t = _forked([2, 3], [0, 3])
    pol = GuardedPolicy(table=[1] * N_CELLS, loss_ns=1000, budget_per_mille=1000,
                        grant_left=0, proof=1, sibling_window=8)
    assert _run(t, pol, fast) == ([2, 8, 11], [1, 2, 1], [0, 0, 0], 3, 4, 3)


@pytest.mark.parametrize("fast", [False, True])
def test_budget_holds_the_longest_run_that_fits(fast: bool) -> None:
    """``budget_per_mille: 100``: an allowance of 1773 ns a fault, loss 1000 a page. The
    parent's 4 faults bank 7092; the child's first fault adds 1773 (8865): of the family pages
    2, 4, 6 it stakes all three (3000). With loss 3000 a page: two (6000), then 6 faults in
    the child's order 0, 2, 4, 6 -> 0 faults, 4 does not, 6 faults."""
    t = _forked([0, 2, 4, 6], [0, 2, 4, 6])
    pol = _loose(8, budget_per_mille=100)
    assert _run(t, pol, fast)[3:] == (5, 3, 0)
    pol = _loose(8, budget_per_mille=100, loss_ns=3000)
    assert _run(t, pol, fast) == (
        [0, 2, 4, 6, 8, 14], [0, 0, 0, 0, 2, 0], [0] * 6, 6, 2, 0)


def _shield64(window: int = 0, stake: int = 0) -> GuardedPolicy:
    cfg = OmegaConf.to_container(group_config("policy", "shield64", "policy"), resolve=False)
    assert isinstance(cfg, dict)
    if window:
        cfg.update(sibling_window=window, sibling_stake=stake)
    return make_policy(cfg)


@pytest.mark.parametrize("family", ["seq", "stride", "random", "tiled2d", "alloc_pool"])
def test_inert_with_one_process(family: str) -> None:
    """One process (every generator family): no page of another process ever sets a bit
    ahead of a fault, so shield64 with the option (either stake) decides and costs exactly as
    shield64, in both layouts: faults, pages copied and wasted, and the latencies' sum."""
    t = g.randomized(2000, 0, families=family)
    for cm in ("seed_table1", "host"):
        cost = make_costmodel(cm)
        for shared in (False, True):
            ref = simulate(t, _shield64(), cost, shared=shared)
            for stake in (0, 1, 2):
                got = simulate(t, _shield64(64, stake), cost, shared=shared)
                assert (got.faults, got.precopied, got.wasted) == (
                    ref.faults, ref.precopied, ref.wasted)
                assert float(np.sum(got.fault_ns)) == float(np.sum(ref.fault_ns))
            assert ref.precopied > 0 or family == "random"


@pytest.mark.parametrize("stake", [0, 1, 2])
def test_compiled_decides_as_the_prototype(stake: int) -> None:
    """On forked_workers traces and a hand trace, the compiled program equals
    the prototype fault for fault (pages, degrees, counts, latencies) in the one-address
    layout, and copies something the option off does not."""
    more = 0
    for cm in ("seed_table1", "host"):
        cost = make_costmodel(cm)
        traces = [g.forked_workers(n_pages=1024, children=c, overlap=o, order=order,
                                   chunk=32, seed=c)
                  for c, o, order in ((2, 0.9, "sequential"), (4, 0.95, "runs"),
                                      (3, 0.2, "random"))]
        traces += [_forked([0, 2, 4, 6], [0, 2, 4, 6], [1, 2, 4, 6, 7])]
        for t in traces:
            for pol in (_shield64(16, stake), _loose(64, stake)):
                pol = pol.deployed_under(cost)
                got = assert_compiled_equals_prototype(t, pol, cost)
                off = simulate(t, _loose(0) if pol.table == [0] * N_CELLS
                               else _shield64().deployed_under(cost), cost, shared=True)
                more += got.precopied > off.precopied
    assert more > 0


def test_the_module_table_carries_it_and_the_learner_refuses_it() -> None:
    """The kernel program and the module's table carry it (ABI 16: u8s at 768..770 of the
    776-byte payload); the learner refuses it (one line); bad values and combinations too."""
    import struct

    pol = _loose(16)
    payload = pack_guarded(pol.kernel_program())
    assert len(payload) == 776
    assert struct.unpack_from("<3B5B", payload, 768) == (16, 0, 0, 0, 0, 0, 0, 0)
    assert struct.unpack_from("<3B", pack_guarded(_loose(16, 2).kernel_program()), 768) == (
        16, 2, 0)
    with pytest.raises(ConfigError, match="^policy.sibling_window: learn_table cannot"):
        learn_table([_forked([0], [0])], make_costmodel("seed_table1"), proof=1,
                    sibling_window=8)
    with pytest.raises(ConfigError, match="^policy.sibling_window must be one of 0, 1, 2, "
                                          "4, 8, 16, 32, 64, got 12$"):
        _loose(12)
    with pytest.raises(ConfigError, match="^policy.sibling_window needs proof: 1"):
        _loose(8, proof=0)
    with pytest.raises(ConfigError, match="^policy.sibling_stake: 1 needs a sibling_window"):
        _loose(0, 1)
    with pytest.raises(ConfigError, match="^policy.sibling_stake must be 0, 1 or 2, got 3$"):
        _loose(8, 3)
    assert pol.program().table["sibling_window"] == 16
    assert "sibling_window" not in _loose(0).program().table


def test_forked_workers_overlap_and_layout() -> None:
    """overlap 1: every child writes the common pool, in one order (the same buffer pages);
    overlap 0: the children's pages are disjoint shards. One region per process, all at one
    address, writers 0 (the parent) .. children, turns of ``chunk`` writes."""
    t = g.forked_workers(n_pages=600, children=3, overlap=1.0, coverage=1.0, order="random",
                         chunk=7, parent=0.5, seed=3)
    assert t.n_pages == 4 * 600 and list(t.region_sizes) == [600] * 4
    assert list(t.region_writers) == [0, 1, 2, 3]
    assert set(t.region_vpn_offsets + t.region_begins) == {START // 4096}
    region = np.searchsorted(t.region_ends, t.pages, side="right")
    own = [t.pages[region == r] - 600 * r for r in range(4)]
    m = 600 // 5
    assert [w.size for w in own] == [m // 2, m, m, m]
    assert np.array_equal(own[1], own[2]) and np.array_equal(own[1], own[3])
    assert not set(own[0]) & set(own[1])  # the parent's pool is its own
    assert list(region[:7]) == [0] * 7 and list(region[7:14]) == [1] * 7
    t0 = g.forked_workers(n_pages=600, children=3, overlap=0.0, coverage=1.0, seed=3)
    region = np.searchsorted(t0.region_ends, t0.pages, side="right")
    sets = [set(t0.pages[region == r] - 600 * r) for r in range(1, 4)]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    d = g.multi_writer_draw("forked_workers", 2000)
    assert d.meta["family"] == "forked_workers" and 2 <= d.meta["children"] <= 8
    assert "forked_workers" not in g.FAMILIES  # the protocols' draws stay as they were
    with pytest.raises(ConfigError, match="^workload forked_workers: overlap must be in"):
        g.forked_workers(overlap=1.5)
    with pytest.raises(ConfigError, match="^workload forked_workers: order must be"):
        g.forked_workers(order="zigzag")
    with pytest.raises(ConfigError, match="^family: unknown multi-writer family 'seq'"):
        g.multi_writer_draw("seq", 2000)

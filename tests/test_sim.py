"""The simulator's semantics (the contract), hand-computed, plus fast == generic and the oracle."""

from __future__ import annotations

import numpy as np
import pytest
from sim_reference import PageState

from cowrl.errors import ConfigError
from cowrl.metrics import summarize, write_quantiles
from cowrl.policies.base import FaultContext, FaultEvent, Policy
from cowrl.policies.oracle import DegreeSequence, Oracle
from cowrl.policies.static import Baseline, FaultAround, HugePage, StaticPrecopy
from cowrl.sim.costmodel import HUGE_PAGES, CopyWholeHuge, CostModel
from cowrl.sim.simulator import simulate
from cowrl.traces.generators import GENERATORS
from cowrl.traces.io import Trace

FAULT, COPY, PRE, SPLIT, WRITE = 1000.0, 700.0, 150.0, 5000.0, 3.0
SETUP, SKIP = 90.0, 11.0  # precopy_setup_ns, precopy_skip_ns (0 unless a test sets them)
DECIDE = 37.0  # decide_ns (0 unless a test sets it)
LAM = 0.5


def cost(**kw) -> CostModel:
    base = dict(fault_ns=FAULT, copy_ns=COPY, precopy_ns=PRE, thp_split_ns=SPLIT, write_ns=WRITE)
    base.update(kw)
    return CostModel(**base)


def trace(pages: list[int], n_pages: int) -> Trace:
    return Trace(pages=np.asarray(pages), n_pages=n_pages, name="hand")


class ThpPrecopy(StaticPrecopy):
    thp = True


class Scripted(Policy):
    """Degrees from a list, one per fault (forces the generic path)."""

    def __init__(self, ks: list[int]) -> None:
        self.ks, self.name = ks, "scripted"

    def decide(self, ctx: FaultContext) -> int:
        return self.ks[ctx.fault_index]


def both_paths(t: Trace, policy: Policy, cm: CostModel):
    fast = simulate(t, policy, cm, record_events=True)
    slow = simulate(t, policy, cm, record_events=True, fast=False)
    for a, b in zip(fast[1].__dict__.values(), slow[1].__dict__.values(), strict=True):
        assert np.array_equal(a, b)
    return fast


# --- hand-computed semantics -----------------------------------------------------------------


@pytest.mark.parametrize("fast", [True, False])
def test_window_precopies_next_k_and_counts_waste(fast: bool) -> None:
    # n=10, k=3: fault at 2 makes 3,4,5 private; 4 is then free; 9 faults, window is empty.
    rec, ev = simulate(trace([2, 4, 9], 10), StaticPrecopy(3), cost(), record_events=True,
                       fast=fast)
    assert ev.page.tolist() == [2, 9] and ev.precopied.tolist() == [3, 0]
    assert ev.write_index.tolist() == [0, 2]
    assert (rec.faults, rec.precopied, rec.wasted) == (2, 3, 2)  # 3 and 5 never written
    assert rec.fault_ns.tolist() == [FAULT + COPY + 3 * PRE, FAULT + COPY]
    assert summarize(rec, LAM, COPY)["objective"] == 2 * (FAULT + COPY) + 3 * PRE + LAM * 2 * COPY


def test_already_private_pages_count_toward_k() -> None:
    # fault 5 (k=3): 6,7,8. fault 3 (k=3): window 4..6, only 4 is shared -> 1 page, 7 untouched.
    state = PageState(10)
    assert state.demand(5, 3) == (3, 0, 3, 0)  # (precopied, thp_first, window, skipped)
    assert state.demand(3, 3) == (1, 0, 3, 2)
    assert state.private_mask().nonzero()[0].tolist() == [3, 4, 5, 6, 7, 8]
    rec, ev = both_paths(trace([5, 3, 9], 10), StaticPrecopy(3), cost())
    assert ev.precopied.tolist() == [3, 1, 0]
    rec, ev = both_paths(trace([5, 3, 9], 10), Scripted([3, 3, 0]), cost())
    assert ev.precopied.tolist() == [3, 1, 0]


def test_window_stops_at_region_end() -> None:
    rec, ev = both_paths(trace([7, 9], 10), StaticPrecopy(5), cost())
    assert ev.precopied.tolist() == [2] and rec.faults == 1  # 8, 9; the write to 9 is free
    assert PageState(10).demand(9, 64) == (0, 0, 0, 0)
    assert PageState(10).demand(7, 5) == (2, 0, 2, 0)  # window clipped to 8, 9


# --- precopy_setup_ns and precopy_skip_ns ------------------------------------------------------

def terms(**kw) -> CostModel:
    return cost(precopy_setup_ns=SETUP, precopy_skip_ns=SKIP, **kw)


def test_setup_and_skip_terms_hand_computed() -> None:
    # n=10, k=3. fault 5: window 6,7,8 all shared. fault 3: window 4,5,6; 5 and 6 are
    # private -> 1 copied, 2 skipped. fault 9: empty window (region end), work still queued.
    rec, ev = both_paths(trace([5, 3, 9], 10), StaticPrecopy(3), terms())
    assert ev.page.tolist() == [5, 3, 9]
    assert ev.precopied.tolist() == [3, 1, 0]
    assert ev.window.tolist() == [3, 3, 0] and ev.skipped.tolist() == [0, 2, 0]
    assert ev.work.tolist() == [1, 1, 1]
    base = FAULT + COPY + SETUP
    assert rec.fault_ns.tolist() == [base + 3 * PRE, base + PRE + 2 * SKIP, base]
    # a degree-0 fault queues no work: no setup, no window, nothing skipped
    rec, ev = both_paths(trace([5, 3, 9], 10), Scripted([3, 0, 2]), terms())
    assert ev.window.tolist() == [3, 0, 0] and ev.skipped.tolist() == [0, 0, 0]
    assert rec.fault_ns.tolist() == [base + 3 * PRE, FAULT + COPY, base]
    rec = simulate(trace([5, 3, 9], 10), Baseline(), terms())
    assert rec.fault_ns.tolist() == [FAULT + COPY] * 3


def test_all_private_window_costs_setup_and_skips() -> None:
    # reverse writes, k=2: every window page was written before (nothing copied)
    rec, ev = both_paths(trace([3, 2, 1, 0], 4), StaticPrecopy(2), terms())
    assert ev.precopied.tolist() == [0, 0, 0, 0]
    assert ev.window.tolist() == [0, 1, 2, 2] and ev.skipped.tolist() == [0, 1, 2, 2]
    base = FAULT + COPY + SETUP
    assert rec.fault_ns.tolist() == [base, base + SKIP, base + 2 * SKIP, base + 2 * SKIP]
    assert rec.precopied == 0 and rec.wasted == 0


def test_window_clipped_at_region_end_prices_only_walked_pages() -> None:
    rec, ev = both_paths(trace([7, 9], 10), StaticPrecopy(5), terms())
    assert ev.window.tolist() == [2] and ev.skipped.tolist() == [0]
    assert rec.fault_ns.tolist() == [FAULT + COPY + SETUP + 2 * PRE]


def test_copy_whole_huge_pages_are_not_window_pages() -> None:
    """CopyWholeHuge's 511 pages stay priced as precopied; a window over them skips them."""
    n = 2 * HUGE_PAGES
    cm = terms(thp_model=CopyWholeHuge())
    rec, ev = both_paths(trace([0, 600], n), HugePage(), cm)  # k = 0: no work, no window
    assert ev.precopied.tolist() == [511, 511] and ev.window.tolist() == [0, 0]
    assert rec.fault_ns.tolist() == [FAULT + COPY + 511 * PRE] * 2
    # k = 4: the whole huge page becomes private first, so the window is walked and skipped
    rec, ev = both_paths(trace([0, 1000], n), ThpPrecopy(4), cm)
    assert ev.precopied.tolist() == [511, 511] and ev.window.tolist() == [4, 4]
    assert ev.skipped.tolist() == [4, 4] and ev.thp_first.tolist() == [1, 1]
    assert rec.fault_ns.tolist() == [FAULT + COPY + SETUP + 511 * PRE + 4 * SKIP] * 2
    # a window that leaves the huge page copies the next one's shared pages as usual
    rec, ev = both_paths(trace([510], n), ThpPrecopy(4), cm)
    assert ev.precopied.tolist() == [511 + 3] and ev.window.tolist() == [4]
    assert ev.skipped.tolist() == [1]  # 511 (whole-huge copy) skipped; 512..514 copied
    assert rec.fault_ns.tolist() == [FAULT + COPY + SETUP + 514 * PRE + SKIP]


def test_default_terms_reproduce_the_per_page_formula_exactly() -> None:
    rng = np.random.default_rng(0)
    n, h = rng.integers(0, 65, 1000), rng.integers(0, 2, 1000)
    w, s = rng.integers(0, 2, 1000), rng.integers(0, 65, 1000)
    cm = cost()
    old = cm.fault_ns + cm.copy_ns + n * cm.precopy_ns + h * cm.thp_split_ns
    assert np.array_equal(cm.fault_cost(n, h, w, s), old)
    assert np.array_equal(cm.fault_cost(n, h), old)
    t = GENERATORS["uniform"](n_pages=500, writes=2000, seed=1)
    a = simulate(t, StaticPrecopy(4), cm)
    assert set(a.fault_ns.tolist()) <= {FAULT + COPY + j * PRE for j in range(5)}
    new = terms()
    assert new.fault_cost(2, 1, 1, 3) == FAULT + COPY + SETUP + 2 * PRE + 3 * SKIP + SPLIT
    with pytest.raises(ConfigError, match="precopy_skip_ns"):
        cost(precopy_skip_ns=-1.0)
    with pytest.raises(ConfigError, match="precopy_setup_ns"):
        cost(precopy_setup_ns=float("nan"))


def test_thp_split_then_copy_extra_once_per_huge_page() -> None:
    n = 3 * HUGE_PAGES + 76  # the last huge page is partial
    pages = [0, 1, 600, 513, 1100, 1030, 5]
    rec, ev = both_paths(trace(pages, n), HugePage(), cost())
    assert rec.faults == 7 and rec.precopied == 0 and rec.wasted == 0
    assert ev.thp_first.tolist() == [1, 0, 1, 0, 1, 0, 0]  # huge pages 0, 1, 2
    assert rec.fault_ns.sum() == 7 * (FAULT + COPY) + 3 * SPLIT
    # the same trace without THP pays no split
    assert simulate(trace(pages, n), Baseline(), cost()).fault_ns.sum() == 7 * (FAULT + COPY)
    # precopy on a THP region: the split is still paid once per huge page
    # (511's window reaches 512 in huge page 1; 513's fault is huge page 1's first)
    rec, ev = both_paths(trace([0, 2, 511, 512, 513], n), ThpPrecopy(1), cost())
    assert ev.page.tolist() == [0, 2, 511, 513]
    assert ev.thp_first.tolist() == [1, 0, 0, 1] and ev.precopied.tolist() == [1, 1, 1, 1]
    assert rec.fault_ns.sum() == 4 * (FAULT + COPY + PRE) + 2 * SPLIT


def test_thp_copy_whole_huge_counts_the_rest_as_precopied() -> None:
    n = 3 * HUGE_PAGES + 76
    pages = [0, 1, 600, 513, 1600]
    cm = cost(thp_model=CopyWholeHuge())
    rec, ev = both_paths(trace(pages, n), HugePage(), cm)
    assert ev.page.tolist() == [0, 600, 1600]  # 1 and 513 were made private by the copy
    # 1600 lies in the last, partial 2 MiB: no huge page can back it (the VMA ends inside)
    assert ev.precopied.tolist() == [511, 511, 0]
    assert rec.precopied == 1022 and rec.wasted == 1022 - 2
    assert ev.thp_first.tolist() == [1, 1, 0]


def test_thp_copy_whole_huge_prices_the_copy_once() -> None:
    """Pre-5.8 THP COW copies the 2 MiB once: the faulting page plus 511 pages priced as
    precopied (no trap each), and nothing more; a region under 2 MiB has no huge page."""
    pages = [0, 600, 1100]
    cm = cost(thp_model=CopyWholeHuge())
    rec = simulate(trace(pages, 3 * HUGE_PAGES), HugePage(), cm)
    assert rec.precopied == 3 * 511
    assert rec.fault_ns.sum() == 3 * (FAULT + COPY + 511 * PRE)
    partial = simulate(trace([0], 100), HugePage(), cm)
    assert partial.precopied == 0
    assert partial.fault_ns.sum() == FAULT + COPY


def regions(pages: list[int], sizes: list[int], vpn0: list[int]) -> Trace:
    """A recorded multi-region trace: region r's first page at virtual page vpn0[r]."""
    return Trace(pages=np.asarray(pages), n_pages=sum(sizes), name="hand",
                 region_sizes=np.asarray(sizes),
                 region_starts=np.asarray(vpn0, dtype=np.uint64) * np.uint64(4096))


def test_thp_huge_pages_are_aligned_in_virtual_pages_within_the_region() -> None:
    """A huge page backs an aligned 2 MiB of virtual pages that the region holds whole."""
    # one region of 1500 pages starting at vpn 100: aligned groups at vpn 512..1024 and
    # 1024..1536 (pages 412..924, 924..1436); pages 0..411 and 1436..1499 have none
    t = regions([0, 411, 412, 923, 924, 1435, 1436, 1499, 500], [1500], [100])
    rec, ev = both_paths(t, HugePage(), cost())
    assert ev.page.tolist() == [0, 411, 412, 923, 924, 1435, 1436, 1499, 500]
    assert ev.thp_first.tolist() == [0, 0, 1, 0, 1, 0, 0, 0, 0]
    assert rec.fault_ns.sum() == 9 * (FAULT + COPY) + 2 * SPLIT
    # the same pages at vpn 0 group by page index (huge pages 0 and 1; 1024..1536 passes
    # the region's end)
    t0 = regions([0, 411, 412, 923, 924, 1435, 1436, 1499, 500], [1500], [0])
    assert both_paths(t0, HugePage(), cost())[1].thp_first.tolist() == \
        [1, 0, 0, 1, 0, 0, 0, 0, 0]


def test_thp_small_and_straddling_regions_have_no_huge_page() -> None:
    """Regions under 2 MiB, or holding no aligned 2 MiB of virtual pages, take 4 KiB faults
    only; a group that straddles two regions is in neither (each region is its own VMA)."""
    # 3 regions: 300 pages at vpn 0, 300 at vpn 300 (the two together span vpn 0..600:
    # adjacent, but no group lies in one), 600 at vpn 1000 (holds vpn 1024..1536)
    sizes, vpn0 = [300, 300, 600], [0, 300, 1000]
    t = regions([0, 299, 300, 599, 600, 623, 624, 1135, 1136], sizes, vpn0)
    rec, ev = both_paths(t, HugePage(), cost())
    assert ev.thp_first.tolist() == [0, 0, 0, 0, 0, 0, 1, 0, 0]
    assert rec.fault_ns.sum() == 9 * (FAULT + COPY) + SPLIT
    # without region_starts the page index is the vpn: group 0..512 straddles regions 0
    # and 1, and region 2 (pages 600..1200) holds no whole group
    t2 = Trace(pages=np.asarray([0, 511, 600, 1100]), n_pages=1200, name="hand",
               region_sizes=np.asarray(sizes))
    assert both_paths(t2, HugePage(), cost())[1].thp_first.tolist() == [0, 0, 0, 0]
    # many small regions (a shell's): no split at all, as the kernel shows
    small = regions(list(range(0, 64 * 40, 40)), [40] * 64, [i * 4096 for i in range(64)])
    assert both_paths(small, HugePage(), cost())[1].thp_first.sum() == 0


def test_thp_copy_whole_huge_copies_the_aligned_group() -> None:
    """CopyWholeHuge copies exactly the aligned group in virtual pages: pages 412..923 of a
    region at vpn 100, not 0..511 or anything past the group."""
    cm = cost(thp_model=CopyWholeHuge())
    t = regions([500, 412, 923, 924, 10], [1500], [100])
    rec, ev = both_paths(t, HugePage(), cm)
    assert ev.page.tolist() == [500, 924, 10]  # 412 and 923 were copied with 500's group
    assert ev.precopied.tolist() == [511, 511, 0]
    assert ev.thp_first.tolist() == [1, 1, 0]
    assert rec.precopied == 1022


def test_thp_single_aligned_region_groups_as_before() -> None:
    """One region at vpn 0 whose length is a multiple of 512: huge page = page // 512."""
    n = 4 * HUGE_PAGES
    rng = np.random.default_rng(3)
    pages = rng.integers(0, n, 3000)
    rec, ev = both_paths(trace(pages.tolist(), n), HugePage(), cost())
    first = {}
    for i, p in enumerate(ev.page.tolist()):
        first.setdefault(p // HUGE_PAGES, i)
    assert np.flatnonzero(ev.thp_first).tolist() == sorted(first.values())
    assert rec.fault_ns.sum() == rec.faults * (FAULT + COPY) + 4 * SPLIT


def test_private_writes_take_no_fault_and_noise_off_is_exact() -> None:
    rec = simulate(trace([3, 3, 3, 4], 8), StaticPrecopy(1), cost())
    assert rec.faults == 1 and rec.writes == 4 and rec.nonfault_write_ns == WRITE
    a = simulate(GENERATORS["uniform"](n_pages=500, writes=2000), StaticPrecopy(2), cost())
    b = simulate(GENERATORS["uniform"](n_pages=500, writes=2000), StaticPrecopy(2), cost())
    assert np.array_equal(a.fault_ns, b.fault_ns)
    assert set(a.fault_ns.tolist()) <= {FAULT + COPY + j * PRE for j in range(3)}


def test_noise_on_is_seeded() -> None:
    cm = cost(noise={"kind": "lognormal", "sigma": 0.3})
    t = GENERATORS["uniform"](n_pages=500, writes=2000)
    a = simulate(t, StaticPrecopy(2), cm, seed=1)
    b = simulate(t, StaticPrecopy(2), cm, seed=1)
    c = simulate(t, StaticPrecopy(2), cm, seed=2)
    assert np.array_equal(a.fault_ns, b.fault_ns) and not np.array_equal(a.fault_ns, c.fault_ns)
    assert np.array_equal(a.fault_ns, simulate(t, StaticPrecopy(2), cm, seed=1, fast=False)
                          .fault_ns)
    with pytest.raises(ConfigError, match="seed"):
        simulate(t, StaticPrecopy(2), cm)


def test_per_write_quantiles_include_non_faulting_writes() -> None:
    # 10 faults (k=0) among 1000 writes: the median and p99 writes are free.
    pages = list(range(10)) + [i % 10 for i in range(990)]
    rec = simulate(trace(pages, 10), Baseline(), cost())
    row = summarize(rec, LAM, COPY)
    assert (row["writes"], row["faults"]) == (1000, 10)
    assert row["write_p50_ns"] == WRITE and row["write_p99_ns"] == WRITE
    assert row["write_max_ns"] == FAULT + COPY
    assert row["fault_avg_ns"] == FAULT + COPY
    per_write = np.full(1000, WRITE)
    per_write[:10] = FAULT + COPY
    qs = (0.5, 0.99, 0.995, 1.0)
    for q, got in zip(qs, write_quantiles(rec, qs), strict=True):
        assert got == np.quantile(per_write, q, method="inverted_cdf")


# --- decide_ns: the run-time decision of an adaptive (table) policy ---------------------------


def test_decide_ns_hand_computed_static_pays_nothing_adaptive_pays_per_fault() -> None:
    cm = terms(decide_ns=DECIDE)
    t = trace([5, 3, 9, 5, 6], 10)  # k=3: 3 demand faults (5, 6 private then); k=0: 4
    base = FAULT + COPY + SETUP
    # static k=3 (module STATIC mode): no decision cost, on either path
    rec, ev = both_paths(t, StaticPrecopy(3), cm)
    assert rec.fault_ns.tolist() == [base + 3 * PRE, base + PRE + 2 * SKIP, base]
    rec = simulate(t, Baseline(), cm, fast=False)
    assert rec.fault_ns.tolist() == [FAULT + COPY] * 4
    # the same degrees decided at run time: decide_ns once per demand fault, k = 0 too
    rec, ev = both_paths(t, Scripted([3, 3, 3]), cm)
    assert ev.page.tolist() == [5, 3, 9]
    assert rec.fault_ns.tolist() == [FAULT + COPY + DECIDE + SETUP + 3 * PRE,
                                     FAULT + COPY + DECIDE + SETUP + PRE + 2 * SKIP,
                                     FAULT + COPY + DECIDE + SETUP]
    rec = simulate(t, Scripted([0, 0, 0, 0]), cm)
    assert rec.fault_ns.tolist() == [FAULT + COPY + DECIDE] * 4
    # the formula: decided is its own term, 0 unless given
    assert cm.fault_cost(2, 1, 1, 3, 1) == FAULT + COPY + DECIDE + SETUP + 2 * PRE + 3 * SKIP \
        + SPLIT
    assert cm.fault_cost(2, 1, 1, 3) == FAULT + COPY + SETUP + 2 * PRE + 3 * SKIP + SPLIT


def test_decide_ns_reaches_observe_and_default_zero_is_bit_identical() -> None:
    seen: list[float] = []

    class Watch(Scripted):
        def observe(self, ctx: FaultContext, event: FaultEvent) -> None:
            seen.append(event.fault_ns)

    t = GENERATORS["uniform"](n_pages=300, writes=900, seed=2)
    ks = np.random.default_rng(1).choice([0, 1, 4, 16], 900).tolist()
    rec = simulate(t, Watch(ks), terms(decide_ns=DECIDE))
    assert seen == rec.fault_ns.tolist()
    zero = simulate(t, Scripted(ks), terms())
    assert np.array_equal(zero.fault_ns, simulate(t, Scripted(ks), terms(decide_ns=0.0)).fault_ns)
    assert np.array_equal(rec.fault_ns, zero.fault_ns + DECIDE)
    # explicit decided=0 / default: exactly the formula without the term
    rng = np.random.default_rng(0)
    n, h = rng.integers(0, 65, 500), rng.integers(0, 2, 500)
    w, s = rng.integers(0, 2, 500), rng.integers(0, 65, 500)
    cm = terms()
    assert np.array_equal(cm.fault_cost(n, h, w, s, np.ones(500, dtype=np.int64)),
                          cm.fault_cost(n, h, w, s))
    with pytest.raises(ConfigError, match="decide_ns"):
        cost(decide_ns=-1.0)


def test_table_and_readahead_policies_pay_decide_ns_static_policies_do_not() -> None:
    from cowrl.policies.context import N_CELLS
    from cowrl.policies.readahead import Readahead
    from cowrl.policies.table import TablePolicy

    cm0, cm1 = terms(), terms(decide_ns=DECIDE)
    for t in suite(seed=5, n_pages=700, writes=1500):
        for p in (TablePolicy([0] * N_CELLS), Readahead(max_k=16)):
            a, b = simulate(t, p, cm0), simulate(t, p, cm1)
            assert np.array_equal(b.fault_ns, a.fault_ns + DECIDE), (t.name, p.name)
        for p in (Baseline(), StaticPrecopy(4), HugePage()):
            for fast in (True, False):
                a, b = simulate(t, p, cm0, fast=fast), simulate(t, p, cm1, fast=fast)
                assert np.array_equal(a.fault_ns, b.fault_ns), (t.name, p.name, fast)



def test_decide_program_ns_prices_guarded_apart_from_table_policies() -> None:
    """``decide_program_ns.guarded`` replaces ``decide_ns`` in the same formula for the
    policies whose module program is GUARDED; TABLE policies and static ones are unchanged."""
    from cowrl.policies.guarded import N_CELLS as G_CELLS
    from cowrl.policies.guarded import GuardedPolicy
    from cowrl.policies.readahead import Readahead

    guarded_ns = 450.0
    cm0, cm1 = terms(decide_ns=DECIDE), terms(decide_ns=DECIDE,
                                               decide_program_ns={"guarded": guarded_ns})
    assert cm1.decide_cost() == DECIDE and cm1.decide_cost("guarded") == guarded_ns
    assert cm1.fault_cost(0, decided=1, program="guarded") == FAULT + COPY + guarded_ns
    for t in suite(seed=6, n_pages=700, writes=1500):
        for p in (Readahead(max_k=16), StaticPrecopy(4)):
            assert np.array_equal(simulate(t, p, cm0).fault_ns, simulate(t, p, cm1).fault_ns)
        g = GuardedPolicy(table=[64] * G_CELLS, budget_per_mille=1000)
        for fast in (True, False):
            a, b = simulate(t, g, cm0, fast=fast), simulate(t, g, cm1, fast=fast)
            assert (a.faults, a.precopied) == (b.faults, b.precopied)
            assert np.allclose(b.fault_ns, a.fault_ns + guarded_ns - DECIDE), (t.name, fast)
    with pytest.raises(ConfigError, match="decide_program_ns.guarded"):
        cost(decide_program_ns={"guarded": -1.0})


def test_guarded_auto_takes_the_budget_constants_of_the_cost_model_it_is_priced_by() -> None:
    """``costmodel: auto`` (conf/policy/guarded.yaml) == the policy built for that cost model,
    fault for fault, under each cost model: the budget reserves what windows cost there."""
    from cowrl.policies.guarded import make_guarded
    from cowrl.registry import make_costmodel, make_policy

    assert make_policy("guarded").budget_spec is not None
    table = [64] * 320
    t = GENERATORS["stride"](n_pages=1024, writes=1024, seed=0)
    for name in ("seed_table1", "tcg"):
        cm = make_costmodel(name)
        auto, fixed = make_guarded(table, costmodel="auto"), make_guarded(table, costmodel=name)
        ra, ea = simulate(t, auto, cm, record_events=True)
        rf, ef = simulate(t, fixed, cm, record_events=True)
        assert np.array_equal(ea.k, ef.k) and np.array_equal(ra.fault_ns, rf.fault_ns), name
        kernel_form = auto.for_trace(t, cm).kernel_program().table
        assert kernel_form == fixed.kernel_program().table
    assert make_guarded(table, costmodel="auto").for_trace(t, make_costmodel("tcg")).skip > 0

# --- fast (numba) path == generic path on every generator ----------------------------------


def suite(seed: int, n_pages: int = 1300, writes: int = 3000) -> list[Trace]:
    out = []
    for g, fn in GENERATORS.items():
        kw = {"n_pages": n_pages, "writes": writes, "seed": seed}
        if g == "sparse":
            kw = {"n_pages": n_pages, "touched": 50, "seed": seed}
        out.append(fn(**kw))
    return out


@pytest.mark.parametrize("policy", [Baseline(), StaticPrecopy(1), StaticPrecopy(3),
                                    FaultAround(), StaticPrecopy(64), HugePage(),
                                    ThpPrecopy(8)], ids=lambda p: f"{p.name}-thp{p.thp}")
@pytest.mark.parametrize("thp_model", ["split", "whole"])
@pytest.mark.parametrize("with_terms", [False, True], ids=["per_page", "setup_skip_decide"])
def test_fast_path_equals_generic_path(policy: Policy, thp_model: str, with_terms: bool) -> None:
    extra = {"precopy_setup_ns": SETUP, "precopy_skip_ns": SKIP,
             "decide_ns": DECIDE} if with_terms else {}
    cm = cost(**extra) if thp_model == "split" else cost(thp_model=CopyWholeHuge(), **extra)
    for t in suite(seed=3):
        fast, ev_f = simulate(t, policy, cm, record_events=True)
        slow, ev_s = simulate(t, policy, cm, record_events=True, fast=False)
        for key in ("faults", "precopied", "wasted", "writes"):
            assert getattr(fast, key) == getattr(slow, key), (t.name, key)
        assert np.array_equal(fast.fault_ns, slow.fault_ns)
        for a, b in zip(ev_f.__dict__.values(), ev_s.__dict__.values(), strict=True):
            assert np.array_equal(a, b), t.name


# --- the oracle -------------------------------------------------------------------------------

STATIC = [Baseline(), StaticPrecopy(1), HugePage(), FaultAround()] + \
    [StaticPrecopy(k) for k in (2, 4, 8, 32, 64)]


@pytest.mark.parametrize("seed, n_pages, writes", [(0, 700, 1500), (1, 2048, 2500)])
def test_oracle_never_worse_than_any_static_policy(seed: int, n_pages: int, writes: int) -> None:
    cm = cost()
    for t in suite(seed, n_pages, writes):
        best = summarize(simulate(t, Oracle(lam=LAM), cm), LAM, cm.page_cost_ns)["objective"]
        for p in STATIC:
            obj = summarize(simulate(t, p, cm), LAM, cm.page_cost_ns)["objective"]
            assert best <= obj + 1e-6, (t.name, p.name, best, obj)


def _lookahead_reference(t: Trace, cm: CostModel, lam: float, max_k: int = 64) -> np.ndarray:
    """The oracle's greedy look-ahead as it was written, one ``engine.apply`` per fault."""
    from cowrl.sim.engine import ReplayEngine, lookahead_k

    engine = ReplayEngine(cm, decided=True)
    ctx = engine.reset(t)
    gain = cm.fault_ns + cm.copy_ns - cm.precopy_ns
    loss = cm.precopy_ns + lam * cm.page_cost_ns
    ks: list[int] = []
    while ctx is not None:
        k = int(lookahead_k(engine.written, engine.private, ctx.page, ctx.region_end, max_k,
                            gain, loss))
        engine.apply(k)
        ks.append(k)
        ctx = engine.context
    return np.asarray(ks, dtype=np.int64)


def test_the_oracle_look_ahead_replays_in_compiled_code_as_per_fault() -> None:
    """The look-ahead and the replay of its degrees ran one Python call per fault (~55 us: an
    eval.py of 5 M random writes spent 4 of its 5 minutes in the oracle); compiled, they must
    decide and price exactly as the per-fault path: degrees, events, latencies (noise on),
    with THP, over several regions, and a short or negative sequence is an error."""
    from cowrl.policies.oracle import lookahead_degrees

    multi = Trace(pages=np.array([5, 6, 7, 0, 1, 2, 3, 9, 8, 4, 12, 13, 14, 15, 11]),
                  n_pages=16, name="multi", region_sizes=np.array([4, 6, 6]))
    for cm in (cost(), cost(noise={"kind": "lognormal", "sigma": 0.3}),
               cost(precopy_setup_ns=SETUP, precopy_skip_ns=SKIP, decide_ns=DECIDE)):
        for t in [*suite(3, 700, 1500), multi]:
            ks = lookahead_degrees(t, cm if cm.noise is None else cost(), LAM)
            assert np.array_equal(ks, _lookahead_reference(t, cm if cm.noise is None else
                                                           cost(), LAM)), t.name
            for seq in (DegreeSequence(ks, "la", {}), ThpSequence(ks, "la", {})):
                assert np.array_equal(seq.replay_degrees, ks)
                seed = 4 if cm.noise is not None else None
                fast, ev_f = simulate(t, seq, cm, seed=seed, record_events=True)
                slow, ev_s = simulate(t, seq, cm, seed=seed, record_events=True, fast=False)
                for key in ("faults", "precopied", "wasted"):
                    assert getattr(fast, key) == getattr(slow, key), (t.name, key)
                assert np.array_equal(fast.fault_ns, slow.fault_ns), t.name
                for a, b in zip(ev_f.__dict__.values(), ev_s.__dict__.values(), strict=True):
                    assert np.array_equal(a, b), t.name
    t = suite(0, 300, 600)[0]
    ks = lookahead_degrees(t, cost(), LAM)
    with pytest.raises(ValueError, match="policy 'la': .* degrees for more demand faults"):
        simulate(t, DegreeSequence(ks[:-1], "la", {}), cost())
    with pytest.raises(ValueError, match="policy 'la': negative precopy degree -1"):
        simulate(t, DegreeSequence(np.r_[ks[:-1], -1], "la", {}), cost())


class ThpSequence(DegreeSequence):
    """A degree sequence on huge pages (the engine's THP first-fault pricing)."""

    thp = True


def test_page_prices_hand_computed() -> None:
    """A written copy saves fault + copy (+ the decision, for a named program) less its
    precopy; an unwritten one costs its precopy plus lam page copies."""
    cm = CostModel(fault_ns=1000.0, copy_ns=300.0, precopy_ns=200.0, decide_ns=7.0,
                   decide_program_ns={"guarded": 11.0})
    assert cm.page_prices(2.0) == (1100.0, 800.0)
    assert cm.page_prices(0.0, "table") == (1107.0, 200.0)
    assert cm.page_prices(1.0, "guarded") == (1111.0, 500.0)

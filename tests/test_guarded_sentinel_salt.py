"""``sentinel_salt`` (session 40): the sentinel table's index adds the faulting region's salt,
so that arrays in separate mappings written in lockstep keep their sentinels apart. The
prototype, the compiled program and the module's C (cowrl_guarded.h) decide alike; the
development generator of the shape (``lockstep_arrays``)."""

from __future__ import annotations

import numpy as np
import pytest

from cowrl.errors import ConfigError
from cowrl.policies.guarded import N_CELLS, GuardedPolicy, shipped_options
from cowrl.registry import make_costmodel
from cowrl.sim.programs import region_salt
from cowrl.sim.simulator import simulate
from cowrl.traces import generators as g
from cowrl.traces.io import Trace

M32 = 0xFFFFFFFF


def _hand_salt(start_vpn: int, size: int, proc: int) -> int:
    """The salt computed here step by step: the bucket's key, two xor-shift-multiply rounds,
    bits 8..15 of the mix, plus 16 x proc, mod 256."""
    x = (start_vpn % 512) + size * 512
    for _ in range(2):
        x = ((x ^ (x >> 16)) * 0x045D9F3B) % 2**32
    return (((x ^ (x >> 16)) // 256) + 16 * proc) % 256


def _two_lockstep(n: int = 64) -> Trace:
    """Two regions of ``n`` pages laid end to end, written in lockstep: page p of region 0,
    then page p of region 1, for p = 0 .. n - 1."""
    pages = np.array([p + n * r for p in range(n) for r in range(2)])
    return Trace(pages=pages, n_pages=2 * n, name="two_lockstep",
                 region_sizes=np.array([n, n]))


def _shield64(salt: int, cost: str = "seed_table1") -> GuardedPolicy:
    return GuardedPolicy.for_cost(make_costmodel(cost), table=[64] * N_CELLS,
                                  **{**shipped_options("shield64"), "sentinel_salt": salt})


def test_region_salt_is_the_hand_computed_hash() -> None:
    assert region_salt(0, 64, 0) == _hand_salt(0, 64, 0) == 49
    assert region_salt(64, 64, 0) == _hand_salt(64, 64, 0) == 248
    for key in ((513, 64, 0), (1, 64, 0), (7, 1000, 3), (0x7F0000001, 4097, 15)):
        assert region_salt(*key) == _hand_salt(*key)
    # only the start mod 512 is read (the harness keeps that), and each process moves it by 16
    assert region_salt(64 + 512 * 9, 64, 0) == region_salt(64, 64, 0)
    assert region_salt(64, 64, 2) == (region_salt(64, 64, 0) + 32) % 256


def test_two_regions_in_lockstep_collide_without_the_salt() -> None:
    """k = 0 everywhere: every fault records its sentinel at page + 1. Region 0's page p and
    region 1's page p share the region-relative index p + 1: region 1's sentinel evicts
    region 0's (a miss) before region 0's fault reaches it, then region 1's fault hits its own:
    63 hits, 63 misses (the last page of each region records none, past its end). With the
    salts 49 and 248 (199 apart) every sentinel is reached: 126 hits, no miss. Prototype and
    compiled program alike."""
    t = _two_lockstep()
    cost = make_costmodel("seed_table1")
    for salt, want in ((0, (63, 63)), (1, (126, 0))):
        pol = GuardedPolicy(table=[0] * N_CELLS, sentinel_salt=salt)
        simulate(t, pol, cost, fast=False)
        assert (sum(pol.ctx.hits), sum(pol.ctx.misses)) == want, salt
        # per class: each region's first fault starts no stream (class 1), its later ones
        # continue it (class 0): the first sentinel of each region is a class-1 one
        assert (pol.ctx.hits, pol.ctx.misses) == (([62, 1], [62, 1]) if salt == 0 else
                                                  ([124, 2], [0, 0])), salt
        _, ev = simulate(t, GuardedPolicy(table=[0] * N_CELLS, sentinel_salt=salt), cost,
                         record_events=True, fast=True)
        assert (ev.tallies["hits"], ev.tallies["misses"]) == want, salt


def test_one_region_decides_as_without_the_salt() -> None:
    """A salt moves one region's entries as a whole: a trace of one region decides exactly as
    without it (shield64, its windows included)."""
    cost = make_costmodel("seed_table1")
    for t in (g.sequential(n_pages=2048), g.randomized(seed=2000, draw=3),
              g.block_stride(n_pages=2048, block=3, gap=3)):
        _, e0 = simulate(t, _shield64(0), cost, record_events=True)
        _, e1 = simulate(t, _shield64(1), cost, record_events=True)
        assert np.array_equal(e0.page, e1.page) and np.array_equal(e0.k, e1.k), t.name
        assert e0.tallies == e1.tallies, t.name


@pytest.mark.parametrize("cost_name", ["seed_table1", "host"])
def test_prototype_and_compiled_agree_on_lockstep_draws(cost_name: str) -> None:
    cost = make_costmodel(cost_name)
    differ = 0
    for seed in (2000, 2006, 2008):
        t = g.lockstep_draw(seed)
        pol = _shield64(1, cost_name)
        ref, ev = simulate(t, pol, cost, record_events=True, fast=False)
        got, ev2 = simulate(t, _shield64(1, cost_name), cost, record_events=True, fast=True)
        assert np.array_equal(ev.page, ev2.page) and np.array_equal(ev.k, ev2.k), t.name
        assert (ref.faults, ref.precopied, ref.wasted) == (got.faults, got.precopied,
                                                           got.wasted)
        assert ev2.tallies["hits"] == sum(pol.ctx.hits)
        assert ev2.tallies["misses"] == sum(pol.ctx.misses)
        _, ev0 = simulate(t, _shield64(0, cost_name), cost, record_events=True)
        differ += not np.array_equal(ev0.k, ev2.k)
        # the salt takes most misses away on these draws
        assert ev2.tallies["misses"] * 4 < ev0.tallies["misses"], t.name
    assert differ == 3


@pytest.fixture(scope="module")
def cguarded(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from cowrl.kernel.table import CGuarded

    return CGuarded(tmp_path_factory.mktemp("cguarded_salt"))


@pytest.mark.parametrize("salt", [0, 1])
def test_the_module_header_decides_as_the_simulator(cguarded, salt: int) -> None:  # noqa: ANN001
    """cowrl_guarded.h (built for user space) makes the compiled program's decisions and
    tallies (sentinels hit and missed included) on the hand-built pair and on lockstep draws
    of both layouts (``mmap``: regions at recorded addresses, not in address order)."""
    from cowrl.kernel.table import pack_guarded

    cost = make_costmodel("seed_table1")
    traces = [_two_lockstep(), *(g.lockstep_draw(s) for s in (2000, 2006, 2008, 2019))]
    assert {t.meta["layout"] for t in traces[1:]} == {"packed", "mmap"}
    for pol in (GuardedPolicy(table=[0] * N_CELLS, sentinel_salt=salt), _shield64(salt)):
        payload = pack_guarded(pol.program())
        assert payload[771] == salt and cguarded.check(payload) == 0
        for t in traces:
            _, ev = simulate(t, pol, cost, record_events=True)
            page, k = cguarded.replay(payload, t.pages, t.n_pages, t.region_ends,
                                      t.region_vpn_offsets, t.region_writers)
            assert np.array_equal(page, ev.page) and np.array_equal(k, ev.k), t.name
            assert cguarded.last_tallies == ev.tallies, t.name
    bad = bytearray(pack_guarded(_shield64(1).program()))
    bad[771] = 2
    assert cguarded.check(bytes(bad)) == -22


@pytest.mark.parametrize("value", [2, -1, True, "1"])
def test_a_bad_sentinel_salt_names_the_field(value: object) -> None:
    with pytest.raises(ConfigError, match="policy.sentinel_salt must be 0 or 1"):
        GuardedPolicy(table=[0] * N_CELLS, sentinel_salt=value)


def test_the_option_reaches_the_program_and_the_options() -> None:
    on, off = _shield64(1), _shield64(0)
    assert on.kernel_program().table["sentinel_salt"] == 1
    assert "sentinel_salt" not in off.kernel_program().table  # the table before it
    assert on.options()["sentinel_salt"] == 1 and off.options()["sentinel_salt"] == 0


def test_lockstep_arrays_pages_by_hand() -> None:
    # two arrays of 8 pages, the second's elements twice as wide (16 pages, written twice as
    # fast); mmap layout: a header page first in each region, the second mapped below
    t = g.lockstep_arrays(pages=8, scales=(1, 2), layout="mmap")
    assert t.region_sizes.tolist() == [9, 17]
    assert t.pages.tolist() == [1, 10, 11, 2, 12, 13, 3, 14, 15, 4, 16, 17, 5, 18, 19, 6, 20,
                                21, 7, 22, 23, 8, 24, 25]
    assert [int(x) for x in t.region_starts] == [0x7F1000000000 - 9 * 4096,
                                                 0x7F1000000000 - 27 * 4096]
    # packed, equal sizes, the middle half of the loop: pages 2..5 of each, in lockstep
    t = g.lockstep_arrays(pages=8, scales=(1, 1, 1), coverage=0.5, first=0.25)
    assert t.region_starts is None
    assert t.pages.tolist() == [2, 10, 18, 3, 11, 19, 4, 12, 20, 5, 13, 21]


@pytest.mark.parametrize("kw,field", [({"scales": (1,)}, "scales"), ({"scales": (1, 0)}, "scales"),
                                      ({"coverage": 1.5}, "coverage"),
                                      ({"layout": "brk"}, "layout"), ({"pages": 0}, "pages")])
def test_lockstep_arrays_refuses_bad_fields(kw: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=f"lockstep_arrays: {field}"):
        g.lockstep_arrays(**kw)


def test_lockstep_draws_are_not_a_family() -> None:
    assert "lockstep_arrays" not in g.FAMILIES and "lockstep_arrays" not in g.GENERATORS
    a, b = g.lockstep_draw(2003), g.lockstep_draw(2003)
    assert np.array_equal(a.pages, b.pages) and a.meta == b.meta
    assert 2 <= a.region_sizes.size <= 6

"""``guarded``'s ``stride_window`` (a simulator study, docs/policies.md "Strided windows
(session 28, simulator study)"): off decides and prices as before, on copies the next pages
of a column and proves them, and the loss over k = 0 stays within the allowances; the
compiled program (cowrl/sim/programs.py) and the module's header decide it as the
prototype."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from test_guarded_program import _compiled_equals_prototype, _header_decides_as, _policies, _traces
from test_guarded_proof import _bound_traces

from cowrl.errors import ConfigError
from cowrl.metrics import objective
from cowrl.policies.guarded import N_CELLS, GuardedPolicy, shipped_options
from cowrl.registry import make_costmodel
from cowrl.sim.engine import STRIDE, ReplayEngine
from cowrl.sim.simulator import simulate
from cowrl.traces import generators as g
from cowrl.traces.io import Trace


def _adjacent() -> dict:
    """The shipped budget options with adjacent windows (conf/policy/guarded_adjacent.yaml;
    guarded ships stride_window: 1 since session 30): these tests set stride_window
    themselves."""
    return shipped_options("guarded_adjacent")


STRIDE_SHARE = 0.094  # about tcg's setup share of precopy_ns (the study's price)
STRIDE_NS = 1135.0  # so for seed_table1


def _cost(cm: str = "seed_table1", stride_ns: float | None = None):  # noqa: ANN202
    cost = make_costmodel(cm)
    ns = round(STRIDE_SHARE * cost.precopy_ns) if stride_ns is None else stride_ns
    return replace(cost, precopy_stride_ns=float(ns))


def _columns(rows: int, cols: int, name: str = "columns") -> Trace:
    """A 2-D array of ``rows`` x ``cols`` pages written column by column (stride ``cols``)."""
    pages = np.array([r * cols + c for c in range(cols) for r in range(rows)], dtype=np.int64)
    return Trace(pages=pages, n_pages=rows * cols, name=name)


def _stop_and_go(n_pages: int = 8192, seed: int = 0) -> Trace:
    """Columns of 4-6 writes at stride 7 started at random pages: the detector sees the stride
    from the third write, and the strided windows it opens are never written (a spoof)."""
    rng = np.random.default_rng(seed)
    pages: list[int] = []
    seen: set[int] = set()
    while len(pages) < n_pages // 4:
        p0 = int(rng.integers(0, n_pages - 64))
        for j in range(int(rng.integers(4, 7))):
            q = p0 + 7 * j
            if q not in seen:
                seen.add(q)
                pages.append(q)
    return Trace(pages=np.array(pages, dtype=np.int64), n_pages=n_pages, name="stop_and_go")


def _adversarial() -> list[Trace]:
    return [*_bound_traces(), _stop_and_go(), _stop_and_go(seed=1),
            g.stride(n_pages=4096, stride=2), g.stride(n_pages=4096, stride=13),
            g.long_stride(n_pages=4096, stride=64, columns=3),
            g.block_stride(n_pages=4096, block=3, gap=3, passes=2),
            g.uniform(n_pages=4096, writes=8192, seed=4), _columns(96, 96)]


@pytest.mark.parametrize("pi", [0, 1, 9, 14, 22, 33])
def test_off_decides_and_prices_as_the_compiled_program(pi: int) -> None:
    """``stride_window: 0`` (the default) decides, fault for fault, as the compiled program,
    which has no strided window, even where the cost model prices a strided page: the prototype
    path is unchanged and no adjacent window pays the surcharge."""
    pol = _policies()[pi]
    assert pol.stride_window == 0
    copied = 0
    for t in [*_traces(), _columns(64, 24)]:
        got, _ = _compiled_equals_prototype(t, pol, _cost())
        copied += got.precopied
        # and no fault is charged the surcharge: the same times as where it is 0
        ref = simulate(t, pol, _cost(stride_ns=0.0), fast=False)
        assert np.array_equal(ref.fault_ns, got.fault_ns), t.name
    assert copied > 0


def test_the_engine_applies_a_strided_window_and_prices_it() -> None:
    t = _columns(16, 5)  # pages 0, 5, 10, ... then 1, 6, ...
    for stride_ns, stride in ((0.0, 5), (STRIDE_NS, 5), (STRIDE_NS, 0)):
        cost = _cost(stride_ns=stride_ns)
        eng = ReplayEngine(cost, decided=True, program="guarded", trim=True)
        ctx = eng.reset(t)
        assert ctx is not None and ctx.page == 0
        ctx.window_stride[0] = stride
        ev = eng.apply(3)
        want = [5, 10, 15] if stride else [1, 2, 3]
        assert [int(p) for p in np.flatnonzero(eng.private)] == [0, *want]
        assert ev.precopied == 3 and ev.window == 3
        plain = cost.fault_ns + cost.copy_ns + cost.decide_cost("guarded") \
            + cost.precopy_setup_ns + 3 * cost.precopy_ns
        assert ev.fault_ns == pytest.approx(plain + (3 * stride_ns if stride else 0.0))
        assert eng.st[STRIDE] == 0  # consumed: the next fault is adjacent unless set again
        nxt = eng.context
        assert nxt is not None and nxt.page == (20 if stride else 5)  # 5, 10, 15 copied


def test_the_engine_clips_a_strided_window_at_the_region() -> None:
    t = Trace(pages=np.array([90, 0], dtype=np.int64), n_pages=100, name="edge")
    eng = ReplayEngine(_cost(), program="guarded", trim=True)
    ctx = eng.reset(t)
    ctx.window_stride[0] = 4
    ev = eng.apply(8)  # 94, 98 (102 is past the region)
    assert ev.precopied == 2 and ev.window == 2
    assert [int(p) for p in np.flatnonzero(eng.private)] == [90, 94, 98]


@pytest.mark.parametrize("cm", ["seed_table1", "host"])
@pytest.mark.parametrize("t", [_columns(96, 96), g.stride(n_pages=4096, stride=13),
                               g.stride(n_pages=4096, stride=2)], ids=lambda t: t.name)
def test_a_column_sweep_gets_strided_windows_and_proves_them(cm: str, t: Trace) -> None:
    cost = _cost(cm)
    base = objective(simulate(t, GuardedPolicy.for_cost(cost, table=[0] * N_CELLS), cost),
                     1.0, cost.page_cost_ns)
    rel, proven = {}, {}
    for sw in (0, 1):
        pol = GuardedPolicy.for_cost(cost, table=[64] * N_CELLS,
                                     **{**_adjacent(), "stride_window": sw})
        rec = simulate(t, pol, cost, fast=False)  # the prototype counts its proofs
        rel[sw] = objective(rec, 1.0, cost.page_cost_ns) / base
        proven[sw] = pol.ctx.proven
        if sw:
            assert pol.stride_ns == cost.precopy_stride_ns > 0
            assert rec.precopied > t.n_pages // 4 and rec.wasted == 0
    assert proven[1] > 2 * proven[0] + 100
    assert rel[1] < rel[0] - 0.05, rel


def test_strided_windows_follow_the_column() -> None:
    """On a 40 x 96 column sweep every window is strided: each copied page lies in the
    faulting page's column, and the detector survives the window (a fault after a window
    lands one stride past its last page)."""
    t = _columns(40, 96)
    cost = _cost()
    pol = GuardedPolicy.for_cost(cost, table=[64] * N_CELLS,
                                 **{**_adjacent(), "stride_window": 1})
    rec, ev = simulate(t, pol, cost, record_events=True)
    opened = np.flatnonzero(ev.k > 0)
    assert opened.size > 20
    for i in opened[:-1]:
        if ev.page[i + 1] > ev.page[i]:  # same column
            assert (ev.page[i + 1] - ev.page[i]) % 96 == 0
    assert rec.wasted == 0 and rec.precopied > 1000


@pytest.mark.parametrize("cm", ["seed_table1", "host"])
@pytest.mark.parametrize("k", [64, 1])
def test_the_bound_holds_with_strided_windows(cm: str, k: int) -> None:
    """The loss over k = 0 stays within the allowances granted (1 ns per page of slack: the
    integer prices round down), the strided surcharge included, on writers that fool the
    stride detector (columns that stop, random, stride 2) and on the bound traces."""
    cost = _cost(cm)
    for t in _adversarial():
        zeros = objective(simulate(t, GuardedPolicy.for_cost(cost, table=[0] * N_CELLS),
                                   cost), 1.0, cost.page_cost_ns)
        for opts in ({**_adjacent()}, {**_adjacent(), "grant_left": 0},
                     {"proof": 1, "proof_ttl": 3, "grant_left": 0}):
            pol = GuardedPolicy.for_cost(cost, table=[k] * N_CELLS,
                                         **{**opts, "stride_window": 1})
            # (fast=False: the prototype counts the allowances it grants)
            run = objective(simulate(t, pol, cost, fast=False), 1.0, cost.page_cost_ns)
            assert run - zeros <= pol.granted + t.n_pages, (t.name, opts)


def test_the_bound_test_can_fail_without_the_surcharge_reserved() -> None:
    """With the surcharge charged but not reserved (``stride_ns: 0`` given), the columns that
    stop lose more than the allowances: the reserve is what keeps the bound."""
    cost = _cost(stride_ns=20 * STRIDE_NS)
    t = _stop_and_go()
    zeros = objective(simulate(t, GuardedPolicy.for_cost(cost, table=[0] * N_CELLS), cost),
                      1.0, cost.page_cost_ns)
    excess = {}
    for ns in (None, 0):
        pol = GuardedPolicy.for_cost(cost, table=[64] * N_CELLS, proof=1, proof_ttl=3,
                                     grant_left=0, stride_window=1, stride_ns=ns)
        run = objective(simulate(t, pol, cost, fast=False), 1.0, cost.page_cost_ns)
        excess[ns] = (run - zeros, pol.granted)
    assert excess[None][0] <= excess[None][1] + t.n_pages
    assert excess[0][0] > excess[0][1] + t.n_pages


@pytest.mark.parametrize(("kw", "field"), [
    ({"stride_window": 2}, "policy.stride_window"),
    ({"stride_window": True}, "policy.stride_window"),
    ({"stride_window": 1, "protect": True}, "policy.stride_window"),
    ({"stride_ns": 5}, "policy.stride_ns"),
    ({"stride_window": 1, "stride_ns": -1}, "policy.stride_ns")])
def test_bad_stride_options_name_the_field(kw: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        GuardedPolicy(**kw)


def test_strided_windows_are_compiled() -> None:
    """The compiled program carries ``stride_window`` and ``stride_ns`` (replay_program
    returns it; program_args packs them); ``stride_gate`` / ``stride_clip`` stay prototype
    only (replay_program None, program_args and kernel_program refuse them)."""
    from cowrl.sim.programs import C_STRIDENS, C_STRIDEW, program_args

    pol = GuardedPolicy.for_cost(_cost(), table=[64] * N_CELLS, stride_window=1)
    prog = pol.replay_program()
    assert prog is not None and prog.table == pol.kernel_program().table
    assert prog.table["stride_window"] == 1 and prog.table["stride_ns"] == pol.stride_ns > 0
    cells = program_args(prog)[2]
    assert (cells[C_STRIDEW], cells[C_STRIDENS]) == (1, pol.stride_ns)
    off = GuardedPolicy.for_cost(_cost(), table=[64] * N_CELLS).kernel_program()
    assert "stride_window" not in off.table  # stride_window 0: the program as before
    assert program_args(off)[2][C_STRIDEW] == 0
    for field in ("stride_gate", "stride_clip"):  # not compiled, not in the module
        study = GuardedPolicy.for_cost(_cost(), table=[64] * N_CELLS, stride_window=1,
                                       **{field: 1})
        assert study.replay_program() is None
        with pytest.raises(ConfigError, match=f"policy.{field}"):
            study.kernel_program()
        with pytest.raises(ValueError, match=field):
            program_args(replace(prog, table={**prog.table, field: 1}))


def _even_columns(rows: int, cols: int) -> Trace:
    """The even columns of a ``rows`` x ``cols`` array, each written top to bottom: an
    adjacent window copies the odd column beside the fault, never written; a strided one the
    rows below it, written next."""
    pages = np.array([r * cols + c for c in range(0, cols, 2) for r in range(rows)],
                     dtype=np.int64)
    return Trace(pages=pages, n_pages=rows * cols, name=f"even_columns_{rows}x{cols}")


@pytest.mark.parametrize("cm", ["seed_table1", "host"])
def test_learn_table_learns_strided_windows(cm: str) -> None:
    """``learn_table`` with ``stride_window: 1`` (the shipped options) prices a strided
    fault's arms on its strided window: on sweeps of every other column, where an adjacent
    window copies only pages never written, the table learned with ``stride_window: 0``
    asks for nothing (0 in every cell) and gains nothing, while the one learned with it asks
    for windows in every cell its strided faults visit and gains > 10% of baseline, none
    wasted."""
    from cowrl.policies.guarded import learn_table

    cost = make_costmodel(cm)
    traces = [_even_columns(96, 96), _even_columns(64, 130)]
    rel, strided_cells = {}, {}
    for sw in (0, 1):
        kw = {**_adjacent(), "stride_window": sw}
        table = learn_table(traces, [cost], seed=0, passes=2, **kw)["table"]
        pol = GuardedPolicy.for_cost(cost, table=table, **kw)
        pol.trace_log = []
        rel[sw] = []
        for t in traces:
            base = objective(simulate(t, GuardedPolicy.for_cost(cost, table=[0] * N_CELLS),
                                      cost), 1.0, cost.page_cost_ns)
            rec = simulate(t, pol, cost)
            assert rec.wasted == 0
            rel[sw].append(objective(rec, 1.0, cost.page_cost_ns) / base)
        strided_cells[sw] = [table[e[1]] for e in pol.trace_log if e[4]]
        if sw == 0:
            assert table == [0] * N_CELLS
    assert rel[0] == [1.0, 1.0]
    assert len(strided_cells[1]) > 500 and min(strided_cells[1]) > 0
    assert max(rel[1]) < 0.9, rel


def test_learn_table_refuses_what_it_cannot_price() -> None:
    """``stride_clip`` cuts a strided window short of the arm's degree: learn_table refuses
    it, naming the field; ``stride_window: 1`` and ``stride_gate: 1`` (the log carries the
    stride the gate left) learn."""
    from cowrl.policies.guarded import learn_table

    with pytest.raises(ConfigError, match="policy.stride_clip"):
        learn_table([_columns(4, 4)], [_cost()], passes=1, stride_window=1, stride_clip=1)
    for kw in ({"stride_window": 1}, {"stride_window": 1, "stride_gate": 1}):
        res = learn_table([_columns(24, 24)], [_cost()], passes=1, **kw)
        assert len(res["table"]) == N_CELLS and res["weight"].sum() > 0


@pytest.mark.parametrize("cm", ["seed_table1", "host"])
@pytest.mark.parametrize("which", ["shield64", "guarded"])
def test_the_compiled_program_decides_strided_windows_as_the_prototype(cm: str,
                                                                       which: str) -> None:
    """The compiled GUARDED program (``simulate``'s default, ``fast=True``) with
    ``stride_window: 1`` takes the prototype's decisions fault for fault (``fast=False``):
    the same faults and k, copies, waste and per-fault times (the strided surcharge
    included), with the shipped options, ``grant_left: 0`` and a proof-ttl variant, on the
    column sweeps, the writers that fool the detector and the bound traces; and it strides
    (it decides otherwise than ``stride_window: 0``; on a column sweep, with the shipped
    options, it takes far fewer faults than writes)."""
    from cowrl.registry import make_policy

    cost = _cost(cm)
    shipped = make_policy("guarded")
    assert isinstance(shipped, GuardedPolicy)
    table = [64] * N_CELLS if which == "shield64" else list(shipped.table)
    copied = differ = 0
    for opts in ({**_adjacent()}, {**_adjacent(), "grant_left": 0},
                 {"proof": 1, "proof_ttl": 3, "grant_left": 0}):
        for t in [*_header_traces(), *_adversarial()]:
            pol = GuardedPolicy.for_cost(cost, table=table, **{**opts, "stride_window": 1})
            assert pol.replay_program() is not None  # fast=True runs the compiled program
            got, ev = _compiled_equals_prototype(t, pol, cost)
            copied += got.precopied
            plain = GuardedPolicy.for_cost(cost, table=table, **{**opts, "stride_window": 0})
            _, ev0 = simulate(t, plain, cost, record_events=True)
            differ += not np.array_equal(ev.k, ev0.k) or not np.array_equal(ev.page, ev0.page)
            if t.name.startswith("columns") and opts == _adjacent():
                # strided copies: far fewer faults than writes
                assert ev.page.size < t.writes // 2, t.name
    assert copied > 0 and differ > 0


def test_an_artifact_keeps_the_option(tmp_path) -> None:  # noqa: ANN001
    pol = GuardedPolicy.for_cost(_cost(), table=[64] * N_CELLS, stride_window=1)
    spec = pol.artifact_spec()
    back = GuardedPolicy.from_artifact(spec, "g", tmp_path)
    assert (back.stride_window, back.stride_ns) == (1, pol.stride_ns) and pol.stride_ns > 0
    old = {k: v for k, v in spec.items() if k not in ("stride_window", "stride_ns")}
    assert GuardedPolicy.from_artifact(old, "g", tmp_path).stride_window == 0


# --- the module's header (kernel_module/cowrl_guarded.h) decides alike -------------------------


@pytest.fixture(scope="module")
def cguarded(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from cowrl.kernel.table import CGuarded

    return CGuarded(tmp_path_factory.mktemp("cguarded_stride"))


def _header_traces() -> list[Trace]:
    return [_columns(96, 96), _columns(40, 96, "columns_40"), g.stride(n_pages=4096, stride=2),
            g.stride(n_pages=4096, stride=13), _stop_and_go(),
            g.uniform(n_pages=4096, writes=8192, seed=4)]


@pytest.mark.parametrize("cm", ["seed_table1", "host"])
@pytest.mark.parametrize("which", ["shield64", "guarded"])
def test_the_header_decides_strided_windows_as_the_prototype(cguarded, cm: str,  # noqa: ANN001
                                                             which: str) -> None:
    """``cowrl_guarded.h`` compiled for user space, with ``stride_window: 1`` in its table,
    takes the prototype's decisions fault for fault (``simulate(fast=False)``): the same
    faults, the same k, the walks stepping over the same private pages; and its windows
    are strided (it copies fewer faults' worth than a header that ignored the stride)."""
    from cowrl.kernel.table import pack_guarded
    from cowrl.registry import make_policy

    cost = _cost(cm)
    shipped = make_policy("guarded")
    assert isinstance(shipped, GuardedPolicy)
    table = [64] * N_CELLS if which == "shield64" else list(shipped.table)
    opened = 0
    for t in _header_traces():
        pol = GuardedPolicy.for_cost(cost, table=table,
                                     **{**_adjacent(), "stride_window": 1})
        payload = pack_guarded(pol.kernel_program())
        assert cguarded.check(payload) == 0
        _, ev = simulate(t, pol, cost, record_events=True, fast=False)
        _header_decides_as(cguarded, payload, t, ev)
        assert cguarded.last_proven == pol.ctx.proven, t.name
        opened += int(np.count_nonzero(ev.k))
        if t.name.startswith("columns"):
            # a column sweep: the faults are far fewer than the writes (strided copies)
            assert ev.page.size < t.writes // 2, t.name
    assert opened > 0


def test_the_header_refuses_bad_stride_fields(cguarded) -> None:  # noqa: ANN001
    """stride_window (at 760) 0..1, not with protect; its pad (762) 0; stride_ns (764) only
    with it, at most 2^20 (the module refuses a 760-byte payload: the kernel test)."""
    import struct

    from cowrl.kernel.table import GUARDED_BYTES, pack_guarded

    pol = GuardedPolicy.for_cost(_cost(), table=[64] * N_CELLS, stride_window=1)
    good = pack_guarded(pol.kernel_program())
    assert len(good) == GUARDED_BYTES == 776
    assert struct.unpack_from("<2HI", good, 760) == (1, 0, pol.stride_ns)

    def patched(off: int, fmt: str, v: int) -> bytes:
        out = bytearray(good)
        struct.pack_into(fmt, out, off, v)
        return bytes(out)

    assert cguarded.check(good) == 0
    assert cguarded.check(patched(760, "<H", 2)) == -22
    assert cguarded.check(patched(762, "<H", 1)) == -22
    assert cguarded.check(patched(764, "<I", (1 << 20) + 1)) == -22
    assert cguarded.check(patched(764, "<I", 1 << 20)) == 0
    off = patched(760, "<H", 0)
    assert cguarded.check(off) == -22  # stride_ns without the window
    assert cguarded.check(patched(764, "<I", 0)[:760] + bytes(16)) == 0  # (776 bytes)
    protect = GuardedPolicy.for_cost(_cost(), table=[64] * N_CELLS, protect=True)
    pp = bytearray(pack_guarded(protect.kernel_program()))
    assert cguarded.check(bytes(pp)) == 0
    struct.pack_into("<H", pp, 760, 1)
    assert cguarded.check(bytes(pp)) == -22  # with protect


def test_the_shipped_guarded_policy_has_strided_windows() -> None:
    """Since session 30 conf/policy/guarded.yaml ships ``stride_window: 1`` (its stride price
    from the cost model, not the file); conf/policy/guarded_adjacent.yaml is the previous
    default: every other option of guarded.yaml, ``stride_window: 0``, its own (the previous)
    table. On a column sweep guarded copies down the column where guarded_adjacent copies next
    to the fault. Session 29's ``guarded_stride`` is gone: one line saying what to use."""
    from cowrl.policies.guarded import make_guarded
    from cowrl.registry import group_config, make_policy

    base, adj = group_config("policy", "guarded"), group_config("policy", "guarded_adjacent")
    assert set(base) == set(adj) and "stride_ns" not in base
    assert (base["stride_window"], adj["stride_window"]) == (1, 0)
    for key in base:
        if key not in ("name", "table", "stride_window"):
            assert adj[key] == base[key], key
    assert shipped_options("guarded_adjacent") == {**shipped_options(), "stride_window": 0}
    p, q = make_policy("guarded"), make_policy("guarded_adjacent")
    assert p.stride_window == 1 and q.stride_window == 0
    assert list(p.table) != list(q.table) and len(q.table) == N_CELLS
    cost = make_costmodel("seed_table1")
    assert p.for_trace(g.stride(n_pages=64), cost).stride_ns == math.ceil(cost.precopy_stride_ns)
    t = g.stride(n_pages=4096, stride=16)
    rs, rq = simulate(t, p, cost), simulate(t, q, cost)
    assert rs.faults < rq.faults and rs.wasted == 0
    for field, get in (("policies", lambda: make_policy("guarded_stride")),
                       ("learners", lambda: group_config("policy", "guarded_stride",
                                                         "learners"))):
        with pytest.raises(ConfigError, match=f"^{field}: policy 'guarded_stride' is gone: "
                                              "strided windows are the default guarded") as e:
            get()
        assert "\n" not in str(e.value)
    # a table named by a file that does not exist, or holds no table: one line, the field
    with pytest.raises(ConfigError, match="policy.table: unknown policy 'nonexistent'"):
        make_guarded(table="nonexistent")
    with pytest.raises(ConfigError, match="policy.table: conf/policy/guarded0.yaml holds "
                                          "no table"):
        make_guarded(table="guarded0")
    assert make_guarded(table="guarded_adjacent", stride_window=1).table == q.table


# learn_table(train_traces(["stride"], 0, 4), [seed_table1], seed=0, passes=2, shipped options;
# since session 30 those of guarded_adjacent, stride_window 0) as printed at d03e53d, before
# strided pricing (its non-zero cells; the sum of its sums)
_LEARNED_BEFORE = {
    2: 64, 3: 32, 6: 64, 7: 1, 10: 64, 11: 2, 14: 64, 15: 2, 100: 64, 101: 64, 102: 64,
    103: 32, 104: 64, 105: 64, 106: 64, 108: 64, 109: 64, 110: 64, 111: 16, 120: 64, 121: 64,
    122: 64, 123: 32, 124: 64, 125: 64, 126: 64, 127: 16, 136: 64, 138: 64, 142: 64, 143: 64,
    158: 8, 159: 64, 177: 264, 178: 8, 180: 64, 181: 64, 182: 8, 184: 64, 186: 64, 188: 4,
    189: 1, 190: 64, 193: 16, 197: 16, 200: 64, 201: 64, 202: 64, 205: 64, 206: 64}
_SUMS_BEFORE = float.fromhex("0x1.edde96d8b4bb4p-2")


def test_learn_table_without_strided_windows_learns_as_before() -> None:
    """With ``stride_window: 0`` (the default) the log's stride is always 0 and the learner
    learns what it learned before strided pricing: the same table, the same arm sums (pinned
    from d03e53d on 4 training draws; if learn_table changes by design, print them again)."""
    from cowrl.generalization import train_traces
    from cowrl.policies.guarded import learn_table

    res = learn_table(train_traces(["stride"], 0, 4), [make_costmodel("seed_table1")], seed=0,
                      passes=2, **_adjacent())
    assert {c: v for c, v in enumerate(res["table"]) if v} == _LEARNED_BEFORE
    assert float(res["sums"].sum()) == pytest.approx(_SUMS_BEFORE, rel=1e-12)

"""``guarded``'s ``sibling_gate`` (a simulator study, session 35,
docs/results/sibling-gate-s35.md): the sibling window opens only while its pages' saved rate
(hits / marks) is above the cost model's break-even precision ``loss / (gain + loss)`` by m/8
of the rest; shut, a ghost window marks the pages it would copy and the marking process's
later demand fault on one is a hit. Hand-computed forked traces; one process: exactly inert;
the compiled program decides as the prototype; refusals."""

from __future__ import annotations

import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_compiled_equals_prototype, forked_trace
from omegaconf import OmegaConf

from cowrl.errors import ConfigError
from cowrl.kernel.table import pack_guarded
from cowrl.policies.guarded import N_CELLS, GuardedPolicy
from cowrl.registry import group_config, make_costmodel, make_policy
from cowrl.sim.programs import budget_flow
from cowrl.sim.simulator import simulate
from cowrl.traces import generators as g
from cowrl.traces.io import Trace

_forked = partial(forked_trace, size=256)  # process r writes writes[r] of its copy


def _loose(gate: int, **kw: object) -> GuardedPolicy:
    """A table of 0s (no adjacent window), an allowance of 17734 ns at every fault, loss
    1000, gain 5668 (break-even 1000 / 6668 = 0.15), W = 8, the expected-loss stake."""
    opts = {"loss_ns": 1000, "gain_ns": 5668, "budget_per_mille": 1000, "grant_left": 0,
            "proof": 1, **kw}
    return GuardedPolicy(table=[0] * N_CELLS, sibling_window=8, sibling_stake=1,
                         sibling_gate=gate, **opts)


def _run(t: Trace, pol: GuardedPolicy, fast: bool) -> tuple[list[int], list[int], int, int]:
    """(fault pages, pages copied per fault, copied, wasted) of a one-address replay."""
    r, ev = simulate(t, pol, make_costmodel("seed_table1"), record_events=True, fast=fast,
                     shared=True)
    return ([int(p) for p in ev.page], [int(n) for n in ev.precopied], r.precopied,
            r.wasted)


@pytest.mark.parametrize("fast", [False, True])
def test_the_gate_opens_on_evidence(fast: bool) -> None:
    """Parent and child write 0..255 in order. The parent's 256 faults set the bits. The
    child's fault on 0 finds none marked: shut, the ghost marks 1..8 (8 marks); its fault on
    p then hits p (marked by it) and marks p + 8: at fault p, p hits of p + 7 marks. With
    m = 4 it opens once marks >= 64 (p = 57; the rate, 57/64, is far above 0.575) and the
    window copies 58..65; faults then fall every 9 pages (57, 66, .., 255: 23). Ungated the
    child's fault on 0 copies 1..8 at once: faults at 0, 9, .., 252 (29)."""
    buf = list(range(256))
    t = _forked(buf, buf)
    pages, copied, n, wasted = _run(t, _loose(4), fast)
    child = [p - 256 for p in pages if p >= 256]
    assert child == [*range(57), *range(57, 256, 9)]
    assert [c for p, c in zip(pages, copied, strict=True) if p >= 256][56:58] == [0, 8]
    assert wasted == 0
    pages0, _, _, _ = _run(t, _loose(0), fast)
    assert [p - 256 for p in pages0 if p >= 256] == list(range(0, 256, 9))


@pytest.mark.parametrize("fast", [False, True])
def test_the_gate_stays_shut_where_no_mark_is_used(fast: bool) -> None:
    """The parent writes the even pages, the child the odd ones (no page in common): the
    ghost marks the even pages ahead of each child fault, none is ever hit, the window never
    opens: 128 child faults, nothing copied. Ungated the child copies the parent's pages
    ahead of it, all wasted."""
    t = _forked(list(range(0, 256, 2)), list(range(1, 256, 2)))
    pages, copied, n, wasted = _run(t, _loose(4), fast)
    assert len(pages) == 256 and n == 0 and wasted == 0
    _, _, n0, w0 = _run(t, _loose(0), fast)
    assert n0 > 0 and w0 == n0


def test_the_evidence_halves_and_old_marks_neither_hit_nor_return() -> None:
    """The counters at 1023 marks, 1000 hits: one more mark halves them (512, 500) and starts
    epoch 1. Process 1's mark of epoch 0 (tag 2) is then only cleared by its fault (no hit);
    one of epoch 1 (tag 2 | 1 << 5 = 34) is a hit (501). Its adjacent window over 12 and 13
    takes back 12's current mark (511 marks) and clears 13's old one. The gate (m = 4,
    break-even 1000 / 6668): 8 x 501 x 6668 >= 511 x (8000 + 4 x 5668): open; before 64
    marks it stays shut whatever the rate."""
    pol = _loose(4)
    g = pol.ctx
    g.ghost = bytearray(32)  # (a fresh policy holds no page yet)
    g.gate_mark, g.gate_hit = 1023, 1000
    g.ghost[10] = 2
    pol.gate_add(1, 0)
    assert (g.gate_mark, g.gate_hit, g.gate_epoch) == (512, 500, 1)
    assert pol.gate(10, 10, 1) and g.gate_hit == 500 and g.ghost[10] == 0
    g.ghost[11], g.ghost[12], g.ghost[13] = 34, 34, 2
    assert pol.gate(11, 13, 1)
    assert (g.gate_mark, g.gate_hit) == (511, 501)
    assert bytes(g.ghost[10:14]) == bytes(4)
    g.gate_mark, g.gate_hit = 63, 63
    assert not pol.gate_open()
    g.gate_mark, g.gate_hit = 64, 37  # 8 x 37 x 6668 = 1,973,728 >= 64 x 30672 = 1,963,008
    assert pol.gate_open()
    g.gate_hit = 36
    assert not pol.gate_open()


def _shield64(gate: int) -> GuardedPolicy:
    cfg = OmegaConf.to_container(group_config("policy", "shield64", "policy"), resolve=False)
    assert isinstance(cfg, dict)
    cfg.update(sibling_window=16, sibling_stake=1, sibling_gate=gate)
    return make_policy(cfg)


@pytest.mark.parametrize("family", ["seq", "stride", "random", "tiled2d", "alloc_pool"])
def test_inert_with_one_process(family: str) -> None:
    """One process: no bit ahead of a fault, no mark, the gate never matters: shield64 with
    the gated window decides and costs exactly as shield64, in both layouts."""
    t = g.randomized(2000, 0, families=family)
    for cm in ("seed_table1", "host"):
        cost = make_costmodel(cm)
        for shared in (False, True):
            ref = simulate(t, make_policy("shield64"), cost, shared=shared)
            got = simulate(t, _shield64(4), cost, shared=shared)
            assert (got.faults, got.precopied, got.wasted) == (
                ref.faults, ref.precopied, ref.wasted)
            assert float(np.sum(got.fault_ns)) == float(np.sum(ref.fault_ns))


def _gate_traces() -> list[Trace]:
    """forked_workers traces (repeating and half-repeating siblings) and a hand trace."""
    traces = [g.forked_workers(n_pages=1024, children=c, overlap=o, order=order, chunk=32,
                               seed=c)
              for c, o, order in ((2, 0.9, "sequential"), (4, 0.95, "runs"),
                                  (3, 0.2, "random"), (5, 0.6, "sequential"))]
    return [*traces, _forked(list(range(256)), list(range(256)))]


@pytest.mark.parametrize("gate", [1, 4, 7])
def test_compiled_decides_as_the_prototype(gate: int) -> None:
    """forked_workers traces (repeating and half-repeating siblings) and the hand traces:
    the compiled program equals the prototype fault for fault."""
    for cm in ("seed_table1", "host"):
        cost = make_costmodel(cm)
        for t in _gate_traces():
            for pol in (_shield64(gate), _loose(gate)):
                pol = pol.deployed_under(cost)
                assert_compiled_equals_prototype(t, pol, cost)


def test_the_module_table_carries_it(cguarded) -> None:  # noqa: ANN001
    """The kernel program and the module's table carry the gate (ABI 16: sibling_window,
    sibling_stake, sibling_gate the u8s at 768, 769, 770, then 5 pad bytes); the module's
    check takes it and refuses a bad byte there (-EINVAL, -22); bad values one line each."""
    import struct

    pol = _loose(4)
    payload = pack_guarded(pol.kernel_program())
    assert struct.unpack_from("<8B", payload, 768) == (8, 1, 4, 0, 0, 0, 0, 0)
    assert cguarded.check(payload) == 0

    def patched(off: int, value: int) -> bytes:
        out = bytearray(payload)
        out[off] = value
        return bytes(out)

    # W <= 64; stake 0..2; gate 0..7; a gate needs a stake, a stake a window; the pad 0
    # (771 is sentinel_salt since ABI 19: 0..1)
    for off, value in ((768, 65), (769, 3), (770, 8), (769, 0), (771, 2), (772, 1), (775, 1)):
        assert cguarded.check(patched(off, value)) == -22, (off, value)
    assert cguarded.check(patched(768, 64)) == 0
    nowin = bytearray(payload)
    nowin[768] = 0
    assert cguarded.check(bytes(nowin)) == -22  # a stake without a window
    with pytest.raises(ConfigError, match="^policy.sibling_gate must be an integer in 0..7, "
                                          "got 8$"):
        _loose(8)
    with pytest.raises(ConfigError, match="^policy.sibling_gate needs sibling_stake: 1 or 2"):
        GuardedPolicy(table=[0] * N_CELLS, proof=1, sibling_window=8, sibling_gate=4)
    assert pol.program().table["sibling_gate"] == 4
    assert "sibling_gate" not in _loose(0).program().table


def test_a_kernel_run_past_the_family_cap_is_refused_first(tmp_path: Path) -> None:
    """The module keeps a family byte per page of the registered range, at most 2^22 pages
    (COWRL_FAMILY_MAX_PAGES; REGISTER and SET_POLICY return -E2BIG past it): the job writer
    refuses a sibling_window run whose harness range is longer with one line, before any
    boot, and writes one at the cap, and a run without the option past it."""
    from cowrl.errors import CowrlError
    from cowrl.kernel.jobs import FAMILY_MAX_PAGES, RunRequest, write_job

    assert FAMILY_MAX_PAGES == 1 << 22
    long = Trace(np.array([0, 1]), FAMILY_MAX_PAGES + 1, name="long")
    with pytest.raises(CowrlError, match=r"^policy 'guarded': sibling_window needs a range of "
                                         r"at most 4194304 pages \(the module's family bytes\), "
                                         r"trace 'long' spans 4194305$"):
        write_job(tmp_path / "a", [RunRequest(long, _loose(4))], "child", {})
    cap = Trace(np.array([0, 1]), FAMILY_MAX_PAGES, name="cap")
    assert len(write_job(tmp_path / "b", [RunRequest(cap, _loose(4))], "child", {})) == 1
    plain = GuardedPolicy(table=[0] * N_CELLS, proof=1)  # no sibling_window: no family bytes
    assert len(write_job(tmp_path / "c", [RunRequest(long, plain)], "child", {})) == 1


@pytest.fixture(scope="module")
def cguarded(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from cowrl.kernel.table import CGuarded

    return CGuarded(tmp_path_factory.mktemp("cguarded_gate"))


@pytest.mark.parametrize("gate", [1, 4, 7])
def test_the_module_header_decides_as_the_compiled_program(cguarded, gate: int) -> None:  # noqa: ANN001
    """cowrl_guarded.h (its family bytes, the gate's counters, the ghost marks, the sibling
    window's ring entries and stakes), replayed in user space with the harness's one-address
    slots, decides as the compiled program (the one-address layout) fault for fault: fault
    pages and degrees, the walks' skipped pages, and the pages copied (adjacent and sibling
    windows) on the forked traces of test_compiled_decides_as_the_prototype, under both cost
    models; and the gate is not vacuous there: some sibling window copies, and the ungated
    window decides otherwise on some trace."""
    from cowrl.kernel.jobs import harness_slots

    sib = differ = opened = sib_ns = 0
    for cm in ("seed_table1", "host"):
        cost = make_costmodel(cm)
        for t in _gate_traces():
            slots = harness_slots(t, shared=True)
            for mk in (_shield64, _loose):
                pol = mk(gate).deployed_under(cost)
                r, ev = simulate(t, pol, cost, record_events=True, shared=True)
                page, k = cguarded.replay(pack_guarded(pol.kernel_program()), t.pages,
                                          t.n_pages, t.region_ends, t.region_vpn_offsets,
                                          t.region_writers, slots=slots)
                assert np.array_equal(page, ev.page) and np.array_equal(k, ev.k), t.name
                assert cguarded.last_skips == int(ev.skipped.sum()), t.name
                assert cguarded.last_copied == r.precopied, t.name
                # ABI 17: the decision tallies counted alike (the gate's verdicts included);
                # ABI 18: the budget's flow too, the sibling stakes in it (budget = flow)
                assert cguarded.last_tallies == ev.tallies, t.name
                assert ev.tallies["gate_open"] + ev.tallies["gate_shut"] > 0, t.name
                added, spent = budget_flow(ev.tallies)
                assert ev.tallies["budget_ns"] == added - spent, (t.name, ev.tallies)
                sib_ns += ev.tallies["spend_sib_ns"]
                sib += cguarded.last_sib
                opened += cguarded.last_gate[0] >= 64
                _, ev0 = simulate(t, mk(0).deployed_under(cost), cost, record_events=True,
                                  shared=True)
                differ += not np.array_equal(ev0.k, ev.k) or ev0.page.size != ev.page.size
    assert sib > 0 and opened > 0 and differ > 0 and sib_ns > 0, (sib, opened, differ, sib_ns)


@pytest.mark.parametrize(("args", "msg"), [
    (["--gate", "9"], "error: policy.sibling_gate must be an integer in 0..7, got 9"),
    (["--first-seed", "5"], "error: --first-seed: a development seed >= 2000, got 5"),
])
def test_the_script_refuses_bad_options(args: list[str], msg: str) -> None:
    """experiments/sibling_window.py: a bad --gate or --first-seed, one line, before any run."""
    root = Path(__file__).resolve().parent.parent
    r = subprocess.run([sys.executable, str(root / "experiments" / "sibling_window.py"), *args],
                       capture_output=True, text=True, cwd=root, timeout=300)
    assert r.returncode == 2
    assert r.stderr.strip() == msg

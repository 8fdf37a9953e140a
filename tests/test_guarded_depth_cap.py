"""``guarded``'s ``depth_cap`` (a simulator study, session 41, docs/results/depth-cap-s41.md): a
window stops before the shallowest depth bucket whose copies were proven at an EWMA rate below
the budget's break-even precision. Hand-computed thresholds and EWMA steps fix the cap; the
compiled program decides as the prototype; the loss stays within the allowances; off (the
default) leaves the program as it was; the module's table export, the kernel target and the
learner refuse it."""

from __future__ import annotations

import numpy as np
import pytest
from test_guarded_program import (
    _compiled_equals_and_option_matters,
    _compiled_equals_prototype,
)
from test_guarded_proof import _bound_traces, _excess

from cowrl.errors import ConfigError
from cowrl.policies.guarded import (
    DEPTH_ONE,
    N_CELLS,
    STREAM,
    Cell,
    GuardedPolicy,
    depth_bucket,
    learn_table,
    shipped_options,
)
from cowrl.registry import make_costmodel
from cowrl.sim import programs as P
from cowrl.traces import generators as g
from cowrl.traces.io import Trace


def test_depth_buckets_by_hand() -> None:
    """Position j in the window -> bucket min(floor(log2 j), 6): 1 | 2-3 | 4-7 | 8-15 | 16-31 |
    32-63 | 64+; the compiled form agrees."""
    want = {1: 0, 2: 1, 3: 1, 4: 2, 7: 2, 8: 3, 15: 3, 16: 4, 31: 4, 32: 5, 63: 5, 64: 6,
            200: 6}
    assert {j: depth_bucket(j) for j in want} == want
    assert all(P.g_depth_bucket(j) == depth_bucket(j) for j in range(1, 300))


def _pol(cm: str = "seed_table1") -> GuardedPolicy:
    pol = GuardedPolicy.for_cost(make_costmodel(cm), table=[64] * N_CELLS, depth_cap=1,
                                 **shipped_options("guarded"))
    pol.reset(256)
    pol.budget = 10 ** 12  # every window fits: only the cap decides
    return pol


def _k(pol: GuardedPolicy, cls: int = STREAM, stride: int = 0) -> int:
    pol.ctx.win_stride = stride
    return pol.degree(Cell(0, cls, 0, 0), 10, 256, want=64)[0]


@pytest.mark.parametrize(("cm", "gain", "loss", "x0"),
                         [("seed_table1", 3316, 26484, 3641), ("host", 335, 5685, 3869)])
def test_the_cap_by_hand(cm: str, gain: int, loss: int, x0: int) -> None:
    """The budget's prices (for_cost, shipped options): break-even precision loss / (gain +
    loss) = 26484 / 29800 = 0.8887 (seed_table1), 5685 / 6020 = 0.9444 (host); in DEPTH_ONE =
    4096 units a bucket passes from x0 = ceil(4096 x loss / (gain + loss)) = 3641 / 3869. With
    every bucket at 4096 nothing is capped (k = 64). Bucket 3 (8-15) at x0 - 1: k = 7, and it
    relaxes by (4096 - (x0 - 1)) >> 8 = 1 (seed_table1: 456 >> 8; host: 228 >> 8 = 0); at x0:
    k = 64. Bucket 1 (2-3) failing: k = 1. Bucket 0 (depth 1) failing alone: no cap. Each row
    is its own: the stream row capped does not cap an OTHER fault's window (row 2), nor a
    strided stream window (row 1)."""
    pol = _pol(cm)
    assert (pol.gain, pol.loss) == (gain, loss)
    d = pol.ctx.depth
    assert d == [[DEPTH_ONE] * 7 for _ in range(4)]
    assert _k(pol) == 64
    d[0][3] = x0 - 1
    assert _k(pol) == 7
    assert d[0][3] == x0 - 1 + ((DEPTH_ONE - (x0 - 1)) >> 8)
    assert pol.ctx.depth_capped == 1
    d[0][3] = x0
    assert _k(pol) == 64
    d[0][1] = 0
    assert _k(pol) == 1
    assert _k(pol, cls=1) == 64
    assert _k(pol, stride=2) == 64
    d[0][1] = DEPTH_ONE
    d[0][0] = 0
    assert _k(pol) == 64
    # the compiled form's limit reads the same integers (row 0 of its state)
    prog = pol.program()
    cells = P.guarded_cells(prog.table)
    ss = P.new_stream_state()
    ss[P._GDEPTH:P._GDEPTH + 28] = np.asarray(sum(d, []))
    assert P.g_depth_limit(cells, ss, 0) == 64
    ss[P._GDEPTH + 3] = x0 - 1
    assert P.g_depth_limit(cells, ss, 0) == 7
    ss[P._GDEPTH + 3] = x0
    assert P.g_depth_limit(cells, ss, 0) == 64


def test_outcomes_move_their_row_and_bucket_by_hand() -> None:
    """An entry of depth bucket 3 of a stream window (proof_depth 4): two misses, 4096 ->
    3840 -> 3600, then a proof: 3600 + (496 >> 4) = 3631. A strided OTHER window's entry of
    bucket 0 (proof_depth 1 + 8) moves row 3. An entry with proof_depth 0 (a page below or a
    sibling's, or counted already) moves nothing."""
    c = _pol().ctx
    c.proof_cls[5], c.proof_depth[5] = 0, 4
    c.depth_outcome(5, False)
    c.depth_outcome(5, False)
    assert c.depth[0][3] == 3600
    c.depth_outcome(5, True)
    assert c.depth[0][3] == 3631
    c.proof_cls[6], c.proof_depth[6] = 1, 9
    c.depth_outcome(6, False)
    assert c.depth[3][0] == 3840
    c.proof_depth[7] = 0
    before = [r[:] for r in c.depth]
    c.depth_outcome(7, False)
    assert c.depth == before


def _blocks(block: int, gap: int, n: int = 2048) -> Trace:
    return g.block_stride(n_pages=n, block=block, gap=gap)


def test_the_first_cap_falls_on_the_fault_the_reads_predict() -> None:
    """Blocks of 2 pages with gaps of 6 (0-1, 8-9, ..), a table of 2s, adjacent windows, the
    shipped proof options (8 reads a fault, ttl 16, backoff) and an allowance of 5 demand
    faults at every fault (every window of 2 fits). The window at a block's first page p
    copies p + 1 (depth 1, written) and p + 2 (depth 2: bucket 1, a gap page, never written).
    The gap page of the window at fault 0 is read unwritten at faults 1, 3, 7, 15 and 31
    (backoff: 1, 2, 4, 8, 16 faults apart): its 5th unproven read, at fault 31, is the first
    miss, 4096 -> 3840, still above seed_table1's break-even 3641; the gap page of fault 1's
    window misses at fault 32: 3600 < 3641. So faults 0..32 decide as without the option (k =
    2), and fault 33 is the first capped one: k = 1.
    Off, no window of 1 ever."""
    t = _blocks(2, 6, 4096)
    cost = make_costmodel("seed_table1")
    opts = {**shipped_options("guarded"), "budget_per_mille": 5000, "grant_left": 0,
            "stride_window": 0, "stride_ns": 0}
    on = GuardedPolicy.for_cost(cost, table=[2] * N_CELLS, depth_cap=1, **opts)
    off = GuardedPolicy.for_cost(cost, table=[2] * N_CELLS, **opts)
    r_on, ev_on = _compiled_equals_prototype(t, on, cost)
    r_off, ev_off = _compiled_equals_prototype(t, off, cost)
    k_on, k_off = [int(k) for k in ev_on.k], [int(k) for k in ev_off.k]
    assert 1 not in k_off
    assert k_on[:33] == k_off[:33] and k_on[:33].count(2) == 33
    assert k_on[33] == 1 and k_on.index(1) == 33
    assert r_on.wasted < r_off.wasted


def _policies() -> list[GuardedPolicy]:
    cost = make_costmodel("host")
    rand = [int(k) for k in np.random.default_rng(0).choice([0, 1, 2, 4, 8, 16, 32, 64],
                                                            size=N_CELLS)]
    return [
        # shield64 as the study runs it (strided windows on), and with adjacent windows
        GuardedPolicy.for_cost(cost, table=[64] * N_CELLS, depth_cap=1,
                               **shipped_options("guarded")),
        GuardedPolicy.for_cost(cost, table=[64] * N_CELLS, depth_cap=1,
                               **shipped_options("guarded_adjacent")),
        # loose budgets: a random table with proofs (ttl 3: misses by expiry) and a skip price
        GuardedPolicy(table=rand, budget_per_mille=1000, skip_ns=300, setup_ns=900,
                      grant_left=0, proof=1, proof_reads=8, proof_ttl=3, depth_cap=1),
        GuardedPolicy(table=rand, budget_per_mille=300, skip_ns=300, setup_ns=900,
                      grant_left=1, scan=8, merge=True, protect=True, slots=2, near=5,
                      proof=1, proof_backoff=1, depth_cap=1)]


@pytest.mark.parametrize("pi", range(4))
def test_compiled_decides_as_the_prototype(pi: int) -> None:
    """On every trace of test_guarded_program (multi-region, pools at recorded addresses),
    fault for fault, and the option changes decisions somewhere."""
    _compiled_equals_and_option_matters(_policies()[pi], depth_cap=0)


@pytest.mark.parametrize("pi", range(4))
def test_compiled_decides_as_the_prototype_on_blocks(pi: int) -> None:
    """... and on block traces (runs of 8 with gaps of 4, 8 with 8, 4 with 4, 16 with 8)."""
    cost = make_costmodel("seed_table1")
    for b, gap in ((8, 4), (8, 8), (4, 4), (16, 8)):
        _compiled_equals_prototype(_blocks(b, gap), _policies()[pi], cost)


@pytest.mark.parametrize("cm", ["seed_table1", "host"])
def test_the_loss_stays_within_the_allowances(cm: str) -> None:
    """The cap only lowers the degree asked of the budget: the loss over k = 0 stays within
    the allowances granted (test_guarded_proof's bound), a table of 64s and of 1s, with the
    shipped proof options and with misses by expiry (ttl 3)."""
    for t in [*_bound_traces(), _blocks(8, 4)]:
        for k in (64, 1):
            for opts in ({"proof_ttl": 16, "proof_backoff": 1, "read_credit": 1,
                          "proof_look": 1, "proof_span": 1},
                         {"proof_ttl": 3, "grant_left": 0}):
                excess, granted = _excess(t, [k] * N_CELLS, cm, proof=1, depth_cap=1, **opts)
                assert excess <= granted + t.n_pages, (t.name, k, opts)


def test_the_learner_refuses_it() -> None:
    t = Trace(pages=np.arange(64), n_pages=64, name="seq64")
    with pytest.raises(ConfigError, match="policy.depth_cap"):
        learn_table([t], [make_costmodel("host")], passes=1, proof=1, proof_ttl=16,
                    depth_cap=1)


@pytest.mark.parametrize(("kw", "field"), [
    ({"depth_cap": 2, "proof": 1, "proof_ttl": 16}, "policy.depth_cap must be"),
    ({"depth_cap": True, "proof": 1, "proof_ttl": 16}, "policy.depth_cap must be"),
    ({"depth_cap": 0.5, "proof": 1, "proof_ttl": 16}, "policy.depth_cap must be"),
    ({"depth_cap": 1}, "policy.depth_cap: 1 needs proof"),
    ({"depth_cap": 1, "proof": 1}, "policy.depth_cap: 1 needs proof"),
])
def test_bad_values_name_the_field(kw: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        GuardedPolicy(**kw)


def test_the_experiment_script_runs_and_refuses_bad_sizes() -> None:
    """experiments/depth_cap_blocks.py (the doc's block-trace and diagnosis figures): its
    run_cap question on a small b8 g4, and a one-line error for a bad size."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    script = str(root / "experiments" / "depth_cap_blocks.py")
    out = subprocess.run([sys.executable, script, "runcap", "--n-pages", "256"], cwd=root,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("near continuations") == 2
    out = subprocess.run([sys.executable, script, "blocks", "--n-pages", "8"], cwd=root,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        "error: --n-pages: at least 64, got 8"], out.stderr

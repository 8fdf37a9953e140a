"""The module's C decision code (kernel_module/cowrl_policy.h) against the Python policies.

A fault stream recorded by the simulator (record_events=True) under the Python
policy is replayed through the C code compiled for user space; the C decisions
must equal the recorded ones, fault for fault.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from cowrl.kernel.table import CPolicy, pack_table
from cowrl.policies.context import N_CELLS, STATE_BYTES, TABLE_BYTES
from cowrl.policies.readahead import Readahead
from cowrl.policies.table import TablePolicy
from cowrl.registry import make_costmodel, make_workload
from cowrl.sim.simulator import simulate
from cowrl.traces.io import Trace

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")

WORKLOADS = ["seq", "reverse", "stride", "random", "zipf", "interleaved", "phased", "sparse",
             "heldout_stride8", "heldout_interleaved3", "heldout_phased256"]


@pytest.fixture(scope="module")
def cpolicy(tmp_path_factory: pytest.TempPathFactory) -> CPolicy:
    return CPolicy(tmp_path_factory.mktemp("cpolicy"))


def _policies() -> list:
    rng = np.random.default_rng(7)
    degrees = np.array([0, 1, 2, 4, 8, 16, 32, 64])
    return [
        # Random tables reach every cell and every degree; small `near`/`slots` hit edge cases.
        TablePolicy(rng.choice(degrees, N_CELLS).tolist(), name="random_table"),
        TablePolicy(rng.choice(degrees, N_CELLS).tolist(), context={"slots": 1, "near": 3}),
        TablePolicy(rng.choice(degrees, N_CELLS).tolist(), context={"slots": 16, "near": 64}),
        Readahead(),
        Readahead(max_k=8, context={"slots": 2, "near": 4}),
    ]


def test_layouts_match_python(cpolicy: CPolicy) -> None:
    # CPolicy asserts sizeof(state) and sizeof(table) at load; the payload packs to the table.
    assert len(pack_table(TablePolicy([0] * N_CELLS).kernel_program())) == TABLE_BYTES == 144
    assert STATE_BYTES == 448


def test_check_rejects_bad_tables(cpolicy: CPolicy) -> None:
    good = pack_table(TablePolicy([64] * N_CELLS).kernel_program())
    assert cpolicy.check(good) == 0
    bad_version = b"\x02" + good[1:]
    assert cpolicy.check(bad_version) == -22
    bad_k = good[:24] + (1000).to_bytes(2, "little") + good[26:]
    assert cpolicy.check(bad_k) == -22


@pytest.mark.parametrize("workload", WORKLOADS)
def test_c_decisions_equal_python(cpolicy: CPolicy, workload: str) -> None:
    cost = make_costmodel("seed_table1")
    trace = make_workload(workload, seed=3)
    for policy in _policies():
        rec, ev = simulate(trace, policy, cost, record_events=True)
        assert ev.k.size == rec.faults > 0
        payload = pack_table(policy.kernel_program())
        c_k, hist = cpolicy.replay_history(payload, ev.page, trace.n_pages)
        mismatch = np.flatnonzero(c_k != ev.k)
        assert mismatch.size == 0, (policy.name, workload, mismatch[:5])
        # The fault history in C equals the engine's context at every fault.
        assert np.array_equal(hist[:, 0], ev.run) and np.array_equal(hist[:, 1], ev.hit_rate_fp)


def _multi_region() -> list[Trace]:
    """Traces over several regions whose streams run into the next region: a sequential
    sweep over regions of 5, 3, 64, 2 and 950 pages, and two recorded corpus traces (where
    the module once precopied one page fewer than the simulator, docs/kernel.md)."""
    seq = Trace(np.arange(1024), 1024, name="seq_regions",
                region_sizes=np.array([5, 3, 64, 2, 950]))
    return [seq] + [make_workload(w) for w in ("cpython_prefork", "shell_subshells")]


def test_streams_stay_in_their_region() -> None:
    """A stream does not continue into the next region (its VMA lies elsewhere in a
    process: the replay harness puts a guard page between them): readahead restarts at 0
    at each region's first fault, and a table sees no stream there."""
    trace = _multi_region()[0]
    firsts = set(np.r_[0, trace.region_ends[:-1]].tolist())
    cost = make_costmodel("seed_table1")
    _, ev = simulate(trace, Readahead(), cost, record_events=True)
    at_first = np.isin(ev.page, list(firsts))
    assert at_first.sum() == len(firsts) and (ev.k[at_first] == 0).all()
    assert ev.k.max() == 64  # the streams do grow inside a region
    # A table of "k = 7 on an exact continuation, else 0": 0 at every region's first page.
    table = TablePolicy([7 if c // (N_CELLS // 3) == 1 else 0 for c in range(N_CELLS)])
    _, ev = simulate(trace, table, cost, record_events=True)
    assert (ev.k[np.isin(ev.page, list(firsts))] == 0).all() and (ev.k == 7).any()


def test_c_decisions_equal_python_multi_region(cpolicy: CPolicy) -> None:
    cost = make_costmodel("seed_table1")
    for trace in _multi_region():
        for policy in _policies():
            _, ev = simulate(trace, policy, cost, record_events=True)
            c_k = cpolicy.replay(pack_table(policy.kernel_program()), ev.page, trace.n_pages,
                                 trace.region_ends)
            mismatch = np.flatnonzero(c_k != ev.k)
            assert mismatch.size == 0, (policy.name, trace.name, mismatch[:5])


def test_trained_artifact_equivalence(cpolicy: CPolicy, tmp_path: Path, compose_cfg) -> None:
    from cowrl.policies.artifacts import load_policy
    from cowrl.training import train

    # the round-1 bandit's TABLE program (the shielded default is a GUARDED program:
    # tests/test_bandit_shield.py, tests/test_guarded_program.py)
    cfg = compose_cfg("train", ["policy=bandit_stream", "rounds=2",
                                "workloads=[seq,random,stride]",
                                f"out={tmp_path}", "latest_dir=null", "progress=false"])
    train(cfg)
    policy = load_policy(tmp_path)
    cost = make_costmodel("seed_table1")
    for w in ("seq", "stride", "phased"):
        trace = make_workload(w)
        rec, ev = simulate(trace, policy, cost, record_events=True)
        assert (cpolicy.replay(pack_table(policy.kernel_program()), ev.page, trace.n_pages)
                == ev.k).all()

"""A shielded PPO distilled into a guarded table (cowrl.policies.distill, experiments/distill.py):
the table is the per-cell majority of the network's proposals, it runs under the network's own
shield, round-trips as a guarded artifact and keeps the shield's bound."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from cowrl.errors import ConfigError
from cowrl.metrics import objective
from cowrl.policies.artifacts import load_policy, save_artifact
from cowrl.policies.distill import (
    agreement,
    distill,
    majority_table,
    proposal_counts,
    proposals,
    table_policy,
)
from cowrl.policies.guarded import N_CELLS, GuardedPolicy
from cowrl.registry import make_costmodel, make_policy
from cowrl.sim.simulator import simulate
from cowrl.traces import generators as g
from cowrl.traces.io import Trace

ROOT = Path(__file__).resolve().parent.parent
DEGREES = [0, 1, 2, 4, 8, 16, 32, 64]


@pytest.fixture(scope="module")
def ppo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny shielded PPO (as tests/test_train.py trains one): its policy.json."""
    from cowrl.evaluate import register_configs
    from cowrl.training import train

    out = tmp_path_factory.mktemp("ppo")
    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", ["policy=ppo", "timesteps=256", "policy.kwargs.n_steps=128",
                                "policy.kwargs.batch_size=64", "workloads=[seq,random,stride]",
                                "progress=false", f"out={out}", "latest_dir=null"])
    train(cfg)
    return out / "policy.json"


def _traces() -> list[Trace]:
    return [g.sequential(n_pages=1024), g.stride(n_pages=1024, stride=3, writes=512),
            g.interleaved(n_pages=1024, streams=3, seed=1),
            g.uniform(n_pages=1024, writes=1024, seed=2)]


def test_majority_ties_take_the_smaller_k_and_unvisited_cells_are_0() -> None:
    counts = np.zeros((N_CELLS, len(DEGREES)), dtype=np.int64)
    counts[3, DEGREES.index(64)] = counts[3, DEGREES.index(2)] = 5  # tie: 2
    counts[3, DEGREES.index(0)] = 4
    counts[7, DEGREES.index(16)] = 1
    counts[9, DEGREES.index(0)] = 2
    counts[9, DEGREES.index(8)] = 1
    table = majority_table(counts, DEGREES)
    assert table[3] == 2 and table[7] == 16 and table[9] == 0
    assert [k for c, k in enumerate(table) if c not in (3, 7, 9)] == [0] * (N_CELLS - 3)
    # the degrees in another order: the same table
    perm = [6, 1, 0, 7, 3, 2, 5, 4]
    assert majority_table(counts[:, perm], [DEGREES[i] for i in perm]) == table
    props = [np.array([[3, 2, 1], [3, 64, 0], [7, 16, 0], [9, 0, 1]]), np.array([[9, 8, 1]])]
    assert agreement(table, props) == pytest.approx(3 / 5)
    assert agreement(table, props, open_only=True) == pytest.approx(2 / 3)
    counted = proposal_counts(props, DEGREES)
    assert counted[3].tolist() == [0, 0, 1, 0, 0, 0, 0, 1] and counted.sum() == 5
    assert majority_table(counted, DEGREES)[:10] == [0, 0, 0, 2, 0, 0, 0, 16, 0, 0]
    opened = proposal_counts(props, DEGREES, open_only=True)
    assert opened.sum() == 3 and opened[7].sum() == 0
    # cell 7 never open: its majority over all faults; 9: tie 0 / 8 -> 0; no fault: 0
    assert majority_table(opened, DEGREES, fallback=counted)[:10] == [0, 0, 0, 2, 0, 0, 0, 16,
                                                                      0, 0]
    assert majority_table(opened, DEGREES)[7] == 0


def test_the_table_is_the_majority_of_the_proposals_counted_apart(ppo: Path,
                                                                   monkeypatch) -> None:
    """The table against a count made independently of GuardView's record: the cell from every
    call of GuardedPolicy.fault_cell, the proposal from every call of the network's predict
    (the shield has not seen it yet)."""
    net = load_policy(ppo)
    cost = make_costmodel("seed_table1")
    seen: list[tuple[str, int]] = []
    fault_cell, predict = GuardedPolicy.fault_cell, net.model.predict

    def cell_spy(self: GuardedPolicy, ctx: object) -> object:
        c = fault_cell(self, ctx)
        seen.append(("cell", c.cell))
        return c

    def predict_spy(obs: object, deterministic: bool = False) -> object:
        a, s = predict(obs, deterministic=deterministic)
        seen.append(("k", DEGREES[int(a)]))
        return a, s

    monkeypatch.setattr(GuardedPolicy, "fault_cell", cell_spy)
    monkeypatch.setattr(net.model, "predict", predict_spy)
    res = distill(net, _traces(), cost, faults="every")
    monkeypatch.undo()
    assert [w for w, _ in seen] == ["cell", "k"] * res.faults  # one of each per fault
    pairs = list(zip([v for _, v in seen[0::2]], [v for _, v in seen[1::2]], strict=True))
    assert len(pairs) == res.faults > 1000
    by_cell: dict[int, Counter[int]] = {}
    for cell, k in pairs:
        by_cell.setdefault(cell, Counter())[k] += 1
    want = [0] * N_CELLS
    for cell, cnt in by_cell.items():
        want[cell] = max(cnt, key=lambda k: (cnt[k], -k))
    assert res.policy.table == want
    assert 0 < len(by_cell) < N_CELLS and any(want)  # some cells unvisited, some k > 0
    assert all(want[c] == 0 for c in range(N_CELLS) if c not in by_cell)
    assert res.agreement == pytest.approx(sum(want[c] == k for c, k in pairs) / len(pairs))
    # the proposals, not the shield's decisions: those differ (the shield caps them)
    applied = [int(k) for t in _traces()
               for k in simulate(t, net.deployed_under(cost), cost, record_events=True)[1].k]
    assert len(applied) == len(pairs) and applied != [k for _, k in pairs]
    # faults="open" (the default): the majority of the faults where the shield was open, a
    # cell never open its majority over all its faults; where it was closed, k = 0 whatever
    # the network proposed
    props = np.concatenate(proposals(net, _traces(), cost))
    assert [(int(c), int(k)) for c, k, _ in props] == pairs
    flags = props[:, 2].tolist()
    assert 0 < sum(flags) < len(flags)
    assert all(k == 0 for k, f in zip(applied, flags, strict=True) if not f)
    by_open: dict[int, Counter[int]] = {}
    for (cell, k), f in zip(pairs, flags, strict=True):
        if f:
            by_open.setdefault(cell, Counter())[k] += 1
    want_open = [max(by_open[c], key=lambda k: (by_open[c][k], -k)) if c in by_open
                 else want[c] for c in range(N_CELLS)]
    res_open = distill(net, _traces(), cost)
    assert res_open.policy.table == want_open
    assert res_open.open_agreement == pytest.approx(
        sum(want_open[c] == k for (c, k), f in zip(pairs, flags, strict=True) if f)
        / sum(flags))


def test_the_table_runs_under_the_networks_shield_and_round_trips(ppo: Path,
                                                                  tmp_path: Path) -> None:
    net = load_policy(ppo)
    st1, host = make_costmodel("seed_table1"), make_costmodel("host")
    res = distill(net, _traces()[:2], st1, name="ppo_table")
    pol = res.policy
    assert pol.name == "ppo_table" and pol.budget_spec is not None  # costmodel: auto
    for cost in (st1, host):  # the same shield as the network's, re-priced alike
        shield = net.deployed_under(cost).view.guard
        dep = pol.deployed_under(cost)
        assert dep.table == pol.table
        mine, its = dep.program().table, shield.program().table
        assert {**its, "cells": mine["cells"]} == mine and mine["cells"] == pol.table
    path = save_artifact(tmp_path / "policy.json", pol.name, "guarded", pol.artifact_spec(), {})
    back = load_policy(path)
    assert back.name == "ppo_table" and back.table == pol.table
    assert back.kernel_program().mode == "table"  # a kernel form (not inert under st1)
    for cost in (st1, host):
        for t in _traces():
            _, e0 = simulate(t, pol, cost, record_events=True)
            _, e1 = simulate(t, back, cost, record_events=True)
            assert e0.k.tolist() == e1.k.tolist()
    # an unshielded or non-network policy has nothing to distil
    with pytest.raises(ConfigError, match="not a PPO/DQN"):
        distill(make_policy("guarded"), _traces()[:1], st1)
    net.shield = False
    with pytest.raises(ConfigError, match="without the shield"):
        table_policy(net, pol.table, "x")


@pytest.mark.parametrize("cm", ["seed_table1", "host"])
def test_the_distilled_table_keeps_the_shields_bound(ppo: Path, cm: str) -> None:
    """Its loss over the same program with a table of zeros stays within the allowances
    granted (tests/test_guarded_proof.py's bound), on writers that fool a sentinel."""
    net = load_policy(ppo)
    cost = make_costmodel(cm)
    res = distill(net, _traces(), make_costmodel("seed_table1"))
    pol = res.policy.deployed_under(cost)
    zeros = table_policy(net, [0] * N_CELLS, "zeros").deployed_under(cost)
    ts = [g.stride(n_pages=4096, stride=2, writes=2048),
          g.dense_chunks(n_pages=4096, chunk=64, coverage=0.5, seed=3),
          g.uniform(n_pages=4096, writes=4096, seed=1), g.sequential(n_pages=4096),
          *(g.randomized(seed=s, draw=0, families=f) for s in (0, 1)
            for f in ("multi_stream", "mixture"))]
    copied = 0
    for t in ts:
        rec = simulate(t, pol, cost, fast=False)
        run = objective(rec, 1.0, cost.page_cost_ns)
        base = objective(simulate(t, zeros, cost), 1.0, cost.page_cost_ns)
        assert run - base <= pol.granted + t.n_pages, (t.name, run - base, pol.granted)
        copied += rec.precopied
    assert copied > 0  # it does open windows: the bound is exercised


def test_the_script_refuses_a_missing_or_non_network_checkpoint(tmp_path: Path) -> None:
    guarded = make_policy("guarded")
    art = save_artifact(tmp_path / "g" / "policy.json", "guarded", "guarded",
                        guarded.artifact_spec(), {})
    for ckpt, want in ((tmp_path / "none.json", f"no policy artifact at {tmp_path}/none.json"),
                       (art, f"{art} holds a 'guarded' policy, not a PPO/DQN")):
        out = subprocess.run([sys.executable, str(ROOT / "experiments" / "distill.py"),
                              "--checkpoint", str(ckpt), "--out", str(tmp_path / "o")],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
        lines = out.stderr.strip().splitlines()
        assert out.returncode == 2 and len(lines) == 1 and want in lines[0], out.stderr

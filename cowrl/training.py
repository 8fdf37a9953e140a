"""``train(cfg) -> dict``: train one policy in the simulator and write its artifact.

Called by ``train.py`` (Hydra) and directly by tests. Reads top to bottom:

1. check the config and seed everything from ``cfg.seed``;
2. build the policy from ``cfg.policy`` and the cost model;
3. resume from ``DIR/checkpoint.json`` when ``resume`` is on and it exists;
4. bandits: ``rounds`` passes over the training workloads, each workload drawn
   with a fresh seed per round, one learning episode each; every
   ``eval_every`` rounds the frozen greedy table is scored on the same
   workloads at ``cfg.seed`` (the learning curve); a checkpoint after every
   round. stable-baselines3 policies: ``cowrl.policies.sb3.train_sb3``;
5. write ``DIR/policy.json``, ``DIR/curve.csv``, TensorBoard events in
   ``DIR/tb`` and point ``<latest_dir>/<name>.json`` at the artifact.
"""

from __future__ import annotations

import csv
import logging
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from cowrl.errors import ConfigError
from cowrl.metrics import geomean, objective
from cowrl.policies.artifacts import (
    ARTIFACT_NAME,
    read_artifact,
    save_artifact,
    set_latest,
    write_json_atomic,
)
from cowrl.policies.bandits import BanditPolicy
from cowrl.policies.base import Policy
from cowrl.policies.sb3 import SB3Trainer, train_sb3
from cowrl.policies.static import Baseline
from cowrl.registry import make_costmodel, make_policy, make_workload
from cowrl.sim.costmodel import CostModel
from cowrl.sim.simulator import simulate
from cowrl.traces.io import Trace

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.json"
CURVE = "curve.csv"


def _int_field(cfg: DictConfig, key: str, minimum: int) -> int:
    v = cfg.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise ConfigError(f"{key} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def _out_dir(cfg: DictConfig) -> Path:
    if cfg.get("out"):
        return Path(str(cfg.out))
    try:
        from hydra.core.hydra_config import HydraConfig

        return Path(HydraConfig.get().runtime.output_dir)
    except ValueError:
        return Path("outputs/train")


def _workload_params(cfg: DictConfig) -> dict[str, dict[str, Any]]:
    """Per-workload generator overrides (``workload_params.rand0.exclude=seq``), as in eval."""
    params = cfg.get("workload_params") or {}
    if isinstance(params, DictConfig):
        params = OmegaConf.to_container(params, resolve=True)
    return {str(k): dict(v) for k, v in params.items()}


def workload_seed(seed: int, round_: int) -> int:
    """The seed of every training workload in round ``round_`` (one place, written out)."""
    return seed * 1_000_003 + 7919 * (round_ + 1)


def score(policy: Policy, traces: list[Trace], cost: CostModel, lam: float
          ) -> dict[str, float]:
    """objective / baseline objective per workload (lower is better), in simulation."""
    out = {}
    for t in traces:
        base = objective(simulate(t, Baseline(), cost), lam, cost.page_cost_ns)
        out[t.name] = objective(simulate(t, policy, cost), lam, cost.page_cost_ns) / base
    return out


def build_policy(cfg: DictConfig) -> Policy:
    pcfg = OmegaConf.create(OmegaConf.to_container(cfg.policy, resolve=True))
    if "learner" in pcfg and isinstance(pcfg.learner, DictConfig):
        pcfg.learner.seed = int(cfg.seed)
    return make_policy(pcfg, lam=float(cfg["lambda"]))


def train(cfg: DictConfig) -> dict[str, Any]:
    """Train ``cfg.policy``; return the artifact path, the learning curve and final scores."""
    seed = _int_field(cfg, "seed", 0)
    rounds = _int_field(cfg, "rounds", 1)
    eval_every = _int_field(cfg, "eval_every", 1)
    lam = float(cfg["lambda"])
    if lam < 0:
        raise ConfigError(f"lambda must be >= 0, got {lam}")
    names = [str(w) for w in (cfg.get("workloads") or [])]
    if not names:
        raise ConfigError("workloads: give at least one training workload")
    latest_dir = cfg.get("latest_dir")
    out = _out_dir(cfg)
    out.mkdir(parents=True, exist_ok=True)
    cost = make_costmodel(cfg.costmodel)
    policy = build_policy(cfg)
    name = str(cfg.policy.get("name", policy.name))
    config = OmegaConf.to_container(cfg, resolve=True)
    params = _workload_params(cfg)
    eval_traces = [make_workload(n, seed=seed, **params.get(n, {})) for n in names]

    if isinstance(policy, BanditPolicy):
        result = _train_bandit(cfg, policy, names, eval_traces, cost, lam, seed, rounds,
                               eval_every, out, config)
    elif isinstance(policy, SB3Trainer):
        result = train_sb3(cfg, policy, names, eval_traces, cost, lam, seed, out, config)
    else:  # not learned (readahead, static): the artifact records the config
        result = _save_fixed(policy, name, eval_traces, cost, lam, out, config)
    if latest_dir:
        set_latest(latest_dir, name, Path(result["artifact"]))
    log.info("policy artifact: %s", result["artifact"])
    return result


def _save_fixed(policy: Policy, name: str, traces: list[Trace], cost: CostModel, lam: float,
                out: Path, config: dict[str, Any]) -> dict[str, Any]:
    from cowrl.policies.readahead import Readahead

    if isinstance(policy, Readahead):
        kind, spec = "readahead", policy.artifact_spec()
    elif policy.static_k is not None:
        kind, spec = "static", {"k": int(policy.static_k)}
    else:
        raise ConfigError(f"policy {name!r} cannot be trained or saved as an artifact")
    scores = score(policy, traces, cost, lam)
    path = save_artifact(out / ARTIFACT_NAME, name, kind, spec, config,
                         training={"rounds": 0, "scores": scores, "geomean": geomean(
                             list(scores.values()))})
    return {"out": str(out), "artifact": str(path), "curve": [], "scores": scores}


def _bandit_artifact(policy: BanditPolicy, name: str, out: Path, file: str,
                     config: dict[str, Any], training: dict[str, Any]) -> Path:
    table = policy.freeze()
    learner = policy.learner
    return save_artifact(
        out / file, name, "table",
        {"table": table.table, "context": {"slots": policy.spec.slots,
                                           "near": policy.spec.near},
         "degrees": list(policy.degrees), "cells": table.describe()},
        config,
        learner={"class": type(learner).__name__, "params": learner.params(),
                 "state": learner.get_state()},
        training=training)


def _train_bandit(cfg: DictConfig, policy: BanditPolicy, names: list[str],
                  eval_traces: list[Trace], cost: CostModel, lam: float, seed: int,
                  rounds: int, eval_every: int, out: Path, config: dict[str, Any]
                  ) -> dict[str, Any]:
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    name = policy.name
    curve: list[dict[str, Any]] = []
    start, wall0 = 0, 0.0
    ckpt = out / CHECKPOINT
    if cfg.get("resume", True) and ckpt.is_file():
        art = read_artifact(ckpt)
        if art["name"] != name or art["learner"]["class"] != type(policy.learner).__name__:
            raise ConfigError(f"resume: {ckpt} holds {art['name']!r}, not {name!r}; "
                              "use another out= or resume=false")
        policy.learner.set_state(art["learner"]["state"])
        start = int(art["training"]["rounds"])
        curve = list(art["training"]["curve"])
        wall0 = float(art["training"].get("wall_s", 0.0))
        log.info("resumed %s from %s at round %d", name, ckpt, start)
    if start == 0:
        (out / CURVE).unlink(missing_ok=True)
    tb = SummaryWriter(str(out / "tb"))
    t0 = time.perf_counter() - wall0
    bar = tqdm(range(start, rounds), desc=f"train {name}", unit="round",
               disable=not cfg.get("progress", True), initial=start, total=rounds)
    for r in bar:
        ratios = {}
        for wname in names:
            trace = make_workload(wname, seed=workload_seed(seed, r),
                                  **_workload_params(cfg).get(wname, {}))
            base = objective(simulate(trace, Baseline(), cost), lam, cost.page_cost_ns)
            policy.begin_episode(trace, cost, lam)
            rec = simulate(trace, policy, cost)
            policy.end_episode()
            ratios[wname] = objective(rec, lam, cost.page_cost_ns) / base
        row: dict[str, Any] = {"round": r + 1, "train_geomean": geomean(list(ratios.values()))}
        row.update({f"train/{k}": v for k, v in ratios.items()})
        row["greedy_geomean"] = None
        row.update({f"greedy/{t.name}": None for t in eval_traces})
        if (r + 1) % eval_every == 0 or r + 1 == rounds:
            greedy = score(policy.freeze(), eval_traces, cost, lam)
            row["greedy_geomean"] = geomean(list(greedy.values()))
            row.update({f"greedy/{k}": v for k, v in greedy.items()})
        row["wall_s"] = time.perf_counter() - t0
        curve.append(row)
        _log_row(tb, out / CURVE, row)
        g = row["greedy_geomean"]
        bar.set_postfix(train=f"{row['train_geomean']:.3f}",
                        greedy="-" if g is None else f"{g:.3f}")
        training = {"rounds": r + 1, "seed": seed, "curve": curve, "wall_s": row["wall_s"]}
        _bandit_artifact(policy, name, out, CHECKPOINT, config, training)
    tb.close()
    final = score(policy.freeze(), eval_traces, cost, lam)
    training = {"rounds": rounds, "seed": seed, "curve": curve,
                "wall_s": time.perf_counter() - t0, "scores": final,
                "geomean": geomean(list(final.values())), "workloads": names,
                "costmodel": cost.name}
    path = _bandit_artifact(policy, name, out, ARTIFACT_NAME, config, training)
    write_json_atomic(out / "table.json", policy.freeze().describe())
    return {"out": str(out), "artifact": str(path), "curve": curve, "scores": final,
            "geomean": training["geomean"], "table": policy.freeze().table}


def _log_row(tb: Any, csv_path: Path, row: dict[str, Any]) -> None:
    step = int(row["round"])
    for k, v in row.items():
        if k != "round" and isinstance(v, float):
            tb.add_scalar(f"charts/{k}" if "/" not in k else k, v, step)
    new = not csv_path.is_file()
    with csv_path.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row), extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerow(row)

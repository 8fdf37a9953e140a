"""Bandit training: learning passes over the workloads in the simulator, a frozen table out.

Each round draws every training workload with a fresh seed
(:func:`~cowrl.training.core.workload_seed`) and replays it once with the
bandit learning (its rewards come from the engine's fault events); every
``eval_every`` rounds the frozen greedy table is scored at ``cfg.seed`` (the
learning curve). A checkpoint after every round makes ``resume`` exact.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from cowrl.errors import ConfigError
from cowrl.metrics import geomean, objective
from cowrl.policies.artifacts import (
    ARTIFACT_NAME,
    read_artifact,
    save_artifact,
    write_json_atomic,
    write_text_atomic,
)
from cowrl.policies.bandits import BanditPolicy
from cowrl.policies.static import Baseline
from cowrl.registry import make_workload
from cowrl.sim.costmodel import CostModel
from cowrl.sim.simulator import simulate
from cowrl.traces.io import Trace
from cowrl.training.core import (
    CHECKPOINT,
    CURVE,
    check_resume_config,
    int_field,
    score,
    workload_params,
    workload_seed,
)

log = logging.getLogger(__name__)


def _bandit_artifact(policy: BanditPolicy, name: str, out: Path, file: str,
                     config: dict[str, Any], training: dict[str, Any]) -> Path:
    table = policy.freeze()
    learner = policy.learner
    return save_artifact(
        out / file, name, table.artifact_kind or "table",
        {**table.artifact_spec(), "degrees": list(policy.degrees)},
        config,
        learner={"class": type(learner).__name__, "params": learner.params(),
                 "state": learner.get_state()},
        training=training)


def train_bandit(cfg: DictConfig, policy: BanditPolicy, names: list[str],
                 eval_traces: list[Trace], cost: CostModel, lam: float, seed: int, out: Path,
                 config: dict[str, Any]) -> dict[str, Any]:
    """``rounds`` learning passes over the workloads; the frozen greedy table is the artifact."""
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    rounds = int_field(cfg, "rounds", 1)
    eval_every = int_field(cfg, "eval_every", 1)
    name = policy.name
    curve: list[dict[str, Any]] = []
    start, wall0 = 0, 0.0
    ckpt = out / CHECKPOINT
    if cfg.get("resume", True) and ckpt.is_file():
        art = read_artifact(ckpt, "resume")
        learner = art.get("learner") if isinstance(art.get("learner"), dict) else {}
        want = type(policy.learner).__name__
        if art["name"] != name or learner.get("class") != want:
            raise ConfigError(f"resume: {ckpt} holds {art['name']!r} with learner "
                              f"{learner.get('class')!r}, not {name!r} with {want!r}; "
                              "use another out= or resume=false")
        check_resume_config(ckpt, art.get("config"), config, "its table")
        try:
            fresh = policy.learner.get_state()
            policy.learner.set_state(learner["state"])
            for key, value in fresh.items():  # another config's table: another shape
                if isinstance(value, list) and np.shape(learner["state"][key]) != np.shape(value):
                    raise ValueError(f"state {key!r} has shape {np.shape(learner['state'][key])}"
                                     f", this config's learner {np.shape(value)}")
            start = int(art["training"]["rounds"])
            curve = list(art["training"]["curve"])
            wall0 = float(art["training"].get("wall_s", 0.0))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ConfigError(f"resume: {ckpt}: its learner state or training record is "
                              f"malformed ({type(e).__name__}: {e}); use another out= or "
                              "resume=false") from None
        log.info("resumed %s from %s at round %d", name, ckpt, start)
    tb = SummaryWriter(str(out / "tb"))
    t0 = time.perf_counter() - wall0
    bar = tqdm(range(start, rounds), desc=f"train {name}", unit="round",
               disable=not cfg.get("progress", True), initial=start, total=rounds)
    for r in bar:
        ratios = {}
        for wname in names:
            trace = make_workload(wname, seed=workload_seed(seed, r),
                                  **workload_params(cfg).get(wname, {}))
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
        _log_row(tb, out / CURVE, curve)
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


def _log_row(tb: Any, csv_path: Path, curve: list[dict[str, Any]]) -> None:
    """The last row of ``curve`` to TensorBoard, and the whole curve (a resumed run's rows
    included) as ``csv_path``, replaced at once: a retrain (resume=false) keeps the old run's
    curve until it has a round of its own to show, and a stop leaves no half row."""
    row = curve[-1]
    step = int(row["round"])
    for k, v in row.items():
        if k != "round" and isinstance(v, float):
            tb.add_scalar(f"charts/{k}" if "/" not in k else k, v, step)
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=list(curve[0]), extrasaction="ignore")
    w.writeheader()
    w.writerows(curve)
    write_text_atomic(csv_path, buf.getvalue())

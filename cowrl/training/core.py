"""``train(cfg) -> dict``: train one policy in the simulator and write its artifact.

Called by ``train.py`` (Hydra) and directly by tests. Reads top to bottom:

1. check the config and seed everything from ``cfg.seed``;
2. build the policy from ``cfg.policy`` and the cost model;
3. resume from ``DIR/checkpoint.json`` when ``resume`` is on and it exists;
4. bandits: ``rounds`` passes over the training workloads, each workload drawn
   with a fresh seed per round, one learning episode each; every
   ``eval_every`` rounds the frozen greedy table is scored on the same
   workloads at ``cfg.seed`` (the learning curve); a checkpoint after every
   round (:mod:`cowrl.training.bandit`). stable-baselines3 policies:
   :mod:`cowrl.training.sb3` (PPO/DQN on the vector env through an SB3 VecEnv);
5. write ``DIR/policy.json``, ``DIR/curve.csv``, TensorBoard events in
   ``DIR/tb`` and point ``<latest_dir>/<name>.json`` at the artifact.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from cowrl.cli import output_dir
from cowrl.errors import ConfigError, bool_field, int_field, names_field, number_field
from cowrl.metrics import geomean, objective
from cowrl.policies.artifacts import ARTIFACT_NAME, save_artifact, set_latest
from cowrl.policies.base import Policy
from cowrl.policies.static import Baseline
from cowrl.registry import make_costmodel, make_policy, make_workload, workload_params
from cowrl.sim.costmodel import CostModel
from cowrl.sim.simulator import simulate
from cowrl.traces.io import Trace

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.json"
CURVE = "curve.csv"

# How each trainable config is trained: its ``trainer`` attribute -> "module:function"
# ``fn(cfg, policy, names, eval_traces, cost, lam, seed, out, config) -> dict``.
TRAINERS: dict[str, str] = {
    "bandit": "cowrl.training.bandit:train_bandit",
    "sb3": "cowrl.training.sb3:train_sb3",
}


RESUME_KEYS = ("policy", "costmodel", "workloads", "workload_params", "seed", "lambda")
"""Config fields a resumed run must share with its checkpoint (``rounds``, ``timesteps``,
``eval_every``, ``out`` and the rest may change; ``policy.train_rounds`` too, to train
longer)."""


def check_resume_config(ckpt: Path, saved: Any, config: dict[str, Any], carried: str) -> None:
    """A one-line :class:`ConfigError` naming the first of :data:`RESUME_KEYS` whose value
    differs between the config checkpoint ``ckpt`` was trained with (``saved``) and this run's:
    resuming would carry ``carried`` (``its table``, ``its model``) on under another config.
    Bandits (checkpoint.json) and PPO/DQN (checkpoint.sb3.zip) check it here."""
    changed = _changed_since(saved, config)
    if changed:
        raise ConfigError(f"resume: {ckpt} was trained with another {changed} ({carried} "
                          "would be carried on under this one); use another out= or "
                          "resume=false")


def _changed_since(saved: Any, config: dict[str, Any]) -> str | None:
    """The first of :data:`RESUME_KEYS` whose value differs between a checkpoint's config and
    this run's, as ``FIELD (old, now new)`` down to the leaf (``policy.learner.gamma``), or
    None."""
    if not isinstance(saved, dict):
        return "config (the checkpoint records none)"
    for key in RESUME_KEYS:
        diff = _first_difference(key, saved.get(key), config.get(key))
        if diff:
            return diff
    return None


def _first_difference(path: str, old: Any, new: Any) -> str | None:
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new), key=lambda k: (k != "name", str(k))):
            if f"{path}.{k}" == "policy.train_rounds":
                continue
            diff = _first_difference(f"{path}.{k}", old.get(k), new.get(k))
            if diff:
                return diff
        return None
    return None if old == new else f"{path} ({old!r}, now {new!r})"


def _out_dir(cfg: DictConfig) -> Path:
    if cfg.get("out"):
        return Path(str(cfg.out))
    try:
        from hydra.core.hydra_config import HydraConfig

        return Path(HydraConfig.get().runtime.output_dir)
    except ValueError:
        return Path("outputs/train")


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


def build_policy(cfg: DictConfig) -> Any:
    pcfg = OmegaConf.create(OmegaConf.to_container(cfg.policy, resolve=True))
    if "learner" in pcfg and isinstance(pcfg.learner, DictConfig):
        pcfg.learner.seed = int(cfg.seed)
    return make_policy(pcfg, lam=float(cfg["lambda"]))


def train(cfg: DictConfig) -> dict[str, Any]:
    """Train ``cfg.policy``; return the artifact path, the learning curve and final scores."""
    seed = int_field(cfg, "seed", 0)
    lam = number_field(cfg, "lambda", 0.0)
    for key in ("resume", "progress"):  # read as cfg.get(key, True) by the trainers
        bool_field(cfg, key, True)
    names = names_field(cfg, "workloads")  # workloads=seq: one name, not s, e, q
    if not names:
        raise ConfigError("workloads: give at least one training workload")
    latest_dir = cfg.get("latest_dir")
    out = output_dir(_out_dir(cfg))
    if latest_dir:  # written after training: checked before it
        output_dir(str(latest_dir), "latest_dir")
    cost = make_costmodel(cfg.costmodel)
    policy = build_policy(cfg)
    name = str(cfg.policy.get("name", policy.name))
    config = OmegaConf.to_container(cfg, resolve=True)
    params = workload_params(cfg)
    eval_traces = [make_workload(n, seed=seed, **params.get(n, {})) for n in names]

    trainer = getattr(policy, "trainer", None)
    if trainer is not None:
        module, fn = TRAINERS[trainer].split(":")
        result = getattr(importlib.import_module(module), fn)(
            cfg, policy, names, eval_traces, cost, lam, seed, out, config)
    else:  # not learned (readahead, static): the artifact records the config
        result = _save_fixed(policy, name, eval_traces, cost, lam, out, config)
    if latest_dir:
        set_latest(latest_dir, name, Path(result["artifact"]))
    log.info("policy artifact: %s", result["artifact"])
    return result


def _save_fixed(policy: Policy, name: str, traces: list[Trace], cost: CostModel, lam: float,
                out: Path, config: dict[str, Any]) -> dict[str, Any]:
    kind = policy.artifact_kind
    if kind is None:
        raise ConfigError(f"policy {name!r} cannot be trained or saved as an artifact")
    log.info("%s has no trainer: nothing is learned, the artifact records its configuration "
             "(guarded's tables are learned by experiments/generalization_study.py)", name)
    spec = policy.artifact_spec()
    scores = score(policy, traces, cost, lam)
    path = save_artifact(out / ARTIFACT_NAME, name, kind, spec, config,
                         training={"rounds": 0, "scores": scores, "geomean": geomean(
                             list(scores.values()))})
    return {"out": str(out), "artifact": str(path), "curve": [], "scores": scores}

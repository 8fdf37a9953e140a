"""PPO and DQN from stable-baselines3 on the precopy vector env (no hand-written RL).

``conf/policy/{ppo,dqn}.yaml`` build an :class:`SB3Spec` (the algorithm and
its hyperparameters); ``train.py policy=ppo`` runs :func:`train_sb3`, which
learns on ``n_envs`` sub-envs of :class:`~cowrl.envs.vector.PrecopyVectorEnv`
over the training workloads (a fresh seed per episode) through the
:class:`~cowrl.training.vec_env.SB3VecEnv` adapter, and saves SB3's own zip
next to ``policy.json`` (:class:`~cowrl.policies.sb3.SB3Policy` replays it).
"""

from __future__ import annotations

import json
import logging
import os
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from cowrl.errors import ConfigError
from cowrl.metrics import geomean
from cowrl.policies.artifacts import ARTIFACT_NAME, save_artifact
from cowrl.policies.sb3 import ALGOS, MODEL_FILE, SB3Policy, algo_class
from cowrl.policies.shield import guard_constants
from cowrl.sim.costmodel import CostModel
from cowrl.traces.io import Trace
from cowrl.training.core import check_resume_config, score, workload_params

CKPT_FILE = "checkpoint.sb3.zip"
CONFIG_ATTR = "cowrl_config"
"""The model attribute, saved by SB3 into the zip's ``data``, holding train.py's config."""

log = logging.getLogger(__name__)


def _checkpoint_config(ckpt: Path) -> dict[str, Any] | None:
    """The config a checkpoint was trained under, read from its zip without loading the
    model; None for one saved before it carried one."""
    with zipfile.ZipFile(ckpt) as z:
        data = json.loads(z.read("data"))
    if not isinstance(data, dict):
        raise ValueError("its data is not a JSON object")
    return data.get(CONFIG_ATTR)


def save_model_atomic(model: Any, path: Path) -> Path:
    """``model`` saved at ``path`` through a temporary file: an interrupted save leaves the
    file there before (a resume point, a trained model) whole, not half a zip."""
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        with tmp.open("wb") as f:
            model.save(f)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


@dataclass
class SB3Spec:
    """Configuration of an SB3 algorithm to train (not a policy: training makes one)."""

    algo: str = "ppo"
    name: str | None = None
    degrees: Sequence[int] = (0, 1, 2, 4, 8, 16, 32, 64)
    prev_action_obs: bool = False
    n_envs: int = 8
    """Sub-envs of the vector env stepped together (SB3 collects from all of them)."""
    features: str = "engine"
    """``engine``: the 7 fault-history features; ``guarded``: plus guarded's context."""
    shield: bool = False
    """Cap every chosen ``k`` by guarded's risk budget, in training and deployment."""
    reward: str = "cost"
    """``cost`` (the env's), ``saving`` or ``gain`` (:class:`GuardedPrecopyEnv`)."""
    proof: int = 0
    """1: the shield's budget is credited by interior proofs (guarded version 4)."""
    proof_ttl: int = 0
    """Guarded's ``proof_ttl`` for the shield's proofs (0 with ``proof: 0``)."""
    proof_backoff: int = 0
    """Guarded's ``proof_backoff`` for the shield's proof reads (0 with ``proof: 0``)."""
    read_credit: int = 0
    """Guarded's ``read_credit`` for the shield's proofs (1 needs ``proof: 1``)."""
    proof_look: int = 0
    """Guarded's ``proof_look`` for the shield's proof looks (0 with ``proof: 0``)."""
    proof_span: int = 0
    """Guarded's ``proof_span`` for the shield's proof looks (1 needs ``proof_backoff: 1``)."""
    floor: int = 0
    """Guarded's ``floor`` for the shield: ``k = 0`` while the class's hit rate is below it."""
    grant_left: int = 2
    """Guarded's ``grant_left`` for the shield's allowance (0..4)."""
    floor_slow: int = 0
    """Guarded's ``floor_slow`` for the shield (0: off; 5..12: the floor also reads a slow
    EWMA of weight 1/2^s)."""
    kwargs: dict[str, Any] = field(default_factory=dict)

    trainer = "sb3"
    """Trained by ``cowrl.training`` (``TRAINERS``); ``eval.py`` loads its artifact."""

    def __post_init__(self) -> None:
        if self.algo not in ALGOS:
            raise ConfigError(f"policy.algo must be one of {', '.join(ALGOS)}, "
                              f"got {self.algo!r}")
        if isinstance(self.n_envs, bool) or not isinstance(self.n_envs, int) \
                or self.n_envs <= 0:
            raise ConfigError(f"policy.n_envs must be a positive integer, got {self.n_envs!r}")
        from cowrl.envs.guarded_env import FEATURES, REWARDS

        if self.features not in FEATURES:
            raise ConfigError(f"policy.features must be one of {', '.join(FEATURES)}, "
                              f"got {self.features!r}")
        if self.reward not in REWARDS:
            raise ConfigError(f"policy.reward must be one of {', '.join(REWARDS)}, "
                              f"got {self.reward!r}")
        self.shield = bool(self.shield)
        if isinstance(self.proof, bool) or self.proof not in (0, 1):
            raise ConfigError(f"policy.proof must be 0 or 1, got {self.proof!r}")
        from cowrl.policies.guarded import (
            check_floor,
            check_floor_slow,
            check_grant_left,
            check_proof_backoff,
            check_proof_look,
            check_proof_span,
            check_proof_ttl,
            check_read_credit,
        )

        self.floor = check_floor(self.floor)
        self.grant_left = check_grant_left(self.grant_left)
        self.floor_slow = check_floor_slow(self.floor_slow)
        self.proof_ttl = check_proof_ttl(self.proof_ttl, self.proof)
        self.proof_backoff = check_proof_backoff(self.proof_backoff, self.proof)
        self.read_credit = check_read_credit(self.read_credit, self.proof)
        self.proof_look = check_proof_look(self.proof_look, self.proof)
        self.proof_span = check_proof_span(self.proof_span, self.proof_backoff)
        self.name = self.name or self.algo
        self.degrees = [int(d) for d in self.degrees]
        self.prev_action_obs = bool(self.prev_action_obs)
        self.kwargs = dict(self.kwargs or {})
        for key, value in self.kwargs.items():  # text where SB3 wants a number fails in learn()
            if isinstance(value, str):
                raise ConfigError(f"policy.kwargs.{key} must be a number, got {value!r}")

    @property
    def proof_options(self) -> dict[str, int]:
        """The shield's options (:func:`~cowrl.policies.shield.guard_constants`' keywords: its
        proof options, ``floor`` and ``grant_left``), the same for the training env and the
        deployed policy."""
        return {"proof": self.proof, "proof_ttl": self.proof_ttl,
                "proof_backoff": self.proof_backoff, "read_credit": self.read_credit,
                "proof_look": self.proof_look, "proof_span": self.proof_span,
                "floor": self.floor, "grant_left": self.grant_left,
                "floor_slow": self.floor_slow}

    @property
    def uses_guard(self) -> bool:
        """Whether the policy keeps guarded's context (its features or its shield)."""
        return self.features == "guarded" or self.shield

    @property
    def plain(self) -> bool:
        """The plain env (engine features, no shield, the env's reward): the compiled path."""
        return not self.uses_guard and self.reward == "cost"

    def make_env(self, workloads: list[dict[str, Any]], cost: CostModel, lam: float) -> Any:
        """One training env: :class:`PrecopyEnv` wrapped in :class:`GuardedPrecopyEnv`."""
        from cowrl.envs.guarded_env import GuardedPrecopyEnv
        from cowrl.envs.precopy_env import PrecopyEnv

        env = PrecopyEnv(workloads=workloads, degrees=self.degrees, cost=cost, lam=lam,
                         prev_action_obs=self.prev_action_obs)
        return GuardedPrecopyEnv(env, features=self.features, shield=self.shield,
                                 reward=self.reward, **self.proof_options)


def env_workloads(names: Sequence[str], params: dict[str, dict[str, Any]] | None = None
                  ) -> list[Any]:
    """The env's workload specs for conf/workload names, with ``workload_params`` overrides
    (the seed is drawn per episode). A workload that is not a generator (a recorded trace,
    ``cowrl.traces.io.corpus_trace``) is loaded once and given as its Trace."""
    from omegaconf import OmegaConf

    from cowrl.registry import group_config, make_workload
    from cowrl.traces.generators import GENERATORS

    out: list[Any] = []
    for n in names:
        spec = OmegaConf.to_container(group_config("workload", n, "workloads"))
        assert isinstance(spec, dict)
        spec.update((params or {}).get(n, {}))
        spec.pop("seed", None)
        gen = spec.get("generator") or str(spec.get("_target_", "")).rsplit(".", 1)[-1]
        out.append(spec if gen in GENERATORS else make_workload(n, **(params or {}).get(n, {})))
    return out


def train_sb3(cfg: DictConfig, spec: SB3Spec, names: list[str], eval_traces: list[Trace],
              cost: CostModel, lam: float, seed: int, out: Path, config: dict[str, Any]
              ) -> dict[str, Any]:
    import torch
    from stable_baselines3.common.vec_env import VecMonitor

    from cowrl.envs.vector import PrecopyVectorEnv
    from cowrl.training.vec_env import SB3VecEnv

    # A 64x64 MLP on a shared 2-core machine: one thread beats two contended ones.
    torch.set_num_threads(1)
    timesteps = cfg.get("timesteps")
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps <= 0:
        raise ConfigError(f"timesteps must be a positive integer, got {timesteps!r}")
    workloads = env_workloads(names, workload_params(cfg))
    if spec.plain:  # the compiled vector env: every sub-env in one numba loop
        vec = PrecopyVectorEnv(spec.n_envs, workloads=workloads, degrees=spec.degrees,
                               cost=cost, lam=lam, prev_action_obs=spec.prev_action_obs)
        base_venv: Any = SB3VecEnv(vec, seed=seed)
    else:  # guarded's context / shield / savings reward: per-fault Python, one env each
        from stable_baselines3.common.vec_env import DummyVecEnv

        # Each sub-env draws its own traces: DummyVecEnv seeds sub-env i with seed + i.
        base_venv = DummyVecEnv([lambda: spec.make_env(workloads, cost, lam)] * spec.n_envs)
        base_venv.seed(seed)
    venv = VecMonitor(base_venv, str(out / "monitor"))
    cls = algo_class(spec.algo)
    ckpt = out / CKPT_FILE
    t0 = time.perf_counter()
    if cfg.get("resume", True) and ckpt.is_file():
        try:
            saved = _checkpoint_config(ckpt)
            if saved is None:  # saved before the config went into the zip (2026-12-04)
                log.warning("resume: %s records no training config (saved before 2026-12-04): "
                            "resumed without checking that it was trained under this policy, "
                            "costmodel, workloads, workload_params, seed and lambda", ckpt)
            else:  # before loading: another degrees or n_envs would load or fail misleadingly
                check_resume_config(ckpt, saved, config, "its model")
            model = cls.load(str(ckpt), env=venv, device="cpu", tensorboard_log=str(out / "tb"))
            log.info("resumed %s from %s at step %d", spec.name, ckpt, model.num_timesteps)
        except (OSError, ValueError, KeyError, AttributeError, RuntimeError,
                zipfile.BadZipFile) as e:
            raise ConfigError(f"resume: {ckpt} is not a readable {spec.algo} checkpoint ({e}); "
                              "use another out= or resume=false") from None
    else:
        try:  # SB3 checks its hyperparameters with asserts and keyword errors
            model = cls("MlpPolicy", venv, seed=seed, device="cpu", verbose=0,
                        tensorboard_log=str(out / "tb"), **spec.kwargs)
        except (AssertionError, TypeError, ValueError) as e:
            raise ConfigError(f"policy.kwargs: {spec.algo} refuses them ({e})") from None
    # SB3 saves the model's attributes into the zip: every checkpoint carries the config it
    # was trained under (a resumed one from now on), written with it in one atomic save.
    setattr(model, CONFIG_ATTR, config)
    remaining = timesteps - int(model.num_timesteps)
    if remaining > 0:
        save_every = max(1000, timesteps // 10)
        cb = _SaveLatest(ckpt, save_every)
        model.learn(total_timesteps=remaining, reset_num_timesteps=False,
                    progress_bar=bool(cfg.get("progress", True)), callback=cb,
                    tb_log_name=spec.algo)
        save_model_atomic(model, ckpt)
    # The new model beside the one a previous run left, until this run's policy.json is
    # written: interrupted while scoring, out= keeps the old pair (zip and JSON) as it was.
    new_model = save_model_atomic(model, out / f"{MODEL_FILE}.new")
    venv.close()

    assert spec.name is not None
    policy = SB3Policy(new_model, spec.algo, spec.degrees, name=spec.name,
                       prev_action_obs=spec.prev_action_obs, features=spec.features,
                       guard=guard_constants(cost, lam, **spec.proof_options)
                       if spec.uses_guard
                       else None,
                       shield=spec.shield)
    final = score(policy, eval_traces, cost, lam)
    curve = _monitor_curve(out)
    training = {"timesteps": int(model.num_timesteps), "seed": seed, "n_envs": spec.n_envs,
                "reward": spec.reward,
                "wall_s": time.perf_counter() - t0, "scores": final,
                "geomean": geomean(list(final.values())), "workloads": names}
    policy.model_file = MODEL_FILE  # the name it takes now, and policy.json gives
    os.replace(new_model, out / MODEL_FILE)
    path = save_artifact(out / ARTIFACT_NAME, spec.name, policy.artifact_kind or "sb3",
                         policy.artifact_spec(), config, training=training)
    return {"out": str(out), "artifact": str(path), "curve": curve, "scores": final,
            "geomean": training["geomean"]}


class _SaveLatest:
    """SB3 callback: save the model about every ``every`` steps (resume point)."""

    def __new__(cls, path: Path, every: int) -> Any:
        from stable_baselines3.common.callbacks import BaseCallback

        class _Cb(BaseCallback):
            def __init__(self) -> None:
                super().__init__()
                self.next_save = every

            def _on_step(self) -> bool:
                if self.num_timesteps >= self.next_save:
                    save_model_atomic(self.model, path)
                    self.next_save += every
                return True

        return _Cb()


def _monitor_curve(out: Path) -> list[dict[str, Any]]:
    """Episode returns from SB3's monitor file, also written as curve.csv."""
    import csv

    mon = out / "monitor.monitor.csv"
    rows: list[dict[str, Any]] = []
    if mon.is_file():
        lines = mon.read_text().splitlines()[1:]
        for i, r in enumerate(csv.DictReader(lines)):
            rows.append({"episode": i + 1, "return": float(r["r"]), "faults": int(r["l"]),
                         "wall_s": float(r["t"])})
    with (out / "curve.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["episode", "return", "faults", "wall_s"])
        w.writeheader()
        w.writerows(rows)
    return rows

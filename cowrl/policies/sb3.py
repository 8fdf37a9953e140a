"""PPO and DQN from stable-baselines3 on ``cowrl/Precopy-v0`` (no hand-written RL).

``conf/policy/{ppo,dqn}.yaml`` build an :class:`SB3Trainer` (the algorithm and
its hyperparameters); ``train.py policy=ppo`` runs :func:`train_sb3`, which
learns on :class:`~cowrl.envs.precopy_env.PrecopyEnv` over the training
workloads (a fresh seed per episode) and saves SB3's own zip next to
``policy.json``. :class:`SB3Policy` replays the trained network in the
simulator, building the env's observation (``FaultHistory`` features) at each
fault. It has no kernel form: a float MLP does not belong in the fault path
(``kernel_program`` raises, so ``eval.py target=kernel`` skips it).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from cowrl.errors import ConfigError
from cowrl.policies.base import FaultContext, KernelProgram, Policy
from cowrl.policies.features import N_FEATURES, FaultHistory
from cowrl.sim.costmodel import CostModel
from cowrl.traces.io import Trace

ALGOS = ("ppo", "dqn")
MODEL_FILE = "policy.sb3.zip"
CKPT_FILE = "checkpoint.sb3.zip"


class SB3Trainer(Policy):
    """Configuration of an SB3 algorithm; ``train.py`` turns it into an :class:`SB3Policy`."""

    def __init__(self, algo: str = "ppo", name: str | None = None,
                 degrees: Sequence[int] = (0, 1, 2, 4, 8, 16, 32, 64),
                 prev_action_obs: bool = False, kwargs: dict[str, Any] | None = None) -> None:
        if algo not in ALGOS:
            raise ConfigError(f"policy.algo must be one of {', '.join(ALGOS)}, got {algo!r}")
        self.algo = algo
        self.name = name or algo
        self.degrees = [int(d) for d in degrees]
        self.prev_action_obs = bool(prev_action_obs)
        self.kwargs = dict(kwargs or {})

    def decide(self, ctx: FaultContext) -> int:
        raise ConfigError(f"policies: {self.name!r} must be trained first "
                          f"(python train.py policy={self.name})")


class SB3Policy(Policy):
    """A trained SB3 model deciding k from the env's observation (simulator only)."""

    def __init__(self, model_path: str | Path, algo: str, degrees: Sequence[int],
                 name: str = "ppo", prev_action_obs: bool = False) -> None:
        self.name = name
        self.algo = algo
        self.degrees = [int(d) for d in degrees]
        self.prev_action_obs = prev_action_obs
        self.model = _algo_class(algo).load(str(model_path), device="cpu")
        self.history = FaultHistory()
        self._prev_a = -1

    def reset(self, n_pages: int, seed: int | None = None) -> None:
        self.history.reset()
        self._prev_a = -1

    def decide(self, ctx: FaultContext) -> int:
        feats = self.history.update(ctx)
        if self.prev_action_obs:
            obs = np.zeros(N_FEATURES + len(self.degrees), dtype=np.float32)
            obs[:N_FEATURES] = feats
            if self._prev_a >= 0:
                obs[N_FEATURES + self._prev_a] = 1.0
        else:
            obs = feats
        a, _ = self.model.predict(obs, deterministic=True)
        self._prev_a = int(a)
        return self.degrees[self._prev_a]

    def kernel_program(self) -> KernelProgram:
        raise NotImplementedError(f"policy {self.name!r} (an SB3 network) has no kernel form")


def _algo_class(algo: str) -> Any:
    from stable_baselines3 import DQN, PPO

    return {"ppo": PPO, "dqn": DQN}[algo]


def env_workloads(names: Sequence[str]) -> list[dict[str, Any]]:
    """The env's workload specs for conf/workload names (the seed is drawn per episode)."""
    from omegaconf import OmegaConf

    from cowrl.registry import group_config

    out = []
    for n in names:
        spec = OmegaConf.to_container(group_config("workload", n, "workloads"))
        assert isinstance(spec, dict)
        spec.pop("seed", None)
        out.append(spec)
    return out


def train_sb3(cfg: DictConfig, trainer: SB3Trainer, names: list[str], eval_traces: list[Trace],
              cost: CostModel, lam: float, seed: int, out: Path, config: dict[str, Any]
              ) -> dict[str, Any]:
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.monitor import Monitor

    from cowrl.envs.precopy_env import PrecopyEnv
    from cowrl.metrics import geomean
    from cowrl.policies.artifacts import ARTIFACT_NAME, save_artifact
    from cowrl.training import score

    timesteps = cfg.get("timesteps")
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps <= 0:
        raise ConfigError(f"timesteps must be a positive integer, got {timesteps!r}")
    workloads = env_workloads(names)

    def _env() -> Any:
        return Monitor(PrecopyEnv(workloads=workloads, degrees=trainer.degrees, cost=cost,
                                  lam=lam, prev_action_obs=trainer.prev_action_obs),
                       str(out / "monitor"))

    venv = make_vec_env(_env, n_envs=1, seed=seed)
    cls = _algo_class(trainer.algo)
    ckpt = out / CKPT_FILE
    t0 = time.perf_counter()
    if cfg.get("resume", True) and ckpt.is_file():
        model = cls.load(str(ckpt), env=venv, device="cpu", tensorboard_log=str(out / "tb"))
    else:
        model = cls("MlpPolicy", venv, seed=seed, device="cpu", verbose=0,
                    tensorboard_log=str(out / "tb"), **trainer.kwargs)
    remaining = timesteps - int(model.num_timesteps)
    if remaining > 0:
        save_every = max(1000, timesteps // 10)
        cb = _SaveLatest(ckpt, save_every)
        model.learn(total_timesteps=remaining, reset_num_timesteps=False,
                    progress_bar=bool(cfg.get("progress", True)), callback=cb,
                    tb_log_name=trainer.algo)
        model.save(str(ckpt))
    model.save(str(out / MODEL_FILE))

    policy = SB3Policy(out / MODEL_FILE, trainer.algo, trainer.degrees, name=trainer.name,
                       prev_action_obs=trainer.prev_action_obs)
    final = score(policy, eval_traces, cost, lam)
    curve = _monitor_curve(out)
    training = {"timesteps": int(model.num_timesteps), "seed": seed,
                "wall_s": time.perf_counter() - t0, "scores": final,
                "geomean": geomean(list(final.values())), "workloads": names}
    path = save_artifact(out / ARTIFACT_NAME, trainer.name, "sb3",
                         {"algo": trainer.algo, "model": MODEL_FILE,
                          "degrees": trainer.degrees,
                          "prev_action_obs": trainer.prev_action_obs},
                         config, training=training)
    return {"out": str(out), "artifact": str(path), "curve": curve, "scores": final,
            "geomean": training["geomean"]}


class _SaveLatest:
    """SB3 callback: save the model every ``every`` steps (resume point)."""

    def __new__(cls, path: Path, every: int) -> Any:
        from stable_baselines3.common.callbacks import BaseCallback

        class _Cb(BaseCallback):
            def _on_step(self) -> bool:
                if self.num_timesteps % every == 0:
                    self.model.save(str(path))
                return True

        return _Cb()


def _monitor_curve(out: Path) -> list[dict[str, Any]]:
    """Episode returns from SB3's Monitor file, also written as curve.csv."""
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

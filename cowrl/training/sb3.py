"""PPO and DQN from stable-baselines3 on the precopy vector env (no hand-written RL).

``conf/policy/{ppo,dqn}.yaml`` build an :class:`SB3Spec` (the algorithm and
its hyperparameters); ``train.py policy=ppo`` runs :func:`train_sb3`, which
learns on ``n_envs`` sub-envs of :class:`~cowrl.envs.vector.PrecopyVectorEnv`
over the training workloads (a fresh seed per episode) through the
:class:`~cowrl.training.vec_env.SB3VecEnv` adapter, and saves SB3's own zip
next to ``policy.json`` (:class:`~cowrl.policies.sb3.SB3Policy` replays it).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from cowrl.errors import ConfigError
from cowrl.metrics import geomean
from cowrl.policies.artifacts import ARTIFACT_NAME, save_artifact
from cowrl.policies.sb3 import ALGOS, MODEL_FILE, SB3Policy, algo_class
from cowrl.sim.costmodel import CostModel
from cowrl.traces.io import Trace
from cowrl.training.core import score, workload_params

CKPT_FILE = "checkpoint.sb3.zip"


@dataclass
class SB3Spec:
    """Configuration of an SB3 algorithm to train (not a policy: training makes one)."""

    algo: str = "ppo"
    name: str | None = None
    degrees: Sequence[int] = (0, 1, 2, 4, 8, 16, 32, 64)
    prev_action_obs: bool = False
    n_envs: int = 8
    """Sub-envs of the vector env stepped together (SB3 collects from all of them)."""
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
        self.name = self.name or self.algo
        self.degrees = [int(d) for d in self.degrees]
        self.prev_action_obs = bool(self.prev_action_obs)
        self.kwargs = dict(self.kwargs or {})


def env_workloads(names: Sequence[str], params: dict[str, dict[str, Any]] | None = None
                  ) -> list[dict[str, Any]]:
    """The env's workload specs for conf/workload names, with ``workload_params`` overrides
    (the seed is drawn per episode)."""
    from omegaconf import OmegaConf

    from cowrl.registry import group_config

    out = []
    for n in names:
        spec = OmegaConf.to_container(group_config("workload", n, "workloads"))
        assert isinstance(spec, dict)
        spec.update((params or {}).get(n, {}))
        spec.pop("seed", None)
        out.append(spec)
    return out


def train_sb3(cfg: DictConfig, spec: SB3Spec, names: list[str], eval_traces: list[Trace],
              cost: CostModel, lam: float, seed: int, out: Path, config: dict[str, Any]
              ) -> dict[str, Any]:
    from stable_baselines3.common.vec_env import VecMonitor

    from cowrl.envs.vector import PrecopyVectorEnv
    from cowrl.training.vec_env import SB3VecEnv

    timesteps = cfg.get("timesteps")
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps <= 0:
        raise ConfigError(f"timesteps must be a positive integer, got {timesteps!r}")
    vec = PrecopyVectorEnv(spec.n_envs, workloads=env_workloads(names, workload_params(cfg)),
                           degrees=spec.degrees, cost=cost, lam=lam,
                           prev_action_obs=spec.prev_action_obs)
    venv = VecMonitor(SB3VecEnv(vec, seed=seed), str(out / "monitor"))
    cls = algo_class(spec.algo)
    ckpt = out / CKPT_FILE
    t0 = time.perf_counter()
    if cfg.get("resume", True) and ckpt.is_file():
        model = cls.load(str(ckpt), env=venv, device="cpu", tensorboard_log=str(out / "tb"))
    else:
        model = cls("MlpPolicy", venv, seed=seed, device="cpu", verbose=0,
                    tensorboard_log=str(out / "tb"), **spec.kwargs)
    remaining = timesteps - int(model.num_timesteps)
    if remaining > 0:
        save_every = max(1000, timesteps // 10)
        cb = _SaveLatest(ckpt, save_every)
        model.learn(total_timesteps=remaining, reset_num_timesteps=False,
                    progress_bar=bool(cfg.get("progress", True)), callback=cb,
                    tb_log_name=spec.algo)
        model.save(str(ckpt))
    model.save(str(out / MODEL_FILE))
    venv.close()

    assert spec.name is not None
    policy = SB3Policy(out / MODEL_FILE, spec.algo, spec.degrees, name=spec.name,
                       prev_action_obs=spec.prev_action_obs)
    final = score(policy, eval_traces, cost, lam)
    curve = _monitor_curve(out)
    training = {"timesteps": int(model.num_timesteps), "seed": seed, "n_envs": spec.n_envs,
                "wall_s": time.perf_counter() - t0, "scores": final,
                "geomean": geomean(list(final.values())), "workloads": names}
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
                    self.model.save(str(path))
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

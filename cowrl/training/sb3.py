"""PPO and DQN from stable-baselines3 on the precopy vector env (no hand-written RL).

``conf/policy/{ppo,dqn}.yaml`` build an :class:`SB3Spec` (the algorithm and
its hyperparameters); ``train.py policy=ppo`` runs :func:`train_sb3`, which
learns on ``n_envs`` sub-envs of :class:`~cowrl.envs.vector.PrecopyVectorEnv`
over the training workloads (a fresh seed per episode) through the
:class:`~cowrl.training.vec_env.SB3VecEnv` adapter, and saves SB3's own zip
next to ``policy.json`` (:class:`~cowrl.policies.sb3.SB3Policy` replays it).
``curve.csv`` is rebuilt from SB3's monitor file at every checkpoint save; the monitor file
goes with the checkpoint, so a resumed run's curve is the whole one (:func:`_open_monitor`).
"""

from __future__ import annotations

import csv
import io
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
from cowrl.policies.artifacts import ARTIFACT_NAME, save_artifact, write_text_atomic
from cowrl.policies.sb3 import ALGOS, MODEL_FILE, SB3Policy, algo_class
from cowrl.policies.shield import guard_constants
from cowrl.sim.costmodel import CostModel
from cowrl.traces.io import Trace
from cowrl.training.core import CURVE, check_resume_config, score, workload_params

CKPT_FILE = "checkpoint.sb3.zip"
CONFIG_ATTR = "cowrl_config"
"""The model attribute, saved by SB3 into the zip's ``data``, holding train.py's config."""
MONITOR_FILE = "monitor.monitor.csv"
"""SB3's monitor file (``monitor`` + SB3's ``.monitor.csv``): one row per episode, ``r``,
``l``, ``t`` and ``steps``, the run's ``num_timesteps`` when the episode ended. It belongs to
``checkpoint.sb3.zip``: it holds the episodes of every run that led to the checkpoint."""
PENDING_MONITOR = "monitor.new.monitor.csv"
"""A fresh run's monitor file until its first checkpoint save, which moves it to
:data:`MONITOR_FILE`: until then the old run's checkpoint and monitor file stay a pair."""
MONITOR_ATTR = "cowrl_monitor_t_start"
"""The model attribute naming the monitor file that belongs to the checkpoint (its header's
``t_start``, the start of the checkpoint's first run)."""
STEPS = "steps"

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
    proof_skipmap: int = 0
    """Guarded's ``proof_skipmap`` for the shield's proof looks (1 needs ``proof: 1``)."""
    proof_duemap: int = 0
    """Guarded's ``proof_duemap`` for the shield's proof looks (1 needs ``proof_backoff: 1``)."""
    stride_window: int = 0
    """Guarded's ``stride_window`` for the shield: a granted window is strided where the
    region's stride detector sees a constant stride continuing (the budget prices each strided
    page ``stride_ns``); 0 = adjacent windows."""
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
        from cowrl.policies.guarded import SHIELD_OPTIONS, check_shield_options

        vars(self).update(check_shield_options(  # the shield's options, as guarded's
            self.proof, **{k: getattr(self, k) for k in SHIELD_OPTIONS}))
        from cowrl.policies.guarded import check_stride_window

        self.stride_window = check_stride_window(self.stride_window, False)
        if self.stride_window and not self.uses_guard:
            raise ConfigError("policy.stride_window: strided windows are guarded's (its "
                              "stride detector), they need features: guarded or shield: true")
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
                "floor_slow": self.floor_slow, "proof_skipmap": self.proof_skipmap,
                "proof_duemap": self.proof_duemap, "stride_window": self.stride_window}

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
    counter = _step_counter(base_venv)
    # The monitor file is opened here, by hand: SB3's VecMonitor always truncates its file
    # (its ResultsWriter's override_existing=True), so a resumed run's curve held only the
    # episodes since the resume, and a retrain lost the old run's at its start.
    venv = VecMonitor(counter, None, info_keywords=(STEPS,))
    cls = algo_class(spec.algo)
    ckpt = out / CKPT_FILE
    t0 = time.perf_counter()
    resuming = bool(cfg.get("resume", True) and ckpt.is_file())
    if resuming:
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
    # The monitor file, once the model is there (building or loading it steps no env).
    live = _open_monitor(venv, out, int(model.num_timesteps),
                         getattr(model, MONITOR_ATTR, None) if resuming else None, resuming)
    # SB3 saves the model's attributes into the zip: every checkpoint carries the config it
    # was trained under (a resumed one from now on), written with it in one atomic save, and
    # names the monitor file that belongs to it.
    setattr(model, CONFIG_ATTR, config)
    setattr(model, MONITOR_ATTR, venv.t_start)
    counter.steps = int(model.num_timesteps)  # "steps" continues the checkpoint's count
    remaining = timesteps - int(model.num_timesteps)

    def commit(m: Any) -> None:
        """The resume point: the checkpoint, then its monitor file (a fresh run's, moved in
        place of the old run's at its first save) and curve.csv (rewritten whole)."""
        save_model_atomic(m, ckpt)
        if live["path"] != out / MONITOR_FILE:
            os.replace(live["path"], out / MONITOR_FILE)  # the open file moves with it
            live["path"] = out / MONITOR_FILE
        _write_curve(out, int(m.num_timesteps))

    if remaining > 0:
        save_every = max(1000, timesteps // 10)
        cb = _SaveLatest(commit, save_every)
        model.learn(total_timesteps=remaining, reset_num_timesteps=False,
                    progress_bar=bool(cfg.get("progress", True)), callback=cb,
                    tb_log_name=spec.algo)
        commit(model)
    # The new model beside the one a previous run left, until this run's policy.json is
    # written: interrupted while scoring, out= keeps the old pair (zip and JSON) as it was.
    new_model = save_model_atomic(model, out / f"{MODEL_FILE}.new")
    venv.close()
    adopted = live["path"] == out / MONITOR_FILE
    if not adopted:  # nothing learned: the new file holds no episode, the old one stays
        live["path"].unlink(missing_ok=True)

    assert spec.name is not None
    policy = SB3Policy(new_model, spec.algo, spec.degrees, name=spec.name,
                       prev_action_obs=spec.prev_action_obs, features=spec.features,
                       guard=guard_constants(cost, lam, **spec.proof_options)
                       if spec.uses_guard
                       else None,
                       shield=spec.shield, guard_lam=lam if spec.uses_guard else None)
    final = score(policy, eval_traces, cost, lam)
    curve = _write_curve(out, int(model.num_timesteps)) if adopted else []
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
    """SB3 callback: ``save(model)`` about every ``every`` steps (resume point)."""

    def __new__(cls, save: Any, every: int) -> Any:
        from stable_baselines3.common.callbacks import BaseCallback

        class _Cb(BaseCallback):
            def __init__(self) -> None:
                super().__init__()
                self.next_save = every

            def _on_step(self) -> bool:
                if self.num_timesteps >= self.next_save:
                    save(self.model)
                    self.next_save += every
                return True

        return _Cb()


def _step_counter(venv: Any) -> Any:
    """``venv`` wrapped so that an ended episode's info carries ``steps``: the environment
    steps taken so far (set to the model's ``num_timesteps`` before learning; SB3 adds
    ``num_envs`` per step, as this does), which SB3's monitor writes as a column."""
    import numpy as np
    from stable_baselines3.common.vec_env import VecEnvWrapper

    class _Steps(VecEnvWrapper):
        steps = 0

        def reset(self) -> Any:
            return self.venv.reset()

        def step_wait(self) -> Any:
            obs, rewards, dones, infos = self.venv.step_wait()
            self.steps += self.num_envs
            infos = list(infos)
            for i in np.flatnonzero(dones):
                infos[i] = {**infos[i], STEPS: self.steps}
            return obs, rewards, dones, infos

    return _Steps(venv)


def _monitor_rows(path: Path) -> tuple[str, dict[str, Any], list[str], list[dict[str, str]]]:
    """SB3's monitor file at ``path``: its text before the rows (the ``#{...}`` header line
    and the column names), the header, and each whole row with its line as ``"line"``; a row
    half-written when a run stopped is left out. ValueError when it is not a monitor file."""
    lines = path.read_text().splitlines(keepends=True)
    if len(lines) < 2 or not lines[0].startswith("#"):
        raise ValueError("no #{...} header line and column line")
    header = json.loads(lines[0][1:])
    if not isinstance(header, dict):
        raise ValueError("its header is not a JSON object")
    fields = next(csv.reader([lines[1]]))
    rows = []
    for line in lines[2:]:
        vals = next(csv.reader([line]), [])
        if line.endswith("\n") and len(vals) == len(fields):
            rows.append({**dict(zip(fields, vals, strict=True)), "line": line})
    return lines[0] + lines[1], header, fields, rows


def _open_monitor(venv: Any, out: Path, upto: int, t_start: float | None, resuming: bool
                  ) -> dict[str, Path]:
    """Give SB3's ``venv`` (a VecMonitor without a file) its monitor file, SB3's
    ResultsWriter with SB3's header. A resume appends (``override_existing=False``) to the
    monitor file the checkpoint names (``t_start``, its :data:`MONITOR_ATTR`), cut to the
    episodes that ended by the checkpoint's ``num_timesteps`` (``upto``): those logged after
    its last save were not learned from, the resumed run steps from the checkpoint again and
    logs its own in their place (an episode under way at the save is in neither). Its clock ``t``
    continues from the first run's ``t_start`` (time between the runs included). A fresh run,
    or a checkpoint naming no monitor file that is there (saved before 2026-12-04, or a stop
    between its save and the monitor file's move), writes :data:`PENDING_MONITOR` until its
    first checkpoint save. Returns ``{"path": the file written}``."""
    from stable_baselines3.common.monitor import ResultsWriter

    mon, pending = out / MONITOR_FILE, out / PENDING_MONITOR
    env_id = getattr(getattr(venv.venv, "spec", None), "id", None)  # as VecMonitor names it
    if resuming:
        for path in (mon, pending):  # pending: stopped between the save and the move
            try:
                text, header, fields, rows = _monitor_rows(path)
            except (OSError, ValueError):
                continue
            if STEPS in fields and t_start is not None and header.get("t_start") == t_start:
                kept = [r["line"] for r in rows if _int(r[STEPS]) <= upto]
                write_text_atomic(mon, text + "".join(kept))
                if path == pending:
                    pending.unlink()
                venv.t_start = float(header["t_start"])
                venv.results_writer = ResultsWriter(str(mon), header=header,
                                                    extra_keys=(STEPS,), override_existing=False)
                log.info("resume: %s keeps %d of its %d episodes (to step %d)", mon,
                         len(kept), len(rows), upto)
                return {"path": mon}
        log.warning("resume: no monitor file of %s's run in %s (saved before 2026-12-04?): "
                    "curve.csv starts again at this resume, at step %d", CKPT_FILE, out, upto)
    header = {"t_start": venv.t_start, "env_id": str(env_id)}
    venv.results_writer = ResultsWriter(str(pending), header=header, extra_keys=(STEPS,))
    return {"path": pending}


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 1 << 62  # not a step count: after any checkpoint


def _write_curve(out: Path, upto: int) -> list[dict[str, Any]]:
    """The episodes of SB3's monitor file that ended by step ``upto``, written whole as
    curve.csv (through a temporary file, replaced at once) and returned."""
    rows: list[dict[str, Any]] = []
    try:
        _, _, fields, mon = _monitor_rows(out / MONITOR_FILE)
    except (OSError, ValueError):
        mon = []
    for r in mon:
        steps = _int(r.get(STEPS) or "")
        if steps <= upto:
            rows.append({"episode": len(rows) + 1, "steps": steps, "return": float(r["r"]),
                         "faults": int(r["l"]), "wall_s": float(r["t"])})
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=["episode", "steps", "return", "faults", "wall_s"])
    w.writeheader()
    w.writerows(rows)
    write_text_atomic(out / CURVE, buf.getvalue())
    return rows

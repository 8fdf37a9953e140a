"""``SB3Policy``: a trained stable-baselines3 network deciding ``k`` (simulator only).

``python train.py policy=ppo|dqn`` trains it (:mod:`cowrl.training.sb3`) and
saves SB3's own zip next to ``policy.json``. At each fault the policy builds
the env's observation (:func:`cowrl.sim.context.features` of the engine's
context, plus a one-hot of its previous action if trained with one). It has
no kernel form: a float MLP does not belong in the fault path
(``kernel_program`` raises, so ``eval.py target=kernel`` skips it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cowrl.policies.base import FaultContext, KernelProgram, Policy
from cowrl.sim.context import N_FEATURES, features

ALGOS = ("ppo", "dqn")
MODEL_FILE = "policy.sb3.zip"


def algo_class(algo: str) -> Any:
    from stable_baselines3 import DQN, PPO

    return {"ppo": PPO, "dqn": DQN}[algo]


class SB3Policy(Policy):
    """A trained SB3 model deciding k from the env's observation (simulator only)."""

    artifact_kind = "sb3"

    def __init__(self, model_path: str | Path, algo: str, degrees: Sequence[int],
                 name: str = "ppo", prev_action_obs: bool = False) -> None:
        self.name = name
        self.algo = algo
        self.model_file = Path(model_path).name
        self.degrees = [int(d) for d in degrees]
        self.prev_action_obs = prev_action_obs
        self.model = algo_class(algo).load(str(model_path), device="cpu")
        self._prev_a = -1

    def reset(self, n_pages: int, seed: int | None = None) -> None:
        self._prev_a = -1

    def decide(self, ctx: FaultContext) -> int:
        feats = features(ctx)
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

    def artifact_spec(self) -> dict[str, Any]:
        return {"algo": self.algo, "model": self.model_file, "degrees": self.degrees,
                "prev_action_obs": self.prev_action_obs}

    @classmethod
    def from_artifact(cls, spec: dict[str, Any], name: str, directory: Path) -> SB3Policy:
        return SB3Policy(directory / spec["model"], algo=spec["algo"], degrees=spec["degrees"],
                         name=name, prev_action_obs=spec.get("prev_action_obs", False))

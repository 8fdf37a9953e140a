"""``SB3Policy``: a trained stable-baselines3 network deciding ``k`` (simulator only).

``python train.py policy=ppo|dqn`` trains it (:mod:`cowrl.training.sb3`) and
saves SB3's own zip next to ``policy.json``. At each fault the policy builds
the env's observation (:func:`cowrl.sim.context.features` of the engine's
context, plus a one-hot of its previous action if trained with one, plus guarded's
context if trained with ``features=guarded``; a shielded policy caps its ``k`` by
guarded's risk budget, :mod:`cowrl.policies.shield`). It has
no kernel form: a float MLP does not belong in the fault path
(``kernel_program`` raises, so ``eval.py target=kernel`` skips it). A shielded one is
distilled into a guarded table that has one (:mod:`cowrl.policies.distill`,
``experiments/distill.py``).
"""

from __future__ import annotations

import copy
import math
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cowrl.errors import ConfigError
from cowrl.policies.base import FaultContext, KernelProgram, Policy
from cowrl.policies.shield import GuardView, repriced
from cowrl.sim.context import features
from cowrl.sim.costmodel import CostModel

ALGOS = ("ppo", "dqn")
MODEL_FILE = "policy.sb3.zip"


def algo_class(algo: str) -> Any:
    from stable_baselines3 import DQN, PPO

    return {"ppo": PPO, "dqn": DQN}[algo]


def load_model(path: str | Path, algo: str) -> Any:
    """SB3's ``algo`` model saved at ``path``, or a one-line ConfigError naming the file
    (missing, not a zip, not that algorithm's model)."""
    p = Path(path)
    if algo not in ALGOS:
        raise ConfigError(f"algo: {algo!r} is not one of {', '.join(ALGOS)}")
    if not p.is_file():  # SB3 would look for path + ".zip" and report that name
        raise ConfigError(f"{p}: no such model file")
    try:
        return algo_class(algo).load(str(p), device="cpu")
    except (OSError, ValueError, KeyError, AttributeError, RuntimeError, zipfile.BadZipFile
            ) as e:
        raise ConfigError(f"{p}: not a readable {algo} model ({e})") from None


class SB3Policy(Policy):
    """A trained SB3 model deciding k from the env's observation (simulator only)."""

    artifact_kind = "sb3"

    def __init__(self, model_path: str | Path, algo: str, degrees: Sequence[int],
                 name: str = "ppo", prev_action_obs: bool = False, features: str = "engine",
                 guard: Mapping[str, int] | None = None, shield: bool = False,
                 guard_lam: float | None = None) -> None:
        self.name = name
        self.algo = algo
        self.model_file = Path(model_path).name
        self.degrees = [int(d) for d in degrees]
        self._index = {d: i for i, d in enumerate(self.degrees)}
        self.prev_action_obs = prev_action_obs
        self.features = features
        self.shield = bool(shield)
        # guarded's context (its features, its shield): GuardView, as in the training env.
        if (features == "guarded" or self.shield) and guard is None:
            raise ConfigError(f"policy {name!r}: features={features!r}/shield need the "
                              "guard's budget constants")
        self.view = None if guard is None else GuardView(guard, shield=self.shield,
                                                         degrees=self.degrees)
        # lambda the shield was priced with (train.py's): with it the shield can be re-priced
        # under another cost model (deployed_under); an artifact saved before it has none.
        if guard_lam is not None and (isinstance(guard_lam, bool)
                                      or not isinstance(guard_lam, int | float)
                                      or not math.isfinite(guard_lam) or guard_lam < 0):
            raise ConfigError(f"policy {name!r}: guard_lam must be a number >= 0, "
                              f"got {guard_lam!r}")
        self.guard_lam = None if guard_lam is None else float(guard_lam)
        self.model = load_model(model_path, algo)
        self._prev_a = -1

    def deployed_under(self, cost: CostModel) -> Policy:
        """A shielded network saved with its ``guard_lam``: the same network whose shield has
        ``cost``'s prices and allowance (:func:`~cowrl.policies.shield.repriced`), as a frozen
        bandit's or ``guarded``'s budget follows the cost model, so the bound holds in the
        prices it is evaluated with. Unshielded, or saved before ``guard_lam``: itself (its
        shield keeps the prices it was trained with). Already priced by ``cost``: itself, so
        that replaying the deployed form (``for_trace``) deploys it once."""
        if self.view is None or not self.shield or self.guard_lam is None:
            return self
        constants = repriced(self.view.constants, cost, self.guard_lam)
        if dict(constants) == dict(self.view.constants):
            return self
        p = copy.copy(self)  # the same loaded network; its own view and previous action
        p.view = GuardView(constants, shield=True, degrees=self.degrees)
        p._prev_a = -1
        return p

    def priced(self, cost: CostModel) -> CostModel:
        """A shield with interior proofs (``proof: 1``) runs guarded's version-4 budget: the
        shield's :class:`GuardedPolicy` prices it (each copied page pays its clean,
        :meth:`CostModel.with_clean`), so the network's runs cost what guarded's would."""
        return self.view.guard.priced(cost) if self.view is not None else cost

    def reset(self, n_pages: int, seed: int | None = None) -> None:
        self._prev_a = -1
        if self.view is not None:
            self.view.reset(n_pages)

    def decide(self, ctx: FaultContext) -> int:
        parts = [features(ctx)]
        if self.prev_action_obs:
            onehot = np.zeros(len(self.degrees), dtype=np.float32)
            if self._prev_a >= 0:
                onehot[self._prev_a] = 1.0
            parts.append(onehot)
        if self.view is not None:
            g = self.view.observe(ctx)
            if self.features == "guarded":
                parts.append(g)
        obs = np.concatenate(parts) if len(parts) > 1 else parts[0]
        a, _ = self.model.predict(obs, deterministic=True)
        k = self.degrees[int(a)]
        if self.view is not None:  # the shield (or, unshielded, the context's commit)
            k = self.view.act(k)
        self._prev_a = self._index[k]
        return k

    def kernel_program(self) -> KernelProgram:
        raise NotImplementedError(f"policy {self.name!r} (an SB3 network) has no kernel form")

    def artifact_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"algo": self.algo, "model": self.model_file,
                                "degrees": self.degrees, "prev_action_obs": self.prev_action_obs}
        if self.view is not None:
            spec.update(features=self.features, shield=self.shield,
                        guard=dict(self.view.constants))
            if self.guard_lam is not None:
                spec["guard_lam"] = self.guard_lam
        return spec

    @classmethod
    def from_artifact(cls, spec: dict[str, Any], name: str, directory: Path) -> SB3Policy:
        return SB3Policy(directory / spec["model"], algo=spec["algo"], degrees=spec["degrees"],
                         name=name, prev_action_obs=spec.get("prev_action_obs", False),
                   features=spec.get("features", "engine"), guard=spec.get("guard"),
                   shield=spec.get("shield", False), guard_lam=spec.get("guard_lam"))

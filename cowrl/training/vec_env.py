"""An SB3 ``VecEnv`` over :class:`~cowrl.envs.vector.PrecopyVectorEnv` (many envs, one loop).

gymnasium's vector API and stable-baselines3's differ at one boundary: SB3
expects a sub-env that ends to be reset in the same ``step`` (its final
observation in ``info["terminal_observation"]``), gymnasium's
``PrecopyVectorEnv`` resets it on the next step (``AutoresetMode.NEXT_STEP``).
The adapter resets ended sub-envs at once through ``reset_mask``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvStepReturn

from cowrl.envs.vector import PrecopyVectorEnv


class SB3VecEnv(VecEnv):
    """``PrecopyVectorEnv`` seen as an SB3 ``VecEnv`` (same-step autoreset, per-env infos)."""

    def __init__(self, venv: PrecopyVectorEnv, seed: int | None = None) -> None:
        self.venv = venv
        self._seed = seed
        self._actions: np.ndarray | None = None
        super().__init__(venv.num_envs, venv.single_observation_space,
                         venv.single_action_space)

    def reset(self) -> np.ndarray:
        # VecEnv.seed(s) (SB3 calls it with the algorithm's seed) sets one seed per sub-env.
        seeds: Any = self._seeds if any(s is not None for s in self._seeds) else self._seed
        obs, _ = self.venv.reset(seed=seeds)
        self._seed = None  # later resets continue each sub-env's own generator
        self._reset_seeds()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> VecEnvStepReturn:
        obs, reward, terminated, truncated, info = self.venv.step(self._actions)
        ended = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if ended.any():
            for i in np.flatnonzero(ended):
                infos[i]["terminal_observation"] = obs[i].copy()
                infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            obs, _ = self.venv.reset(options={"reset_mask": ended})
        return obs, reward.astype(np.float32), ended, infos

    def close(self) -> None:
        self.venv.close()

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self.venv, attr_name) for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None,
                   **method_kwargs: Any) -> list[Any]:
        fn = getattr(self.venv, method_name)
        return [fn(*method_args, **method_kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None] * self.num_envs

"""Gymnasium environments: ``cowrl/Precopy-v0`` (single) and its vector entry point.

Importing this registers the env; ``import cowrl`` does so lazily (when gymnasium
is imported). Entry points are strings, so registering imports neither the envs
nor numba. Bump the version when reward or cost semantics change.
"""

from gymnasium.envs.registration import register, registry

ENV_ID = "cowrl/Precopy-v0"


def register_envs() -> None:
    """Register :data:`ENV_ID` with gymnasium (idempotent)."""
    if ENV_ID not in registry:
        register(
            id=ENV_ID,
            entry_point="cowrl.envs.precopy_env:PrecopyEnv",
            vector_entry_point="cowrl.envs.vector:PrecopyVectorEnv",
        )


register_envs()

__all__ = ["ENV_ID", "register_envs"]

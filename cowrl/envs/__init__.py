"""Gymnasium environments. Importing this registers ``cowrl/Precopy-v0``.

Entry points are strings, so registering imports neither the envs nor numba.
Bump the version when reward or cost semantics change.
"""

from gymnasium.envs.registration import register, registry

ENV_ID = "cowrl/Precopy-v0"

if ENV_ID not in registry:
    register(
        id=ENV_ID,
        entry_point="cowrl.envs.precopy_env:PrecopyEnv",
        vector_entry_point="cowrl.envs.vector:PrecopyVectorEnv",
    )

__all__ = ["ENV_ID"]

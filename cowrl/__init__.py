import cowrl.envs  # noqa: F401  (registers cowrl/Precopy-v0)

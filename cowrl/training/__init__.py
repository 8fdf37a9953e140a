"""Training: ``train(cfg) -> dict`` and the loops it dispatches to (bandits, SB3)."""

from cowrl.training.core import build_policy, score, train, workload_seed

__all__ = ["build_policy", "score", "train", "workload_seed"]

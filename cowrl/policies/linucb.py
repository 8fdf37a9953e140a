"""LinUCB (Li et al., 2010), disjoint: one ridge regression per degree over context features.

The features are numeric encodings of the context cell's parts
(:mod:`cowrl.policies.context`): whether a stream matched and how (address
delta: exact continuation or near-forward gap), the stream's run length
(log2-bucketed), the recent match rate (the hit rate of recent precopy
windows), and their interactions. Cells share what they learn through the
linear model, so a cell seen rarely in training borrows from its neighbours.
Because the features are a function of the cell, the greedy policy is a
cell -> degree table, deployed exactly like the other bandits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from cowrl.policies.bandits import DEFAULT_DEGREES, Learner, _positive
from cowrl.policies.context import GAP_BUCKETS, N_CELLS, RATE_BUCKETS, RUN_BUCKETS

FEATURES = ("bias", "exact", "near", "run", "rate", "exact*run", "near*run", "rate*run")


def cell_features(cell: int) -> np.ndarray:
    rate_b = cell % RATE_BUCKETS
    run_b = (cell // RATE_BUCKETS) % RUN_BUCKETS
    gap_b = cell // (RATE_BUCKETS * RUN_BUCKETS)
    assert gap_b < GAP_BUCKETS
    run = run_b / (RUN_BUCKETS - 1)
    rate = rate_b / (RATE_BUCKETS - 1)
    exact, near = float(gap_b == 1), float(gap_b == 2)
    return np.array([1.0, exact, near, run, rate, exact * run, near * run, rate * run])


class LinUCB(Learner):
    """Per-arm ridge ``theta_a = A_a^-1 b_a``; plays ``theta.phi + alpha * ||phi||_(A^-1)``."""

    def __init__(self, arms: Sequence[int] = DEFAULT_DEGREES, n_contexts: int = N_CELLS,
                 seed: int = 0, alpha: float = 0.3, l2: float = 1.0) -> None:
        super().__init__(arms, n_contexts, seed)
        self.alpha = _positive("policy.learner.alpha", alpha, allow_zero=True)
        self.l2 = _positive("policy.learner.l2", l2)
        self.phi = np.stack([cell_features(c) for c in range(n_contexts)])
        self.reset()

    def reset(self) -> None:
        d = self.phi.shape[1]
        self.A_inv = np.stack([np.eye(d) / self.l2 for _ in self.arms])
        self.b = np.zeros((len(self.arms), d))

    def _update(self, c: int, a: int, r: float) -> None:
        x = self.phi[c]
        Ax = self.A_inv[a] @ x
        self.A_inv[a] -= np.outer(Ax, Ax) / (1.0 + x @ Ax)  # Sherman-Morrison
        self.b[a] += r * x

    def _theta(self) -> np.ndarray:
        return np.einsum("aij,aj->ai", self.A_inv, self.b)

    def _means(self, c: int) -> np.ndarray:
        return self._theta() @ self.phi[c]

    def _select(self, c: int) -> int:
        x = self.phi[c]
        width = np.sqrt(np.einsum("i,aij,j->a", x, self.A_inv, x))
        return int(np.argmax(self._theta() @ x + self.alpha * width))

    def get_state(self) -> dict[str, Any]:
        return {"A_inv": self.A_inv.tolist(), "b": self.b.tolist()}

    def set_state(self, state: dict[str, Any]) -> None:
        self.A_inv = np.asarray(state["A_inv"], dtype=np.float64)
        self.b = np.asarray(state["b"], dtype=np.float64)

    def params(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "l2": self.l2}

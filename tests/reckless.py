"""A proposer that always asks for the same window, so that the shield alone decides.

Shared by the shield tests (tests/test_shield_floor.py, tests/test_shipped_proof_ttl.py,
tests/shieldpaths.py).
"""

from __future__ import annotations

from cowrl.policies.bandits import DEFAULT_DEGREES, DiscountedUCB
from cowrl.policies.guarded import ALIGN_ARMS, N_CELLS


class Reckless(DiscountedUCB):
    """Always proposes ``want``: the shield alone decides."""

    def __init__(self, want: int = 64) -> None:
        super().__init__(arms=(*DEFAULT_DEGREES, *ALIGN_ARMS))
        self.want = want

    def _select(self, c: int) -> int:
        return self._index[self.want]

    def greedy(self, contexts: object = None) -> list[int]:
        return [self.want] * N_CELLS

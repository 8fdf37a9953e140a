"""Trace-driven COW replay: the cost model, the replay engine and ``simulate()``."""

from cowrl.sim import _jit_cache  # noqa: F401  (first: numba's cache keys, see the module)
from cowrl.sim.context import FaultContext, FaultEvent
from cowrl.sim.costmodel import CopyWholeHuge, CostModel, NoiseModel, SplitThenCopy, THPModel
from cowrl.sim.engine import ReplayEngine
from cowrl.sim.simulator import SimEvents, simulate

__all__ = ["CostModel", "NoiseModel", "THPModel", "SplitThenCopy", "CopyWholeHuge",
           "FaultContext", "FaultEvent", "ReplayEngine", "SimEvents", "simulate"]

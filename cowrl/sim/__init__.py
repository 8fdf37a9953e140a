"""Trace-driven COW simulator and its cost model."""

from cowrl.sim.costmodel import CopyWholeHuge, CostModel, NoiseModel, SplitThenCopy, THPModel
from cowrl.sim.simulator import PageState, SimEvents, simulate

__all__ = ["CostModel", "NoiseModel", "THPModel", "SplitThenCopy", "CopyWholeHuge",
           "PageState", "SimEvents", "simulate"]

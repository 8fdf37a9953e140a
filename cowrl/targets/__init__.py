"""Targets: where the runs of a plan happen (the simulator, a real kernel, a stand-in).

One interface, :class:`Target` (``run(plan) -> list[RunRecord]``), built by
Hydra from ``conf/target/<name>.yaml`` (``_target_``) through
:func:`make_target`. ``evaluate``, ``calibrate``, ``experiments/fidelity.py``
and ``experiments/compare_targets.py`` take a Target and never ask which one.

* :class:`cowrl.targets.sim.SimTarget` (``target=sim``): the simulator.
* :class:`cowrl.targets.kernel.KernelTarget` (``target=kernel``): the module
  in a real Linux kernel, booted under qemu or the running one
  (``kernel.runner=qemu|host``).
* :class:`cowrl.targets.simulated.SimulatedKernel` (``target=kernel_sim``):
  the simulator dressed as the kernel target, for tests of the pipelines that
  need no guest. Never a measurement.
* :class:`cowrl.targets.hostbench.HostBench` (``calibrate.py target=host``):
  user-space microbenchmarks of this machine's kernel; calibration only.
"""

from cowrl.targets.base import Plan, Target, make_target

__all__ = ["Plan", "Target", "make_target"]

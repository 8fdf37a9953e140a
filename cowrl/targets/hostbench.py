"""``calibrate.py target=host``: this machine's running kernel, measured from user space."""

from __future__ import annotations

from typing import Any


class HostBench:
    """User-space microbenchmarks of COW faults on the running kernel (no root, no module).

    A calibration target only: it measures fault, copy and populate costs
    (:mod:`cowrl.calibration.host`) and replays no traces, so ``eval.py``
    refuses it.

    Args:
        name: the target's name in provenance.
        costmodel: the cost model ``calibrate.py`` writes by default.
    """

    def __init__(self, name: str = "host", costmodel: str = "host") -> None:
        self.name = name
        self.costmodel = costmodel
        self.calibration_name = costmodel

    def calibrate(self, cc: Any) -> dict[str, Any]:
        """Measure and fit: ``params``, ``provenance`` and the YAML's ``header``."""
        from cowrl.calibration.host import calibrate_host

        res = calibrate_host(cc)
        res["header"] = (
            "CALIBRATED on this machine's running kernel by `python calibrate.py target=host"
            f"{' quick=true' if cc.quick else ''}`.\nNative costs (no emulator); user-space "
            "microbenchmarks, no module. See docs/calibration.md\nfor the identification "
            "assumptions; `provenance` has the fits. Do not edit by hand:\nre-run the command.")
        return res

    def __repr__(self) -> str:
        return f"HostBench(name={self.name!r})"

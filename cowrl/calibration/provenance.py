"""Where a measurement was taken: machine, kernel, accelerator, load, date."""

from __future__ import annotations

import datetime as _dt
import os
import platform
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg() -> float:
    try:
        return float(os.getloadavg()[0])
    except OSError:
        return float("nan")


def thp_setting() -> str:
    try:
        return Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text().strip()
    except OSError:
        return "unavailable"


def host_facts() -> dict[str, Any]:
    """Facts about the machine this process runs on."""
    return {
        "kernel": platform.release(),
        "cpu_model": cpu_model(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "hostname": platform.node(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def load_note(before: float, after: float, cpus: int | None) -> dict[str, Any]:
    """Load average around the measurement and a plain statement of what it means."""
    n = cpus or 1
    busy = max(before, after) >= 0.5 * n
    return {
        "loadavg_1min_before": round(before, 2),
        "loadavg_1min_after": round(after, 2),
        "under_load": bool(busy),
        "load_note": (f"measured while other work ran (1-min load up to "
                      f"{max(before, after):.2f} on {n} CPUs): latencies include interference"
                      if busy else f"machine mostly idle (1-min load <= {max(before, after):.2f} "
                      f"on {n} CPUs)"),
    }

"""``calibrate(cfg) -> dict``: measure a target, fit, write ``conf/costmodel/<name>.yaml``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from cowrl.calibration.config import CalibrationConfig
from cowrl.calibration.writer import write_costmodel
from cowrl.registry import CONF_DIR, make_costmodel
from cowrl.sim.costmodel import PARAM_FIELDS

log = logging.getLogger(__name__)

FALLBACK = "seed_table1"

_HEADERS = {
    "host": ("CALIBRATED on this machine's running kernel by `python calibrate.py target=host"
             "{quick}`.\nNative costs (no emulator); user-space microbenchmarks, no module. "
             "See docs/calibration.md\nfor the identification assumptions; `provenance` has "
             "the fits. Do not edit by hand:\nre-run the command."),
    "kernel": ("CALIBRATED through the kernel target by `python calibrate.py target=kernel"
               "{quick}`:\nmodule + replay harness in the {runner} guest ({accel}). Matches "
               "`eval.py target=kernel`.\nClock: {clock}.\nSee docs/calibration.md; "
               "`provenance` has the fits. Do not edit by hand: re-run."),
    "fake": ("FAKE: produced by calibrate.py with kernel_bench.backend=fake, i.e. from the "
             "simulator\nwith a known cost model. NOT A MEASUREMENT; for testing the pipeline "
             "only."),
}


def calibrate(cfg: Any) -> dict[str, Any]:
    """Calibrate ``cfg.target`` and write the cost model; returns params, path and provenance."""
    cc = CalibrationConfig.from_cfg(cfg)
    if cc.target == "host":
        from cowrl.calibration.host import calibrate_host

        res = calibrate_host(cc)
    else:
        from cowrl.calibration.kernel import calibrate_kernel

        res = calibrate_kernel(cc)
    params, prov = res["params"], res["provenance"]
    fallback = make_costmodel(FALLBACK)
    for f in ("thp_split_ns", "write_ns"):
        if params.get(f) is None:
            params[f] = getattr(fallback, f)
            prov.setdefault("notes", []).append(
                f"{f} not measured here: taken from costmodel {FALLBACK} ({params[f]:.0f} ns)")
            prov.setdefault("borrowed", {})[f] = FALLBACK
    out_dir = Path(cc.out_dir) if cc.out_dir else CONF_DIR / "costmodel"
    fake = str(prov.get("source", "")).startswith("FAKE")
    header = _HEADERS["fake" if fake else cc.target].format(
        quick=" quick=true" if cc.quick else "", runner=prov.get("runner"),
        accel=prov.get("accelerator"), clock=prov.get("clock", "unknown"))
    path = write_costmodel(out_dir / f"{cc.name}.yaml", cc.name, params, prov, header)
    _print_summary(cc.name, path, params, prov)
    result = {"name": cc.name, "path": str(path), "params": params, "provenance": prov}
    report = _run_dir()
    if report is not None:
        (report / "calibration.json").write_text(json.dumps(result, indent=1, default=str))
    return result


def _run_dir() -> Path | None:
    try:
        from hydra.core.hydra_config import HydraConfig

        return Path(HydraConfig.get().runtime.output_dir)
    except (ValueError, ImportError):
        return None


def _print_summary(name: str, path: Path, params: dict[str, Any], prov: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    clock = f", {prov['clock'].split(':')[0]}" if prov.get("clock") else ""
    t = Table(title=f"cost model {name!r} ({prov.get('target')}, {prov.get('accelerator')}"
                    f"{clock}, kernel {prov.get('kernel')})", min_width=70)
    t.add_column("parameter")
    t.add_column("ns", justify="right")
    for f in PARAM_FIELDS:
        t.add_row(f, f"{params[f]:.1f}")
    t.add_row("noise sigma", f"{params['sigma']:.3f}")
    con = Console(width=120)
    con.print(t)
    fits = prov.get("fits", {})
    for key in ("demand", "faults", "populate_write", "thp"):
        if key in fits:
            f = fits[key]
            con.print(f"fit {key}: n={f['n']} R²={f['r2']:.3f} rmse={f['rmse_ns']:.0f} ns "
                      f"coef={f['coef_ns']} (trimmed {f.get('trimmed', 0)})")
    for n in prov.get("notes", []):
        con.print(f"note: {n}")
    con.print(f"[bold]{prov.get('load_note', '')}[/bold]")
    con.print(f"wrote {path}  (use it with costmodel={name})")

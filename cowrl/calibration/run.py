"""``calibrate(cfg) -> dict``: measure a target, fit, write ``conf/costmodel/<name>.yaml``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from cowrl.calibration.config import CalibrationConfig
from cowrl.calibration.writer import write_costmodel
from cowrl.cli import output_dir
from cowrl.registry import CONF_DIR, make_costmodel
from cowrl.sim.costmodel import PARAM_FIELDS

log = logging.getLogger(__name__)

FALLBACK = "seed_table1"


def calibrate(cfg: Any, target: Any = None) -> dict[str, Any]:
    """Calibrate ``target`` (default: built from ``cfg.target``) and write the cost model;
    returns params, path and provenance.

    A target that replays traces (:class:`cowrl.targets.Target`: ``kernel``, or the
    ``kernel_sim`` stand-in) runs the kernel design and is fitted
    (:func:`cowrl.calibration.kernel.calibrate_kernel`); a calibration-only target
    (``host``) measures itself (``target.calibrate``).
    """
    from cowrl.targets import Target

    cc = CalibrationConfig.from_cfg(cfg)
    # checked before the measurement (minutes on the kernel target), not after it
    out_dir = output_dir(cc.out_dir if cc.out_dir else CONF_DIR / "costmodel", "out_dir")
    target = target if target is not None else cc.target
    if isinstance(target, Target):
        from cowrl.calibration.kernel import calibrate_kernel

        res = calibrate_kernel(cc, target)
    else:
        res = target.calibrate(cc)
    name = cc.name or target.calibration_name
    params, prov = res["params"], res["provenance"]
    fallback = make_costmodel(FALLBACK)
    for f in ("thp_split_ns", "write_ns"):
        if params.get(f) is None:
            params[f] = getattr(fallback, f)
            prov.setdefault("notes", []).append(
                f"{f} not measured here: taken from costmodel {FALLBACK} ({params[f]:.0f} ns)")
            prov.setdefault("borrowed", {})[f] = FALLBACK
    path = write_costmodel(out_dir / f"{name}.yaml", name, params, prov, res["header"])
    _print_summary(name, path, params, prov)
    result = {"name": name, "path": str(path), "params": params, "provenance": prov}
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
    for prog, v in (params.get("decide_program_ns") or {}).items():
        t.add_row(f"decide_program_ns.{prog}", f"{v:.1f}")
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
    conf = CONF_DIR / "costmodel"  # where costmodel=NAME looks (cowrl.registry)
    if path.resolve().parent == conf.resolve():
        con.print(f"wrote {path}  (use it with costmodel={name})", soft_wrap=True)
    else:  # out_dir=elsewhere: costmodel=NAME would be an unknown costmodel
        con.print(f"wrote {path}  (not in conf/costmodel: copy it to {conf}/ to use it as "
                  f"costmodel={name})", soft_wrap=True)

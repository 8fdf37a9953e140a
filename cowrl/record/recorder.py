"""``record(cfg)`` behind ``python record.py app=NAME out=DIR``: record, convert, write.

The recording runs as a job of ``kind: record`` in the kernel target's runner
(the qemu guest, or ``kernel.runner=host``): :mod:`cowrl.record.guest` drains
the module's records while :mod:`cowrl.record.drivers` runs the program. Here
the records become a multi-region trace (:mod:`cowrl.traces.io`): demand COW
faults of the app's processes from the fork mark to the end mark, in the
anonymous VMAs they hit (one region per writer and VMA). Everything is written
to a temporary directory beside ``out`` and renamed at the end.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from cowrl.cli import output_dir
from cowrl.errors import ConfigError, CowrlError
from cowrl.kernel import build
from cowrl.kernel.abi import load_abi, record_dtype
from cowrl.kernel.backend import new_job
from cowrl.kernel.config import KernelConfig
from cowrl.kernel.runners import PROJECT_ROOT
from cowrl.registry import CONF_DIR, available
from cowrl.traces.io import PAGE_SIZE, Trace, save_trace

ANON_NAMES = ("", "[heap]", "[stack]")


def _log(progress: bool, msg: str) -> None:
    if progress:
        print(f"[record] {msg}", file=sys.stderr, flush=True)


def load_app(app_cfg: Any) -> dict[str, Any]:
    """The selected app (``cfg.app``) as a plain dict."""
    if app_cfg is None:
        raise ConfigError("app: name an app, e.g. app=cpython_prefork "
                          f"(available: {', '.join(available('app'))})")
    app = OmegaConf.to_container(app_cfg, resolve=True) if not isinstance(app_cfg, dict) \
        else dict(app_cfg)
    assert isinstance(app, dict)
    for key in ("name", "driver", "timeout_s"):
        if key not in app:
            raise ConfigError(f"app.{key}: missing in the app's config")
    _check_timeout(app)
    mem = app.get("memory_mb")
    if mem is not None and (isinstance(mem, bool) or not isinstance(mem, int) or mem <= 0):
        raise ConfigError(f"app.memory_mb: {mem!r} is not a positive integer (MiB)")
    # A driver reads its own parameters and would ignore any other (+app.params.X=...) in a
    # recording of minutes: only app=command passes every parameter on to its program.
    own = CONF_DIR / "app" / f"{app['name']}.yaml"
    if app["driver"] != "command" and own.is_file():
        known = OmegaConf.load(own).get("params") or {}
        extra = sorted(set(app.get("params") or {}) - set(known))
        if extra:
            raise ConfigError(f"app.params.{extra[0]}: app {app['name']} takes no such "
                              f"parameter (it takes: {', '.join(known) or 'none'})")
    return app


def _check_timeout(app: dict[str, Any]) -> None:
    try:
        ok = float(app["timeout_s"]) > 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(f"app.timeout_s: {app['timeout_s']!r} is not a positive number "
                          "of seconds")


# Where app=command looks up a bare argv[0] (the guest's PATH, not the user's: a shim or a
# virtualenv on the user's PATH is not what a recording should silently run).
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"


def check_command(app: dict[str, Any]) -> None:
    """``app=command``: ``app.argv`` resolved in place (argv[0] to an absolute path, every
    argument a string) before the guest boots; a one-line ConfigError naming the field.

    The guest sees this machine's root read-only (the qemu runner's 9p share), so an
    executable found here is the one the guest runs. A bare name is looked up in
    SYSTEM_PATH; a name with a slash is a path (relative to the current directory)."""
    argv = app.get("argv")
    if isinstance(argv, str):
        try:
            argv = shlex.split(argv)
        except ValueError as e:
            raise ConfigError(f"app.argv: cannot split {argv!r} ({e})") from None
    if not isinstance(argv, list) or not argv:
        raise ConfigError("app.argv: give the command line to record, e.g. "
                          "'app.argv=[/usr/bin/perl,-e,CODE]' (a list, or one string)")
    for i, a in enumerate(argv):
        if a is None or isinstance(a, (dict, list)):
            raise ConfigError(f"app.argv: argument {i} is {a!r}, not a string")
    exe = shutil.which(str(argv[0]), path=SYSTEM_PATH)
    if exe is None:
        raise ConfigError(f"app.argv: {argv[0]!r} names no executable file (a path, or a "
                          f"name in {SYSTEM_PATH})")
    exe = str(Path(exe).absolute())
    app["argv"] = [exe, *(str(a) for a in argv[1:])]
    app["program"] = exe
    name = app.get("trace_name") or Path(exe).name
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", str(name)):
        raise ConfigError(f"app.trace_name: {name!r} is not a file stem (letters, digits, "
                          "'_', '.', '-')")
    app["trace_name"] = str(name)
    _check_timeout(app)
    if shutil.which("dpkg-query") is None:
        return
    real = os.path.realpath(exe)
    for path in (real, re.sub(r"^/usr/(s?bin|lib)/", r"/\1/", real)):  # merged /usr
        owner = subprocess.run(["dpkg-query", "-S", path], capture_output=True, text=True)
        if owner.returncode == 0 and ":" in owner.stdout:  # provenance: the Debian package
            app["packages"] = {Path(exe).name: owner.stdout.split(":", 1)[0].strip()}
            return


def check_programs(app: dict[str, Any]) -> dict[str, str]:
    """Resolve the app's programs to paths; ConfigError naming the Debian package if missing."""
    programs = dict(app.get("programs") or {})
    if "program" in app:
        programs.setdefault(Path(str(app["program"])).name, str(app["program"]))
    found = {}
    for prog, path in programs.items():
        exe = shutil.which(str(path))
        if exe is None:
            pkg = (app.get("packages") or {}).get(prog, prog)
            raise CowrlError(f"app {app['name']}: program {prog} is not installed "
                             f"({path} not found); install the Debian package {pkg} "
                             f"('apt-get install {pkg}')")
        found[prog] = exe
    for mod in app.get("python_modules") or []:
        exe = found[Path(str(app["program"])).name]
        if subprocess.run([exe, "-I", "-c", f"import {mod}"], capture_output=True).returncode:
            pkg = (app.get("packages") or {}).get(mod, mod)
            raise CowrlError(f"app {app['name']}: {exe} cannot import {mod}; install the "
                             f"Debian package {pkg} ('apt-get install {pkg}')")
    return found


def package_versions(app: dict[str, Any]) -> dict[str, str]:
    out = {}
    for pkg in sorted(set((app.get("packages") or {}).values())):
        try:
            out[pkg] = build.package_version(pkg)
        except Exception:  # noqa: BLE001 - provenance only
            out[pkg] = "unknown"
    return out


# -- records -> trace ----------------------------------------------------------------------
def _vma_table(maps_file: Path, roles: dict[int, int]) -> dict[int, np.ndarray]:
    """Per writer role: merged anonymous intervals [lo, hi) seen in any maps snapshot.

    A child's address space starts as its parent's copy, so the parent's VMAs
    are the fallback for a child whose own snapshot missed an address.
    """
    per: dict[int, list[tuple[int, int]]] = {}
    for line in maps_file.read_text().splitlines():
        snap = json.loads(line)
        role = roles.get(int(snap["pid"]))
        if role is None:
            continue
        for lo, hi, perms, name in snap["vmas"]:
            if name in ANON_NAMES and "w" in perms and "s" not in perms:
                per.setdefault(role, []).append((int(lo), int(hi)))
    out = {}
    for role, ivs in per.items():
        ivs.sort()
        merged: list[list[int]] = []
        for lo, hi in ivs:
            if merged and lo <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        out[role] = np.array(merged, dtype=np.uint64).reshape(-1, 2)
    return out


def records_to_trace(jobdir: Path, name: str, meta: dict[str, Any]) -> tuple[Trace, dict]:
    """The demand faults of the app's roles between the fork and end marks, as a Trace."""
    rep = json.loads((jobdir / "record.json").read_text())
    figures = rep["figures"]
    roles = {int(p): int(r) for p, r in figures["roles"].items()}
    t_fork, t_end = int(rep["marks"]["fork"]), int(rep["marks"]["end"])
    recs = np.memmap(jobdir / "records.bin", dtype=record_dtype(), mode="r") \
        if (jobdir / "records.bin").stat().st_size else np.zeros(0, dtype=record_dtype())
    abi = load_abi()
    # A COW copy for a write of the process: a user fault (DEMAND) or, since ABI v3 flags
    # them apart, a kernel-mode one (copy_to_user into a shared page: read(2) into a buffer).
    cow_flags = abi.COWRL_REC_DEMAND | abi.constants.get("COWRL_REC_KERNEL", 0)
    demand = (recs["flags"] & cow_flags) != 0
    in_window = (recs["start_ns"] >= t_fork) & (recs["start_ns"] <= t_end)
    pid_role = np.full(int(recs["pid"].max()) + 1 if recs.size else 1, -1, dtype=np.int64)
    for p, r in roles.items():
        if p < pid_role.size:
            pid_role[p] = r
    if figures.get("child_roles") == "by_first_fault":
        # Only the app's processes and their descendants are registered: every other pid of
        # the window is a child, numbered by its first fault.
        win = recs["pid"][demand & (recs["start_ns"] >= t_fork) & (recs["start_ns"] <= t_end)]
        _, first = np.unique(win, return_index=True)
        kids = [int(p) for p in win[np.sort(first)] if int(p) not in roles]
        for i, p in enumerate(kids):
            pid_role[p] = i + 1
            roles[p] = i + 1
        if figures.get("exclude_parent"):
            for p, r in list(roles.items()):
                if r == 0:
                    pid_role[p] = -1
    role = np.where(recs["pid"] >= 0, pid_role[np.clip(recs["pid"], 0, pid_role.size - 1)], -1)
    keep = demand & in_window & (role >= 0)
    kernel = (recs["flags"] & abi.constants.get("COWRL_REC_KERNEL", 0)) != 0
    stats: dict[str, Any] = {"records": int(recs.size), "demand": int(demand.sum()),
                             "kernel_mode": int(kernel.sum()),
                             "demand_in_window": int((demand & in_window).sum()),
                             "demand_other_pids": int((demand & in_window & (role < 0)).sum()),
                             "demand_before_fork":
                                 int((demand & (recs["start_ns"] < t_fork)).sum()),
                             "demand_after_end": int((demand & (recs["start_ns"] > t_end)).sum())}
    addr = np.asarray(recs["addr"][keep], dtype=np.uint64)
    t_ns = np.asarray(recs["start_ns"][keep], dtype=np.int64) - t_fork
    wrole = role[keep].astype(np.int32)
    order = np.argsort(t_ns, kind="stable")  # the ring is in completion order
    addr, t_ns, wrole = addr[order], t_ns[order], wrole[order]
    vmas = _vma_table(jobdir / "maps.jsonl", roles)
    region_of = np.full(addr.size, -1, dtype=np.int64)
    starts: list[int] = []
    sizes: list[int] = []
    writers: list[int] = []
    for r in sorted(set(wrole.tolist())):
        ivs = vmas.get(r)
        if ivs is None or ivs.size == 0:
            ivs = vmas.get(0, np.zeros((0, 2), dtype=np.uint64))
        sel = np.nonzero(wrole == r)[0]
        if ivs.size == 0:
            continue
        j = np.searchsorted(ivs[:, 0], addr[sel], side="right") - 1
        ok = (j >= 0) & (addr[sel] < ivs[np.clip(j, 0, None), 1])
        for v in np.unique(j[ok]):
            region_of[sel[ok & (j == v)]] = len(starts)
            starts.append(int(ivs[v, 0]))
            sizes.append(int((ivs[v, 1] - ivs[v, 0]) // PAGE_SIZE))
            writers.append(r)
    anon = region_of >= 0
    stats["file_or_unmapped"] = int((~anon).sum())
    if not anon.any():
        raise CowrlError(f"app {name}: the recording has no COW fault in an anonymous VMA "
                         f"({stats})")
    base = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    starts_a = np.array(starts, dtype=np.uint64)
    ro = region_of[anon]
    pages = base[ro] + ((addr[anon] - starts_a[ro]) // np.uint64(PAGE_SIZE)).astype(np.int64)
    dup = pages.size - np.unique(pages).size
    stats["refaults"] = int(dup)
    stats["writes"] = int(pages.size)
    trace = Trace(pages=pages, n_pages=int(sum(sizes)), name=name, meta=meta,
                  region_sizes=np.array(sizes, dtype=np.int64), t_ns=t_ns[anon],
                  writer=wrole[anon], region_starts=starts_a,
                  region_writers=np.array(writers, dtype=np.int32))
    return trace, stats


# -- the job ---------------------------------------------------------------------------------
def _run_job(app: dict[str, Any], kcfg: KernelConfig, progress: bool) -> tuple[Path, dict]:
    runner, paths, jobdir = new_job(kcfg, f"record-{app['name']}", progress)
    job = {"kind": "record", "version": 1, "out": str(jobdir), "root": str(PROJECT_ROOT),
           "app": app, "thp": app.get("thp", "madvise"), **paths}
    (jobdir / "job.json").write_text(json.dumps(job, indent=1))
    _log(progress, f"recording {app['name']} (job dir {jobdir})")
    info = runner.run(jobdir)
    rec_file = jobdir / "record.json"
    if not rec_file.is_file():
        log = (jobdir / "guest.log")
        tail = log.read_text(errors="replace")[-600:] if log.is_file() else ""
        raise CowrlError(f"app {app['name']}: the recording left no record.json: {tail!r}")
    rep = json.loads(rec_file.read_text())
    if rep.get("error"):
        err = rep["error"].strip().splitlines()
        raise CowrlError(err[-1] if err[0].startswith("Traceback") else err[0])
    return jobdir, {**info, "guest": {k: rep.get(k) for k in (
        "kernel_release", "thp_setting", "counters", "records", "wall_s", "marks")}}


def record(cfg: DictConfig) -> dict[str, Any]:
    """Record app ``cfg.app`` into ``cfg.out``: trace.npz, figures.json, provenance.json."""
    progress = bool(cfg.get("progress", True))
    app = load_app(cfg.get("app"))
    if not cfg.get("out"):
        raise ConfigError("out: give an output directory, e.g. out=recordings/NAME")
    out = Path(str(cfg.out)).expanduser().absolute()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out: {out} exists and is not a directory")
    output_dir(out.parent)  # written beside out at the end: checked before the recording
    if out.exists() and any(out.iterdir()) and not cfg.get("overwrite", False):
        raise ConfigError(f"out: {out} exists and is not empty (overwrite=true replaces it)")
    if app["driver"] == "command":
        check_command(app)
    found = check_programs(app)
    kcfg = KernelConfig.from_any(cfg.kernel)
    if app.get("memory_mb") and int(app["memory_mb"]) > kcfg.memory_mb:
        kcfg.memory_mb = int(app["memory_mb"])
    t0 = time.monotonic()
    jobdir, info = _run_job(app, kcfg, progress)
    try:
        rep = json.loads((jobdir / "record.json").read_text())
        figures = rep["figures"]
        counters = rep.get("counters", {})
        trace_name = str(app.get("trace_name") or app["name"])
        provenance = {
            "app": app["name"], "params": app["params"], "programs": found,
            "packages": package_versions(app), "command": figures.get("command"),
            "kernel_release": info["guest"]["kernel_release"], "runner": info.get("runner"),
            "accel": info.get("accel"), "icount": info.get("icount"),
            "guest_cpus": info.get("guest_cpus"), "memory_mb": kcfg.memory_mb,
            "thp_setting": info["guest"]["thp_setting"],
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "host": platform.node(), "host_load": os.getloadavg(),
            "module_abi": load_abi().version, "policy": "off (observe only, k=0)",
            "dropped": int(counters.get("dropped", 0)), "nmissed": int(counters.get("nmissed", 0)),
            "clock": "CLOCK_MONOTONIC of the guest (ns; under qemu -icount 1 ns = 2^shift "
                     "guest instructions, not wall time)",
        }
        trace, stats = records_to_trace(jobdir, trace_name,
                                        {"recorded": provenance, "figures": figures})
        stats.update({"dropped": provenance["dropped"], "nmissed": provenance["nmissed"],
                      "distinct_pages": int(np.unique(trace.pages).size),
                      "regions": int(trace.region_sizes.size), "n_pages": trace.n_pages})
        if provenance["dropped"] or provenance["nmissed"]:
            _log(True, f"WARNING: the module dropped {provenance['dropped']} record(s) and "
                       f"missed {provenance['nmissed']} probe(s): the trace is incomplete")
        tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_trace(trace, tmp / f"{trace_name}.npz")
        (tmp / "figures.json").write_text(json.dumps({"figures": figures, "stats": stats},
                                                     indent=1, default=str))
        (tmp / "provenance.json").write_text(json.dumps(provenance, indent=1, default=str))
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if not kcfg.keep_jobs:
            shutil.rmtree(jobdir, ignore_errors=True)
    result = {"out": str(out), "trace": str(out / f"{trace_name}.npz"), "stats": stats,
              "figures": figures, "wall_s": time.monotonic() - t0, "runner": info}
    _log(progress, f"{trace_name}: {stats['writes']} writes, {stats['distinct_pages']} "
                   f"distinct pages in {stats['regions']} region(s) of {trace.n_pages} pages; "
                   f"dropped {stats['dropped']}; wrote {out} in {result['wall_s']:.0f} s")
    print(json.dumps({"stats": stats, "figures": figures}, indent=1, default=str))
    return result

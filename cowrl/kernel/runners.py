"""Runners: where a job directory gets executed (a qemu guest, or this host).

Both take a prepared job directory (``job.json`` plus trace files, see
:mod:`cowrl.kernel.jobs`) and leave ``guest.json`` and ``runs/<id>/`` in it.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cowrl.errors import TargetUnavailable
from cowrl.kernel import build
from cowrl.kernel.config import KernelConfig

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROC_MODULES = Path("/proc/modules")


def guest_python() -> str:
    """The interpreter the guest runs: this one, as the path it was started by."""
    exe = sys.executable or shutil.which("python3") or "/usr/bin/python3"
    return str(Path(exe).absolute())


def _qemu_version() -> str:
    try:
        out = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True)
    except FileNotFoundError:
        raise TargetUnavailable("qemu-system-x86_64 is not installed; run "
                                "'apt-get install qemu-system-x86'") from None
    return out.stdout.splitlines()[0] if out.stdout else "unknown"


RUNNER_FACTS = "runner.json"


def write_runner_facts(jobdir: Path, facts: dict[str, Any]) -> None:
    """How the job is run (runner, accel, guest clock mode): ``parse_run`` copies
    ``accel``/``icount`` into every RunRecord's extra."""
    (jobdir / RUNNER_FACTS).write_text(json.dumps(facts, indent=1))


class QemuRunner:
    """Boot the Debian kernel under qemu with the module, run the job, power off."""

    def __init__(self, cfg: KernelConfig) -> None:
        self.cfg = cfg
        self.cache = cfg.cache_path
        self.release = build.resolve_release(cfg.kernel_release)
        self.qemu_version = _qemu_version()
        self.timings: dict[str, float] = {}

    def prepare(self) -> dict[str, Any]:
        """Build or fetch everything (cached); returns paths for the job file."""
        t0 = time.monotonic()
        self.kernel_dir = build.ensure_kernel(self.cache, self.release)
        self.module = build.ensure_module(self.cache, self.release)
        self.harness = build.ensure_harness(self.cache)
        self.initramfs = build.ensure_initramfs(self.cache, self.release, self.kernel_dir,
                                                self.module)
        self.timings["prepare_s"] = time.monotonic() - t0
        return {"module": str(self.module), "harness": str(self.harness),
                "kernel_release": self.release}

    # -- qemu ---------------------------------------------------------------------------
    def _cmd(self, accel: str, jobdir: Path | None, probe: bool, log: Path) -> list[str]:
        append = "console=ttyS0 quiet panic=-1"
        if probe:
            append += " cowrl.probe=1"
        else:
            assert jobdir is not None
            for k, v in (("root", PROJECT_ROOT), ("py", guest_python()), ("out", jobdir)):
                if " " in str(v):
                    raise TargetUnavailable(f"the path {v} has a space; the qemu runner "
                                            "passes paths on the kernel command line")
                append += f" cowrl.{k}={v}"
        icount = self.cfg.icount_mode(accel)
        if accel == "kvm":
            cpu = ["-accel", "kvm", "-cpu", self.cfg.kvm_cpu]
        elif icount == "off":
            cpu = ["-accel", "tcg,thread=multi", "-cpu", "max"]
        else:  # -icount needs single-threaded TCG (all vCPUs round-robin on one host thread)
            cpu = ["-accel", "tcg,thread=single", "-cpu", "max", "-icount", icount]
        cmd = ["qemu-system-x86_64", *cpu, "-m", str(self.cfg.memory_mb),
               "-smp", str(self.cfg.guest_cpus(accel)), "-display", "none", "-monitor", "none",
               "-serial", f"file:{log}", "-no-reboot",
               "-kernel", str(self.kernel_dir / "vmlinuz"), "-initrd", str(self.initramfs),
               "-append", append,
               "-virtfs", "local,path=/,mount_tag=host,security_model=none,readonly=on,"
               "multidevs=remap"]
        if jobdir is not None:
            cmd += ["-virtfs", f"local,path={jobdir},mount_tag=out,security_model=none"]
        return cmd

    def _boot(self, cmd: list[str], log: Path, until: str, first_timeout: float,
              total_timeout: float, first: str | None = None) -> tuple[bool, float]:
        """Run qemu until it exits; False if ``first`` (or ``until``) does not show in time."""
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        seen_first = first is None
        try:
            while p.poll() is None:
                el = time.monotonic() - t0
                text = log.read_text(errors="replace") if log.exists() else ""
                if not seen_first and first and first in text:
                    seen_first = True
                    self.timings["boot_s"] = el
                if (not seen_first and el > first_timeout) or el > total_timeout:
                    return False, el
                time.sleep(0.2)
        finally:
            if p.poll() is None:
                p.kill()
            p.wait()
            out = p.stdout.read().decode(errors="replace") if p.stdout else ""
            if out.strip():
                with log.open("a") as f:
                    f.write("\n[qemu] " + out)
        text = log.read_text(errors="replace") if log.exists() else ""
        return until in text, time.monotonic() - t0

    def _kvm_works(self) -> bool:
        if self.cfg.accel == "tcg":
            return False
        if not os.access("/dev/kvm", os.R_OK | os.W_OK):
            if self.cfg.accel == "kvm":
                raise TargetUnavailable("kernel.accel=kvm but /dev/kvm is not usable; use "
                                        "kernel.accel=auto or tcg")
            return False
        key = f"{platform.release()}|{self.qemu_version}|{self.cfg.kvm_cpu}"
        probe_file = self.cache / "kvm_probe.json"
        cached = json.loads(probe_file.read_text()) if probe_file.is_file() else {}
        if self.cfg.accel == "auto" and key in cached:
            return bool(cached[key])
        log = self.cache / "kvm_probe.log"
        log.unlink(missing_ok=True)
        ok, _ = self._boot(self._cmd("kvm", None, True, log), log, "COWRL-PROBE-OK",
                           self.cfg.kvm_probe_timeout_s, self.cfg.kvm_probe_timeout_s,
                           first="COWRL-PROBE-OK")
        cached[key] = ok
        probe_file.write_text(json.dumps(cached, indent=1))
        if not ok and self.cfg.accel == "kvm":
            raise TargetUnavailable(f"kernel.accel=kvm but a KVM guest did not boot within "
                                    f"{self.cfg.kvm_probe_timeout_s} s (see {log}); use "
                                    "kernel.accel=auto or tcg")
        return ok

    def run(self, jobdir: Path) -> dict[str, Any]:
        """Boot once, run the whole job; returns runner info (accel, timings)."""
        accel = "kvm" if self._kvm_works() else "tcg"
        log = jobdir / "serial.log"
        icount = self.cfg.icount_mode(accel)
        cmd = self._cmd(accel, jobdir, False, log)
        write_runner_facts(jobdir, {"runner": "qemu", "accel": accel, "icount": icount,
                                    "guest_cpus": self.cfg.guest_cpus(accel),
                                    "qemu_version": self.qemu_version, "qemu_cmd": cmd})
        t0 = time.monotonic()
        ok, el = self._boot(cmd, log, "COWRL-GUEST-EXIT",
                            self.cfg.boot_timeout_s, self.cfg.timeout_s,
                            first="COWRL-GUEST-START")
        self.timings["qemu_s"] = time.monotonic() - t0
        if not ok or not (jobdir / "guest.json").is_file():
            tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
            glog = jobdir / "guest.log"
            gtail = glog.read_text(errors="replace")[-1500:] if glog.exists() else ""
            raise TargetUnavailable(
                f"the {accel} guest did not finish the job in {el:.0f} s "
                f"(boot timeout {self.cfg.boot_timeout_s} s, total {self.cfg.timeout_s} s); "
                f"serial log tail: {tail!r}; guest log tail: {gtail!r}")
        return {"runner": "qemu", "accel": accel, "icount": icount,
                "guest_cpus": self.cfg.guest_cpus(accel), **self.timings}


class HostRunner:
    """Load the module into the running kernel and run the job here (root only)."""

    def __init__(self, cfg: KernelConfig) -> None:
        self.cfg = cfg
        self.cache = cfg.cache_path
        self.release = build.host_kernel_release()
        self.timings: dict[str, float] = {}
        self.check()

    def check(self) -> None:
        """Raise TargetUnavailable with one sentence if modules cannot be loaded here."""
        if not PROC_MODULES.exists():
            raise TargetUnavailable(
                f"the running kernel ({self.release}) has no loadable-module support "
                "(/proc/modules is missing); use kernel.runner=qemu, or a kernel built "
                "with CONFIG_MODULES=y")
        if os.geteuid() != 0:
            raise TargetUnavailable("kernel.runner=host must run as root to load the module; "
                                    "rerun with sudo or use kernel.runner=qemu")
        try:
            build.headers_dir(self.release)
        except TargetUnavailable:
            raise TargetUnavailable(
                f"kernel headers for the running kernel {self.release} are missing; "
                f"install them (Debian/Ubuntu: 'apt-get install linux-headers-{self.release}') "
                "or use kernel.runner=qemu") from None

    def prepare(self) -> dict[str, Any]:
        t0 = time.monotonic()
        self.module = build.ensure_module(self.cache, self.release)
        self.harness = build.ensure_harness(self.cache)
        self.timings["prepare_s"] = time.monotonic() - t0
        return {"module": str(self.module), "harness": str(self.harness),
                "kernel_release": self.release}

    def run(self, jobdir: Path) -> dict[str, Any]:
        if Path("/sys/module/cowrl").exists():
            raise TargetUnavailable("a cowrl module is already loaded on this host; "
                                    "'rmmod cowrl' first")
        write_runner_facts(jobdir, {"runner": "host", "accel": "none", "icount": "off"})
        t0 = time.monotonic()
        p = subprocess.run([guest_python(), str(PROJECT_ROOT / "cowrl/kernel/guest.py"),
                            str(jobdir / "job.json")], cwd=PROJECT_ROOT, capture_output=True,
                           text=True, timeout=self.cfg.timeout_s)
        (jobdir / "guest.log").write_text(p.stdout + p.stderr)
        self.timings["host_s"] = time.monotonic() - t0
        if not (jobdir / "guest.json").is_file():
            raise TargetUnavailable(f"the host job failed: {(p.stdout + p.stderr)[-1500:]}")
        return {"runner": "host", "accel": "none", "icount": "off", **self.timings}


def make_runner(cfg: KernelConfig) -> QemuRunner | HostRunner:
    return QemuRunner(cfg) if cfg.runner == "qemu" else HostRunner(cfg)

"""Runners: where a job directory gets executed (a qemu guest, or this host).

Both take a prepared job directory (``job.json`` plus trace files, see
:mod:`cowrl.kernel.jobs`) and leave ``guest.json`` and ``runs/<id>/`` in it.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
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
KVM_DEVICE = "/dev/kvm"
MODULE_TAINT = 12288
"""Taint flags loading the module sets (O out-of-tree 4096 + E unsigned 8192); any other bit
means a warning, an oops or worse."""
TAINT_LETTERS = "PFSRMBUDAWCIOELKXTN"
"""Letters of /proc/sys/kernel/tainted bits 0.. (Documentation/admin-guide/tainted-kernels)."""
GUEST_CMDLINE = "console=ttyS0 loglevel=5 panic=-1 oops=panic panic_on_warn=1"
"""No ``quiet``: warnings reach the serial log; a warning or oops panics the guest, which the
runner reports with the head of the oops."""
PANIC_MARKER = "Kernel panic - not syncing"
"""Every oops and warning panics the guest (oops=panic panic_on_warn=1), which prints this."""
OOPS_STARTS = ("cut here", "BUG:", "Oops", "general protection fault", "sysrq: Trigger a crash",
               "kernel BUG at", "watchdog:")


class GuestPanic(TargetUnavailable):
    """The guest kernel oopsed or panicked; the message holds the head of the oops."""


class GuestHang(TargetUnavailable):
    """The guest (or one run in it) made no progress within its timeout."""


class EmulatorCrash(TargetUnavailable):
    """qemu itself died by a signal (a crash of the emulator on the host, not of the guest)."""


def signal_name(signum: int) -> str:
    """'SIGSEGV' for 11; 'signal 99' for a number Python does not name."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class GuestTainted(TargetUnavailable):
    """The run finished but the kernel was tainted beyond the module's own flags."""


def taint_flags(value: int) -> str:
    """``12288`` -> ``OE``: the letters of the set taint bits."""
    return "".join(c for i, c in enumerate(TAINT_LETTERS) if value >> i & 1) or "-"


def oops_head(log: str, lines: int = 30) -> str:
    """The head of the report that panicked the guest (from its first line), or ``""``."""
    text = log.splitlines()
    panic = next((i for i, line in enumerate(text) if PANIC_MARKER in line), None)
    if panic is None:
        return ""
    start = panic
    for i in range(panic, max(-1, panic - 120), -1):
        if any(m in text[i] for m in OOPS_STARTS):
            start = i
    return "\n".join(text[start:start + lines])


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


def amend_job(jobdir: Path, cfg: KernelConfig) -> None:
    """Give the guest its per-run timeout (well below the session's) and module parameters."""
    job_file = jobdir / "job.json"
    job = json.loads(job_file.read_text())
    job.setdefault("run_timeout", float(cfg.run_timeout_s))
    job.setdefault("module_params", cfg.module_params)
    tmp = job_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(job, indent=1))
    os.replace(tmp, job_file)


def guest_health(jobdir: Path, cache: Path) -> dict[str, Any]:
    """Taint and dmesg of the finished guest (guest.json, dmesg.txt); raises GuestTainted when
    a taint bit beyond the module's own appeared. dmesg is kept in the cache."""
    taint_file = jobdir / "taint"  # written by the guest's /init after any job
    if taint_file.is_file():
        taint = int(taint_file.read_text().strip() or -1)
    else:  # the host runner: guest.py's own reading
        taint = int(json.loads((jobdir / "guest.json").read_text()).get("taint", -1))
    out: dict[str, Any] = {"taint": taint, "taint_flags": taint_flags(max(taint, 0))}
    dmesg = jobdir / "dmesg.txt"
    if dmesg.is_file():
        kept = cache / "logs" / f"{jobdir.name}.dmesg.txt"
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(dmesg, kept)
        out["dmesg_file"] = str(kept)
    if taint < 0:
        raise GuestTainted(f"the guest reported no taint value ({taint_file} and "
                           f"{jobdir / 'guest.json'})")
    if taint & ~MODULE_TAINT:
        text = dmesg.read_text(errors="replace") if dmesg.is_file() else ""
        raise GuestTainted(f"the guest kernel was tainted {taint} ({taint_flags(taint)}), beyond "
                           f"the module's {MODULE_TAINT} (OE); dmesg kept at "
                           f"{out.get('dmesg_file')}; head: {oops_head(text) or text[-800:]}")
    return out


def write_runner_facts(jobdir: Path, facts: dict[str, Any]) -> None:
    """How the job is run (runner, accel, guest clock mode): ``parse_run`` copies
    ``accel``/``icount`` into every RunRecord's extra."""
    (jobdir / RUNNER_FACTS).write_text(json.dumps(facts, indent=1))


class QemuRunner:
    """Boot the Debian kernel under qemu with the module, run the job, power off."""

    qemu_signal: int | None = None  # the signal qemu died by in the last boot, if it did

    def __init__(self, cfg: KernelConfig) -> None:
        self.cfg = cfg
        self.cache = cfg.cache_path
        self.release = build.resolve_release(cfg.kernel_release, self.cache)
        self.qemu_version = _qemu_version()
        self.timings: dict[str, float] = {}
        if cfg.accel == "kvm":  # before prepare() fetches and builds for minutes
            self._kvm_device()

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
                "kernel_release": self.release, "pin_pcp_high": self.cfg.pin_pcp_high,
                "swap_modules": str(self.kernel_dir / "modules" / "swap")}

    # -- qemu ---------------------------------------------------------------------------
    def _cmd(self, accel: str, jobdir: Path | None, probe: bool, log: Path) -> list[str]:
        append = GUEST_CMDLINE
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
            cpu = ["-accel", f"tcg,thread={self.cfg.tcg_threads}", "-cpu", "max"]
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
        self.qemu_signal = None
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
            elif p.returncode < 0:  # died by a signal on its own (a SIGKILL of ours is not)
                self.qemu_signal = -p.returncode
            p.wait()
            out = p.stdout.read().decode(errors="replace") if p.stdout else ""
            if out.strip():
                with log.open("a") as f:
                    f.write("\n[qemu] " + out)
        text = log.read_text(errors="replace") if log.exists() else ""
        return until in text, time.monotonic() - t0

    def _kvm_device(self) -> bool:
        """/dev/kvm can be opened read-write; under kernel.accel=kvm, else TargetUnavailable."""
        if os.access(KVM_DEVICE, os.R_OK | os.W_OK):
            return True
        if self.cfg.accel == "kvm":
            raise TargetUnavailable(f"kernel.accel=kvm but {KVM_DEVICE} is not usable; use "
                                    "kernel.accel=auto or tcg")
        return False

    def _kvm_works(self) -> bool:
        if self.cfg.accel == "tcg" or not self._kvm_device():
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
            text = log.read_text(errors="replace") if log.exists() else ""
            said = next((ln[ln.index("qemu-system-x86_64:"):].strip()
                         for ln in text.splitlines() if "qemu-system-x86_64:" in ln), "")
            why = f"qemu stopped: {said}" if said else \
                f"a KVM guest did not boot within {self.cfg.kvm_probe_timeout_s} s"
            raise TargetUnavailable(f"kernel.accel=kvm but {why} (see {log}); use "
                                    "kernel.accel=auto or tcg")
        return ok

    def run(self, jobdir: Path) -> dict[str, Any]:
        """Boot once, run the whole job; returns runner info (accel, timings)."""
        accel = "kvm" if self._kvm_works() else "tcg"
        amend_job(jobdir, self.cfg)
        log = jobdir / "serial.log"
        icount = self.cfg.icount_mode(accel)
        cmd = self._cmd(accel, jobdir, False, log)
        write_runner_facts(jobdir, {"runner": "qemu", "accel": accel, "icount": icount,
                                    "guest_cpus": self.cfg.guest_cpus(accel),
                                    "qemu_version": self.qemu_version, "qemu_cmd": cmd})
        t0 = time.monotonic()
        for boot in (1, 2):
            self.qemu_signal = None
            ok, el = self._boot(cmd, log, "COWRL-GUEST-EXIT",
                                self.cfg.boot_timeout_s, self.cfg.timeout_s,
                                first="COWRL-GUEST-START")
            serial = log.read_text(errors="replace") if log.exists() else ""
            kept = self._keep_logs(jobdir, serial)
            head = oops_head(serial)
            died = None if head else self.qemu_signal
            if not (head or died) or "COWRL-GUEST-START" in serial or boot == 2:
                break
            # The guest kernel crashed in its own boot, before our init started (so before
            # the module was loaded or any job ran): TCG has done this once in 6.12's early
            # text patching (an int3 in sched_clock_cpu); or qemu itself died by a signal
            # there (a general protection fault in qemu-system-x86_64 under TCG, once, in a CI
            # run). Boot once more; the crash's log is kept, and the runner info counts the
            # retry. A second crash is reported.
            first_crash = kept.with_name(f"{kept.name}.boot-crash")
            kept.replace(first_crash)
            what = (f"qemu itself died by {signal_name(died)}" if died else
                    f"the guest kernel {self.release} crashed")
            print(f"cowrl: {what} during the guest's boot, before the job started (serial log "
                  f"{first_crash}); booting again once", file=sys.stderr)
            self.timings["boot_retries"] = 1
            log.unlink(missing_ok=True)
        self.timings["qemu_s"] = time.monotonic() - t0
        if head:
            raise GuestPanic(f"the guest kernel {self.release} crashed (serial log kept at "
                             f"{kept}); head of the oops:\n{head}")
        if died:
            raise EmulatorCrash(
                f"qemu-system-x86_64 itself died by {signal_name(died)} after {el:.0f} s (a crash "
                f"of the emulator on the host, not of the guest kernel {self.release}; serial "
                f"log kept at {kept}); last serial lines: {serial[-600:]!r}")
        if not ok or not (jobdir / "guest.json").is_file():
            glog = jobdir / "guest.log"
            gtail = glog.read_text(errors="replace")[-1000:] if glog.exists() else ""
            started = "COWRL-GUEST-START" in serial
            limit = self.cfg.timeout_s if started else self.cfg.boot_timeout_s
            what = "the job" if started else "boot"
            raise GuestHang(
                f"the {accel} guest hung: {what} did not finish within {limit:.0f} s "
                f"(ran {el:.0f} s; serial log kept at {kept}); last serial lines: "
                f"{serial[-600:]!r}; guest log tail: {gtail!r}")
        return {"runner": "qemu", "accel": accel, "icount": icount,
                "guest_cpus": self.cfg.guest_cpus(accel), "serial_log": str(kept),
                **guest_health(jobdir, self.cache), **self.timings}

    def _keep_logs(self, jobdir: Path, serial: str) -> Path:
        """Copy the serial log out of the job dir (which may be deleted) into the cache."""
        dest = self.cache / "logs" / f"{jobdir.name}.serial.log"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(serial)
        return dest


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
        amend_job(jobdir, self.cfg)
        t0 = time.monotonic()
        cmd = [guest_python(), str(PROJECT_ROOT / "cowrl/kernel/guest.py"),
               str(jobdir / "job.json")]
        p = subprocess.Popen(cmd, cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            out, _ = p.communicate(timeout=self.cfg.timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)  # the job and its harness processes
            out, _ = p.communicate()
            (jobdir / "guest.log").write_text(out)
            cleanup_host_module()
            raise GuestHang(f"the host job did not finish within {self.cfg.timeout_s:.0f} s; "
                            "it was killed, its targets unregistered and the module unloaded") \
                from None
        (jobdir / "guest.log").write_text(out)
        self.timings["host_s"] = time.monotonic() - t0
        if not (jobdir / "guest.json").is_file():
            cleanup_host_module()
            raise TargetUnavailable(f"the host job failed: {out[-1500:]}")
        return {"runner": "host", "accel": "none", "icount": "off",
                **guest_health(jobdir, self.cache), **self.timings}


def cleanup_host_module() -> None:
    """After a killed host job: unregister every target, policy off, unload the module."""
    from cowrl.kernel.abi import load_abi

    abi = load_abi()
    if os.path.exists(abi.device):
        import fcntl

        fd = os.open(abi.device, os.O_RDWR)
        try:
            fcntl.ioctl(fd, abi.COWRL_IOC_UNREGISTER, bytes(abi.struct("cowrl_target", pid=0)))
            fcntl.ioctl(fd, abi.COWRL_IOC_SET_POLICY, bytes(abi.struct("cowrl_policy")))
        finally:
            os.close(fd)
    for _ in range(50):  # pending precopy work pins the module for a moment
        if not Path("/sys/module/cowrl").exists():
            return
        subprocess.run(["rmmod", "cowrl"], capture_output=True)
        time.sleep(0.1)


def make_runner(cfg: KernelConfig) -> QemuRunner | HostRunner:
    return QemuRunner(cfg) if cfg.runner == "qemu" else HostRunner(cfg)

"""Run a batch of kernel jobs on the machine it runs on (the qemu guest, or the host runner).

Usage: ``python cowrl/kernel/guest.py JOB.json`` (run as a script: importing the
``cowrl`` package could pull in numpy or torch, which take many seconds to
import under TCG; this file uses the standard library only).

For each run of the job it sets the THP mode, loads or unloads the module,
and runs the replay harness, whose files land in ``OUT/runs/<id>/``. Then it
runs the requested checks (``manual_cow``, ``table_ioctl``, ``rmmod``) and
writes ``OUT/guest.json``.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import mmap
import os
import platform
import re
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

SYS_FINIT_MODULE = 313  # x86_64
SYS_DELETE_MODULE = 176
THP_ENABLED = "/sys/kernel/mm/transparent_hugepage/enabled"
CLOCKSOURCE = "/sys/devices/system/clocksource/clocksource0/current_clocksource"
PAGE = mmap.PAGESIZE
MODULE_NAME = "cowrl"

_libc = ctypes.CDLL(None, use_errno=True)


def _import_kernel_pkg(root: Path) -> None:
    """Make ``cowrl.kernel.*`` importable (``cowrl/__init__.py`` imports nothing heavy)."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))


def module_is_loaded() -> bool:
    return os.path.isdir(f"/sys/module/{MODULE_NAME}")


def kernel_log(last: int = 0) -> list[str]:
    """The kernel log (``/dev/kmsg``, non-blocking): every line, or the ``last`` ones."""
    lines: list[str] = []
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return lines
    try:
        while True:
            try:
                rec = os.read(fd, 8192).decode(errors="replace")
            except BlockingIOError:
                break
            except OSError:  # EPIPE: a record was overwritten; keep reading
                continue
            head, _, msg = rec.partition(";")
            fields = head.split(",")
            ts = int(fields[2]) / 1e6 if len(fields) > 2 and fields[2].isdigit() else 0.0
            lines.append(f"[{ts:12.6f}] {msg.splitlines()[0] if msg else ''}")
    finally:
        os.close(fd)
    return lines[-last:] if last else lines


def load_module(path: str, params: str = "") -> None:
    """finit_module(2) the module file (no kmod needed in the guest).

    A refused load raises OSError naming the module's own reason (its last kernel log lines),
    not just the errno (a missing symbol is ENOENT, "No such file or directory").
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.syscall(SYS_FINIT_MODULE, fd, params.encode(), 0) != 0:
            err = ctypes.get_errno()
            why = [ln.split("] ", 1)[-1] for ln in kernel_log(20)
                   if MODULE_NAME in ln or "Unknown symbol" in ln][-3:]
            raise OSError(err, f"cannot load {path} {params}: {os.strerror(err)}; kernel log: "
                          f"{' | '.join(why) or 'nothing'}")
    finally:
        os.close(fd)
    for _ in range(100):  # udev-less guest: devtmpfs creates the node asynchronously
        if os.path.exists(f"/dev/{MODULE_NAME}"):
            return
        time.sleep(0.01)


def unload_module() -> int:
    """delete_module(2); returns 0 or the errno (EBUSY/EWOULDBLOCK while pinned)."""
    if _libc.syscall(SYS_DELETE_MODULE, MODULE_NAME.encode(), os.O_NONBLOCK) != 0:
        return ctypes.get_errno()
    return 0


def set_thp(mode: str) -> str:
    """Write the THP mode; returns what the kernel reports afterwards."""
    try:
        with open(THP_ENABLED, "w") as f:
            f.write(mode)
        return Path(THP_ENABLED).read_text().strip()
    except OSError as e:
        return f"unavailable ({e.strerror})"


def run_one(job: dict[str, Any], run: dict[str, Any], out: Path) -> dict[str, Any]:
    rdir = out / "runs" / run["id"]
    rdir.mkdir(parents=True, exist_ok=True)
    if run["module"] and not module_is_loaded():
        load_module(job["module"], job.get("module_params", ""))
    if not run["module"] and module_is_loaded():
        err = unload_module()
        if err:
            raise OSError(err, "cannot unload the module for a no-module run")
    thp = set_thp("madvise" if run["thp"] else "never")
    cmd = [job["harness"], "--trace", run["trace"], "--n-pages", str(run["n_pages"]),
           "--out", str(rdir), "--writer", run["writer"]]
    if run.get("mode", "static") == "table":
        cmd += ["--table", run["table"]]
    else:
        cmd += ["--k", str(run["k"])]
    if run.get("regions"):
        cmd += ["--regions", run["regions"]]
    if run.get("writers"):
        cmd += ["--writers", run["writers"]]
    if run["thp"]:
        cmd.append("--thp")
    if not run["module"]:
        cmd.append("--no-module")
    mem_kb = mem_available_kb()
    try:
        pcp = pcp_state(Path("/proc/zoneinfo").read_text())
    except OSError:
        pcp = {"count": -1, "high": -1}
    t0, up0 = time.monotonic(), _uptime()
    rc, stderr = run_bounded(cmd, float(job.get("run_timeout", 600)), diag_dir=rdir)
    if rc != 0:
        stderr = stderr.rstrip() + oom_note(up0)
    if rc == 3 and (rdir / "summary.txt").is_file():  # the harness found its counts unreliable
        os.replace(rdir / "summary.txt", rdir / "summary.unreliable.txt")
    return {"id": run["id"], "rc": rc, "stderr": stderr[-2000:], "thp_mode": thp,
            "wall_s": time.monotonic() - t0, "mem_available_kb": mem_kb,
            "pcp_count_at_start": pcp["count"], "pcp_high_at_start": pcp["high"]}


OOM_KILL = "Out of memory: Killed process"


def oom_note(since: float) -> str:
    """A sentence for a failed run if the kernel's OOM killer killed a process since uptime
    ``since`` (the harness or its child: a SIGKILL, 'child failed (status 9)'), else ``""``."""
    for line in kernel_log():
        ts, _, msg = line.partition("] ")
        try:
            after = float(ts.lstrip("[ ")) >= since
        except ValueError:
            after = False
        if after and OOM_KILL in msg:
            victim = msg.split(OOM_KILL, 1)[1].split(")", 1)[0].strip() + ")"
            return (f"; out of memory: the kernel's OOM killer killed process {victim} (raise "
                    "kernel.memory_mb; under kernel.runner=host, free the host's memory)")
    return ""


def describe_exit(rc: int, exe: str, err: str) -> str:
    """stderr, or for a death by signal a sentence naming the signal."""
    if rc >= 0:
        return err
    name = signal.Signals(-rc).name if -rc in signal.Signals._value2member_map_ else str(-rc)
    return f"{os.path.basename(exe)} was killed by {name}; stderr: {err[-800:]}"


def _proc_text(path: str) -> str:
    """A /proc file's text, stripped, or ``<why not>``."""
    try:
        return Path(path).read_text(errors="replace").strip()
    except OSError as e:
        return f"<{e.strerror or e}>"


def group_tasks(pgid: int) -> list[tuple[int, int]]:
    """(pid, tid) of every thread of every process in process group ``pgid``."""
    tasks: list[tuple[int, int]] = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:  # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses
            if int(_proc_text(f"/proc/{d}/stat").rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            tids = sorted(int(t) for t in os.listdir(f"/proc/{d}/task") if t.isdigit())
        except (IndexError, ValueError, OSError):
            continue  # exited meanwhile
        tasks += [(int(d), t) for t in tids]
    return sorted(tasks)


COUNTERS_SHOWN = ("targets", "demand_faults", "precopy_copies", "precopy_works",
                  "pending_work", "records", "dropped")
"""The module counters a hung run's summary line shows (its file holds them all)."""
SUMMARY_TASKS = 8
"""Threads named in a hung run's summary line (its file holds them all)."""


def host_seconds(d: Path) -> float:
    """Host seconds since directory ``d`` last changed (made, or a file made in it): its
    mtime before and after touching it. On the qemu guest's 9p share the host sets both,
    so they do not jump with the guest's icount clock (``sleep=off`` warps it to the next
    timer whenever the vCPU idles, e.g. while it waits for 9p I/O). NaN if unreadable."""
    try:
        before = os.stat(d).st_mtime
        os.utime(d)
        return os.stat(d).st_mtime - before
    except OSError:
        return float("nan")


def hung_diagnosis(pgid: int) -> dict[str, Any]:
    """What a hung run's tasks (process group ``pgid``) wait on, before they are killed:
    each thread's State, wchan and kernel stack, and the module's counters."""
    tasks = []
    for pid, tid in group_tasks(pgid):
        base = f"/proc/{pid}/task/{tid}"
        status = _proc_text(f"{base}/status")
        state = next((ln.split(":", 1)[1].strip() for ln in status.splitlines()
                      if ln.startswith("State:")), status)
        tasks.append({"pid": pid, "tid": tid, "comm": _proc_text(f"{base}/comm"),
                      "state": state, "wchan": _proc_text(f"{base}/wchan"),
                      "stack": _proc_text(f"{base}/stack")})
    counters: dict[str, Any] = {}
    if module_is_loaded():
        try:
            from cowrl.kernel.abi import load_abi

            counters = _ioctl_counters(load_abi())
        except Exception as e:  # noqa: BLE001 - a diagnosis must not fail the runner
            counters = {"error": repr(e)}
    return {"tasks": tasks, "counters": counters, "uptime_s": _uptime()}


def hung_summary(diag: dict[str, Any]) -> str:
    """One line of :func:`hung_diagnosis`: each thread's state and wchan, a few counters."""
    shown = [f"{t['comm']} {t['tid']} {t['state'].split(' ')[0]} wchan={t['wchan']}"
             for t in diag["tasks"]]
    more = len(shown) - SUMMARY_TASKS
    tasks = ", ".join(shown[:SUMMARY_TASKS]) + (f" and {more} more" if more > 0 else "") \
        or "no task left"
    c = diag["counters"]
    mod = ("module " + " ".join(f"{k}={c[k]}" for k in COUNTERS_SHOWN if k in c)
           if "error" not in c else f"module counters: {c['error']}") if c else "no module"
    return f"{tasks}; {mod}"


HOST_WAIT_FACTOR = 8  # a run's guest seconds at most this x run_timeout while the host catches up


def _wait_host_clock(p: subprocess.Popen, diag_dir: Path, timeout: float
                     ) -> tuple[float, tuple[str, str] | None]:
    """After ``p`` outlived ``timeout`` guest seconds: keep waiting while fewer than
    ``timeout`` host seconds have passed since ``diag_dir`` changed (:func:`host_seconds`).
    Under qemu's ``-icount sleep=off`` the guest's clock warps to its next timer whenever the
    vCPU idles, so a run that waits on slow 9p I/O on a loaded host can count 600 guest
    seconds in under one host second (session 35: a 0.94 host-second run was killed as hung
    at 714.9 guest seconds). A run is hung only when both clocks passed ``timeout``; the
    guest's wait is capped at :data:`HOST_WAIT_FACTOR` x ``timeout`` in all, and an
    unreadable host clock (NaN) waits no longer. Returns the host seconds counted and, if
    ``p`` finished meanwhile, its (stdout, stderr) (read all along: a full pipe must not
    stall it)."""
    host = host_seconds(diag_dir)
    waited = timeout
    while host < timeout and waited < HOST_WAIT_FACTOR * timeout:
        more = min(timeout - host, HOST_WAIT_FACTOR * timeout - waited)
        try:
            return host, p.communicate(timeout=more)
        except subprocess.TimeoutExpired:
            waited += more
            host += host_seconds(diag_dir)  # since the previous look's touch
    return host, None


def run_bounded(cmd: list[str], timeout: float, stdout: bool = False,
                diag_dir: Path | None = None) -> Any:
    """Run ``cmd`` (its own process group) for at most ``timeout`` s; (rc, stderr[, stdout])
    with a distinct message for a hung run and for a run killed by a signal.

    A hung run's message says, before the kill, what its threads waited on and the module's
    counters (:func:`hung_summary`); with ``diag_dir`` (made just before the run), also the
    host's seconds since it changed (:func:`host_seconds`: no 9p round trip for a run that
    ends in time), and ``diag_dir/hung.json`` holds the full diagnosis (kernel stacks)."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
        err = describe_exit(p.returncode, cmd[0], err)
    except subprocess.TimeoutExpired:
        host_s, done = (_wait_host_clock(p, diag_dir, timeout) if diag_dir is not None
                        else (float("nan"), None))
        if done is not None:  # it finished while the host's clock caught up
            out, err = done
            err = describe_exit(p.returncode, cmd[0], err)
            return (p.returncode, err, out) if stdout else (p.returncode, err)
        diag = hung_diagnosis(p.pid)
        diag["guest_s"] = time.monotonic() - t0
        note = hung_summary(diag)
        if diag_dir is not None:
            diag["host_s"] = host_s
            try:
                (diag_dir / "hung.json").write_text(json.dumps(diag, indent=1))
                where = f"; full text in {diag_dir / 'hung.json'}"
            except OSError as e:
                where = f"; cannot write {diag_dir / 'hung.json'}: {e.strerror}"
            note = (f"host clock {diag['host_s']:.1f} s (since {diag_dir.name}/ changed) for "
                    f"guest {diag['guest_s']:.1f} s; "
                    f"{note}{where}")
        os.killpg(p.pid, 9)
        out, err = p.communicate()
        err = (f"hung run: {os.path.basename(cmd[0])} did not finish within {timeout:g} s "
               f"and was killed (run_timeout); at the kill: {note}; stderr: {err[-800:]}")
        return (-1, err, out) if stdout else (-1, err)
    return (p.returncode, err, out) if stdout else (p.returncode, err)


def _pagemap_exclusive(addr: int, n: int) -> list[bool]:
    with open("/proc/self/pagemap", "rb") as f:
        f.seek((addr // PAGE) * 8)
        raw = f.read(n * 8)
    words = [int.from_bytes(raw[i * 8:i * 8 + 8], "little") for i in range(n)]
    return [bool(w >> 63 & 1) and bool(w >> 56 & 1) for w in words]


def _errno_of(fn: Any, *args: Any) -> int:
    try:
        fn(*args)
    except OSError as e:
        return int(e.errno or -1)
    return 0


def check_manual_cow(use_module: bool, n: int = 16) -> dict[str, Any]:
    """After fork, manual_cow in the child: pages become private, both views unchanged."""
    from cowrl.kernel import manual_cow as mc

    buf = mmap.mmap(-1, n * PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    data = bytes((i * 131 + 7) & 0xFF for i in range(n * PAGE))
    buf[:] = data
    addr = mc.buffer_address(buf)
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child breaks COW on its view
        res: dict[str, Any] = {}
        try:
            before = _pagemap_exclusive(addr, n)
            if use_module:
                pages = mc.manual_cow_module(addr, n * PAGE)
            else:
                pages = mc.manual_cow_madvise(addr, n * PAGE)
            after = _pagemap_exclusive(addr, n)
            res = {"pages": pages, "private_before": sum(before), "private_after": sum(after),
                   "data_ok": bytes(buf[:]) == data}
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            res = {"error": repr(e)}
        os.write(wfd, json.dumps(res).encode())
        os._exit(0)
    os.close(wfd)
    raw = b""
    while chunk := os.read(rfd, 65536):
        raw += chunk
    os.close(rfd)
    os.waitpid(pid, 0)
    res = json.loads(raw or b"{}")
    res["parent_data_ok"] = bytes(buf[:]) == data
    res["n"] = n

    hole = mmap.mmap(-1, 4 * PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    hole_addr = mc.buffer_address(hole)
    hole.close()  # now unmapped
    if use_module:
        res["err_flags"] = _errno_of(mc.manual_cow_module, addr, PAGE, 1)
        res["err_overflow"] = _errno_of(mc.manual_cow_module, 2**64 - PAGE, 2 * PAGE)
        res["err_unmapped"] = _errno_of(mc.manual_cow_module, hole_addr, 4 * PAGE)
    else:
        res["err_overflow"] = _errno_of(mc.manual_cow, 2**64 - PAGE, 2 * PAGE)
        res["err_unmapped"] = _errno_of(mc.manual_cow_madvise, hole_addr, 4 * PAGE)
    buf.close()
    return res


def _set_policy_errno(fd: int, abi: Any, mode: int, payload: bytes | None, *,
                      table_len: int = 1, entry_size: int | None = None,
                      table_ptr: int | None = None) -> int:
    """COWRL_IOC_SET_POLICY with a table; 0 or the errno."""
    buf = ctypes.create_string_buffer(payload or b"\0", len(payload or b"\0"))
    pol = abi.struct("cowrl_policy", mode=mode, table_len=table_len,
                     entry_size=len(payload or b"") if entry_size is None else entry_size,
                     table_ptr=ctypes.addressof(buf) if table_ptr is None else table_ptr)
    try:
        fcntl.ioctl(fd, abi.COWRL_IOC_SET_POLICY, bytes(pol))
    except OSError as e:
        return int(e.errno or -1)
    return 0


def _register_errno(fd: int, abi: Any, start: int, length: int, unregister: bool = False
                    ) -> int:
    """COWRL_IOC_REGISTER (or UNREGISTER) of this process's [start, start + length); 0 or
    the errno."""
    tg = abi.struct("cowrl_target", pid=os.getpid(), flags=0, start=start, len=length)
    try:
        fcntl.ioctl(fd, abi.COWRL_IOC_UNREGISTER if unregister else abi.COWRL_IOC_REGISTER,
                    bytes(tg))
    except OSError as e:
        return int(e.errno or -1)
    return 0


FAMILY_MAX_PAGES = 1 << 22
"""COWRL_FAMILY_MAX_PAGES of kernel_module/cowrl.c (the sibling_window family bytes' cap)."""


def _family_errnos(fd: int, abi: Any, sib: bytes) -> dict[str, int]:
    """sibling_window's family bytes (one per page of a target's range, at most
    FAMILY_MAX_PAGES pages): with the sibling payload ``sib`` set, REGISTER of a longer range
    is refused (-E2BIG) and of a short one taken; with a long target registered (policy off)
    SET_POLICY ``sib`` is refused (-E2BIG) and the policy in force stays. Leaves nothing
    registered and the policy off."""
    G, OFF = abi.COWRL_POLICY_GUARDED, abi.COWRL_POLICY_OFF
    start, long_len, short_len = 1 << 32, (FAMILY_MAX_PAGES + 1) * PAGE, 64 * PAGE
    out: dict[str, int] = {}
    try:
        out["family_policy"] = _set_policy_errno(fd, abi, G, sib)
        out["family_register_long"] = _register_errno(fd, abi, start, long_len)
        out["family_register_cap"] = _register_errno(fd, abi, start, FAMILY_MAX_PAGES * PAGE)
        out["family_register_short"] = _register_errno(fd, abi, start, short_len)
        out["family_unregister"] = _register_errno(fd, abi, start, short_len, unregister=True)
        out["family_off"] = _set_policy_errno(fd, abi, OFF, None, table_len=0)
        out["family_register_long_off"] = _register_errno(fd, abi, start, long_len)
        out["family_policy_long"] = _set_policy_errno(fd, abi, G, sib)
    finally:
        _register_errno(fd, abi, 0, PAGE, unregister=True)
        _set_policy_errno(fd, abi, OFF, None, table_len=0)
    return out


def check_table_ioctl(job: dict[str, Any]) -> dict[str, Any]:
    """SET_POLICY TABLE with bad lengths, pointers and payloads: the errno of each."""
    from cowrl.kernel.abi import load_abi

    abi = load_abi()
    good = bytes.fromhex(job["table_payload"])

    def patched(off: int, value: int, size: int = 4) -> bytes:
        return good[:off] + value.to_bytes(size, "little") + good[off + size:]

    hole = mmap.mmap(-1, 4 * PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    hole_addr = ctypes.addressof(ctypes.c_char.from_buffer(hole))
    hole.close()  # now unmapped
    T = abi.COWRL_POLICY_TABLE
    fd = os.open(abi.device, os.O_RDWR)
    try:
        v = abi.struct("cowrl_version")
        raw = bytearray(bytes(v))
        fcntl.ioctl(fd, abi.COWRL_IOC_VERSION, raw)
        res: dict[str, Any] = {"abi_version": int.from_bytes(raw[:4], "little")}
        res["err"] = {
            "good": _set_policy_errno(fd, abi, T, good),
            "len0": _set_policy_errno(fd, abi, T, good, table_len=0),
            "len2": _set_policy_errno(fd, abi, T, good, table_len=2),
            "entry_short": _set_policy_errno(fd, abi, T, good, entry_size=len(good) - 2),
            "entry_long": _set_policy_errno(fd, abi, T, good + b"\0\0"),
            "null_ptr": _set_policy_errno(fd, abi, T, good, table_ptr=0),
            "unmapped_ptr": _set_policy_errno(fd, abi, T, good, table_ptr=hole_addr),
            "kernel_ptr": _set_policy_errno(fd, abi, T, good, table_ptr=0xFFFF_8880_0000_0000),
            "bad_version": _set_policy_errno(fd, abi, T, patched(0, 2)),
            "bad_decide": _set_policy_errno(fd, abi, T, patched(4, 7)),
            "slots0": _set_policy_errno(fd, abi, T, patched(8, 0)),
            "slots17": _set_policy_errno(fd, abi, T, patched(8, 17)),
            "near0": _set_policy_errno(fd, abi, T, patched(12, 0)),
            "max_k0": _set_policy_errno(fd, abi, T, patched(16, 0)),
            "n_cells": _set_policy_errno(fd, abi, T, patched(20, 59)),
            "cell_k513": _set_policy_errno(fd, abi, T, patched(24 + 2 * 59, 513, 2)),
            "bad_mode": _set_policy_errno(fd, abi, abi.COWRL_POLICY_GUARDED + 1, good),
            "guarded_entry": _set_policy_errno(fd, abi, abi.COWRL_POLICY_GUARDED, good),
            "good_again": _set_policy_errno(fd, abi, T, good),
            "off": _set_policy_errno(fd, abi, abi.COWRL_POLICY_OFF, None, table_len=0),
        }
        if "guarded_payload" in job:  # proof_ttl (guarded version 4): 0..255, 0 without proof
            G, gp = abi.COWRL_POLICY_GUARDED, bytes.fromhex(job["guarded_payload"])

            def gpatched(fields: dict[int, int]) -> bytes:
                """``gp`` with the u16 at each offset set to its value."""
                out = bytearray(gp)
                for off, value in fields.items():
                    out[off:off + 2] = value.to_bytes(2, "little")
                return bytes(out)

            # proof (734), proof_reads, proof_ttl (738), proof_backoff (740), walk_ns (742),
            # walk_empty_ns (744), read_ns (746), proof_look (748), proof_span (750) all 0;
            # floor_slow (at 752, 0 here) and its pad kept: 760 bytes since ABI 10
            no_proof = dict.fromkeys(range(734, 752, 2), 0)
            # proof = proof_reads = 0, ttl kept (backoff, walk_ns, walk_empty_ns, pad 0)
            noproof = gpatched({o: 0 for o in no_proof if o != 738})
            # proof = proof_reads = proof_ttl = 0 with proof_backoff 1 (walk prices 0)
            noproof_bo = gpatched({**no_proof, 740: 1})
            # proof = proof_reads = proof_ttl = proof_backoff = 0 with walk_ns 1
            noproof_walk = gpatched({**no_proof, 742: 1})
            # ... with walk_empty_ns 1 (at 744; the payload is 752 bytes since)
            noproof_walk_empty = gpatched({**no_proof, 744: 1})
            # ... with read_ns 1 (at 746)
            noproof_read = gpatched({**no_proof, 746: 1})
            # ... with proof 1 but proof_ttl 0 (at 738)
            nottl_read = gpatched({738: 0, 746: 1})
            # ... with proof_look 1 (at 748)
            noproof_look = gpatched({**no_proof, 748: 1})

            res["err"].update({
                "guarded_ttl_good": _set_policy_errno(fd, abi, G, gp),
                "guarded_ttl_255": _set_policy_errno(fd, abi, G, gpatched({738: 255})),
                "guarded_ttl_256": _set_policy_errno(fd, abi, G, gpatched({738: 256})),
                "guarded_ttl_no_proof": _set_policy_errno(fd, abi, G, noproof),
                # walk_ns (at 742), walk_empty_ns (at 744): any u16 with proof, 0 without;
                # after read_ns: proof_look (748) and proof_span (750), no pad left; a payload
                # of the old size (744) refused
                "guarded_walk_max": _set_policy_errno(fd, abi, G, gpatched({742: 65535})),
                "guarded_walk_no_proof": _set_policy_errno(fd, abi, G, noproof_walk),
                "guarded_walk_empty_max": _set_policy_errno(fd, abi, G, gpatched({744: 65535})),
                "guarded_walk_empty_no_proof": _set_policy_errno(fd, abi, G,
                                                                 noproof_walk_empty),
                # proof_span (at 750, the last pad): 0..1, and 1 only with proof_backoff
                # (the payload has none: refused; with backoff 1 at 740: accepted)
                "guarded_span_no_backoff": _set_policy_errno(fd, abi, G, gpatched({750: 1})),
                "guarded_span_good": _set_policy_errno(fd, abi, G, gpatched({740: 1, 750: 1})),
                "guarded_span_2": _set_policy_errno(fd, abi, G, gpatched({740: 1, 750: 2})),
                # floor_slow (at 752; the payload is 760 bytes since ABI 10): 0 or 5..12, the
                # pad after it (754..759) 0; a payload of the old size (752) refused
                "guarded_fslow_5": _set_policy_errno(fd, abi, G, gpatched({752: 5})),
                "guarded_fslow_12": _set_policy_errno(fd, abi, G, gpatched({752: 12})),
                "guarded_fslow_4": _set_policy_errno(fd, abi, G, gpatched({752: 4})),
                "guarded_fslow_13": _set_policy_errno(fd, abi, G, gpatched({752: 13})),
                "guarded_fslow_max": _set_policy_errno(fd, abi, G, gpatched({752: 65535})),
                "guarded_fslow_pad": _set_policy_errno(fd, abi, G, gpatched({758: 1})),
                # proof_skipmap (at 754, the first pad after floor_slow; ABI 11): 0..1, 0
                # without proof
                "guarded_skipmap_good": _set_policy_errno(fd, abi, G, gpatched({754: 1})),
                "guarded_skipmap_2": _set_policy_errno(fd, abi, G, gpatched({754: 2})),
                "guarded_skipmap_no_proof": _set_policy_errno(fd, abi, G,
                                                              gpatched({**no_proof, 754: 1})),
                # proof_duemap (at 756, ABI 12): 0..1, 1 only with proof_backoff; its u8
                # prices walk_due_ns (758) and walk_scan_ns (759): any with it, 0 without
                "guarded_duemap_no_backoff": _set_policy_errno(fd, abi, G, gpatched({756: 1})),
                "guarded_duemap_good": _set_policy_errno(fd, abi, G,
                                                         gpatched({740: 1, 756: 1})),
                "guarded_duemap_priced": _set_policy_errno(
                    fd, abi, G, gpatched({740: 1, 756: 1, 758: 0xFFFF})),
                "guarded_duemap_2": _set_policy_errno(fd, abi, G, gpatched({740: 1, 756: 2})),
                "guarded_duemap_scan_off": _set_policy_errno(fd, abi, G,
                                                             gpatched({740: 1, 758: 0x100})),
                # proof_cutback (the u8 at 751, ABI 13: proof_span a u8 at 750 since): 0..16,
                # and not 0 only with proof_span
                "guarded_cutback_good": _set_policy_errno(fd, abi, G,
                                                          gpatched({740: 1, 750: 0x1001})),
                "guarded_cutback_17": _set_policy_errno(fd, abi, G,
                                                        gpatched({740: 1, 750: 0x1101})),
                "guarded_cutback_no_span": _set_policy_errno(fd, abi, G,
                                                             gpatched({740: 1, 750: 0x0100})),
                "guarded_752": _set_policy_errno(fd, abi, G, gp[:752]),
                # stride_window (at 760, ABI 15: the payload is 768 bytes since): 0..1; its
                # pad (762) 0; stride_ns (the u32 at 764) only with it; a 760-byte payload
                # (before it) refused
                "guarded_stride_good": _set_policy_errno(fd, abi, G,
                                                         gpatched({760: 1, 764: 1135})),
                "guarded_stride_2": _set_policy_errno(fd, abi, G, gpatched({760: 2})),
                "guarded_stride_pad": _set_policy_errno(fd, abi, G, gpatched({760: 1, 762: 1})),
                "guarded_stride_ns_off": _set_policy_errno(fd, abi, G, gpatched({764: 1135})),
                "guarded_stride_ns_max": _set_policy_errno(fd, abi, G,
                                                           gpatched({760: 1, 766: 0x11})),
                "guarded_760": _set_policy_errno(fd, abi, G, gp[:760]),
                # sibling_window (u8 at 768, ABI 16: the payload is 776 bytes since) 0..64 and
                # only with proof; sibling_stake (769) 0..2 and only with it; sibling_gate (770)
                # 0..7 and only with a stake; the pad (771..775) 0; a 768-byte payload refused;
                # a payload the module cannot read: -EFAULT
                "guarded_sib_good": _set_policy_errno(fd, abi, G,
                                                      gpatched({768: 0x0110, 770: 4})),
                "guarded_sib_65": _set_policy_errno(fd, abi, G, gpatched({768: 65})),
                "guarded_sib_stake3": _set_policy_errno(fd, abi, G, gpatched({768: 0x0310})),
                "guarded_sib_gate8": _set_policy_errno(fd, abi, G,
                                                       gpatched({768: 0x0110, 770: 8})),
                "guarded_sib_gate_no_stake": _set_policy_errno(fd, abi, G,
                                                               gpatched({768: 16, 770: 4})),
                "guarded_sib_stake_no_window": _set_policy_errno(fd, abi, G,
                                                                 gpatched({768: 0x0100})),
                "guarded_sib_no_proof": _set_policy_errno(fd, abi, G,
                                                          gpatched({**no_proof, 768: 16})),
                "guarded_sib_pad": _set_policy_errno(fd, abi, G,
                                                     gpatched({768: 0x0110, 772: 1})),
                "guarded_768": _set_policy_errno(fd, abi, G, gp[:768]),
                # sentinel_salt (u8 at 771, the first of the sibling pad bytes; ABI 19): 0..1
                # (the u16 at 770 holds sibling_gate 0 below it)
                "guarded_salt_good": _set_policy_errno(fd, abi, G, gpatched({770: 0x0100})),
                "guarded_salt_2": _set_policy_errno(fd, abi, G, gpatched({770: 0x0200})),
                "guarded_sib_unmapped": _set_policy_errno(fd, abi, G,
                                                          gpatched({768: 0x0110, 770: 4}),
                                                          table_ptr=hole_addr),
                # proof_look (at 748): 0..1, 0 without proof
                "guarded_look_good": _set_policy_errno(fd, abi, G, gpatched({748: 1})),
                "guarded_look_2": _set_policy_errno(fd, abi, G, gpatched({748: 2})),
                "guarded_look_no_proof": _set_policy_errno(fd, abi, G, noproof_look),
                # read_ns (at 746): any u16 with proof and proof_ttl > 0 (the payload's 4),
                # 0 without proof or with proof_ttl 0 (no read reserved, none credited)
                "guarded_read_max": _set_policy_errno(fd, abi, G, gpatched({746: 65535})),
                "guarded_read_no_ttl": _set_policy_errno(fd, abi, G, nottl_read),
                "guarded_read_no_proof": _set_policy_errno(fd, abi, G, noproof_read),
                "guarded_744": _set_policy_errno(fd, abi, G, gp[:744]),
                # proof_backoff (the pad slot at 740): 0..1, 0 without proof
                "guarded_backoff_good": _set_policy_errno(fd, abi, G, gpatched({740: 1})),
                "guarded_backoff_2": _set_policy_errno(fd, abi, G, gpatched({740: 2})),
                "guarded_backoff_no_proof": _set_policy_errno(fd, abi, G, noproof_bo),
                # align values in the table (cell 7 at 88 + 2 * 7): ALIGN | G, G a power of
                # two in 2..64 (0x110 = align to 16 pages); anything else over 64 is refused
                "guarded_align_good": _set_policy_errno(fd, abi, G, gpatched({102: 0x110})),
                "guarded_align_3": _set_policy_errno(fd, abi, G, gpatched({102: 0x103})),
                "guarded_align_128": _set_policy_errno(fd, abi, G, gpatched({102: 0x180})),
                "off_again": _set_policy_errno(fd, abi, abi.COWRL_POLICY_OFF, None,
                                               table_len=0)})
            res["err"].update(_family_errnos(fd, abi, gpatched({768: 0x0110, 770: 4})))
        res["errno_names"] = {k: errno.errorcode.get(e, str(e)) if e else "0"
                              for k, e in res["err"].items()}
    finally:
        os.close(fd)
    return res


STRESS_TESTS = ("fuzz", "storm", "thp", "race", "raceproof", "cowrace", "forktree", "pidreuse",
                "staletlb", "cleanswap", "sibling", "reload")
"""cowrl_stress tests, in the order the ``stress`` check runs them (reload last: it reloads
the module under load). ``staletlb`` and ``cleanswap`` run with a zram swap device
(:func:`ensure_swap`) where the kernel has one."""
SWAP_TESTS = ("staletlb", "cleanswap")
ZRAM_BYTES = 64 << 20


def ensure_swap(job: dict[str, Any]) -> dict[str, Any]:
    """Swap on zram (the modules of ``job["swap_modules"]``, insmod order), 64 MiB, once.

    Returns what was done: ``{"zram": bool, "why": str}``. The swap header is written here
    (no mkswap in the guest's busybox), then ``swapon(2)``."""
    if Path("/proc/swaps").is_file() and len(Path("/proc/swaps").read_text().splitlines()) > 1:
        return {"zram": True, "why": "already on"}
    if not job.get("swap_modules"):
        # Only the qemu runner names them: on a host (kernel.runner=host) /dev/zram0 may hold
        # the user's data, and the machine's swap is not ours to change.
        return {"zram": False, "why": "not in the qemu guest: the host's devices are left alone"}
    mods = Path(job["swap_modules"])
    order = mods / "order"
    if job.get("swap_modules") and order.is_file():
        for name in order.read_text().split():
            fd = os.open(mods / f"{name}.ko", os.O_RDONLY)
            try:
                if _libc.syscall(SYS_FINIT_MODULE, fd, b"", 0) != 0 and \
                        ctypes.get_errno() != errno.EEXIST:
                    return {"zram": False, "why": f"insmod {name}: "
                            f"{os.strerror(ctypes.get_errno())}"}
            finally:
                os.close(fd)
    dev, sysfs = Path("/dev/zram0"), Path("/sys/block/zram0")
    for _ in range(200):
        if dev.exists() and sysfs.is_dir():
            break
        time.sleep(0.01)
    else:
        return {"zram": False, "why": "no /dev/zram0 (kernel without zram)"}
    try:
        (sysfs / "disksize").write_text(str(ZRAM_BYTES))
        page = os.sysconf("SC_PAGE_SIZE")
        hdr = bytearray(page)
        # struct swap_header: version 1, last_page, at offset 1024; magic at the page end
        hdr[1024:1032] = (1).to_bytes(4, "little") + (ZRAM_BYTES // page - 1).to_bytes(4, "little")
        hdr[page - 10:] = b"SWAPSPACE2"
        with open(dev, "r+b", buffering=0) as f:
            f.write(hdr)
        if _libc.swapon(str(dev).encode(), 0) != 0:
            return {"zram": False, "why": f"swapon: {os.strerror(ctypes.get_errno())}"}
    except OSError as e:
        return {"zram": False, "why": f"zram setup: {e}"}
    return {"zram": True, "why": ""}


def _ioctl_counters(abi: Any) -> dict[str, int]:
    c = abi.struct("cowrl_counters")
    fd = os.open(abi.device, os.O_RDWR)
    try:
        buf = bytearray(bytes(c))
        fcntl.ioctl(fd, abi.COWRL_IOC_COUNTERS, buf)
    finally:
        os.close(fd)
    c = type(c).from_buffer_copy(bytes(buf))
    return {name: int(getattr(c, name)) for name, _ in c._fields_}


def check_stress(job: dict[str, Any], spec: str) -> dict[str, Any]:
    """Run cowrl_stress tests (``stress`` = all; ``stress:NAME,NAME@SCALE``); JSON per test."""
    names, _, scale = spec.partition("@")
    tests = names.partition(":")[2].split(",") if ":" in names else list(STRESS_TESTS)
    exe = str(Path(job["harness"]).with_name("cowrl_stress"))
    set_thp("madvise")
    res: dict[str, Any] = {}
    for t in tests:
        if t in SWAP_TESTS and "swap" not in res:
            res["swap"] = ensure_swap(job)
        if not module_is_loaded():
            load_module(job["module"], job.get("module_params", ""))
        t0 = time.monotonic()
        rc, err, out = run_bounded(
            [exe, t, "--scale", scale or "1", "--module", job["module"]],
            float(job.get("run_timeout", 600)), stdout=True)
        try:
            res[t] = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            res[t] = {"ok": False, "why": f"rc={rc}: {err[-600:]} {out[-300:]}"}
        res[t]["rc"] = rc
        res[t]["wall_s"] = round(time.monotonic() - t0, 2)
        res[t]["taint"] = _taint()
        print(f"cowrl-guest: stress {t} ok={res[t].get('ok')} {res[t]['wall_s']} s", flush=True)
    return res


def check_faults(job: dict[str, Any]) -> dict[str, Any]:
    """Runner faults inside the guest: a SIGKILLed harness, a hung run (run_timeout) and a
    bogus ``symbol=``: each error message, and the targets left afterwards (0)."""
    from cowrl.kernel.abi import load_abi

    abi = load_abi()
    out = Path(job["out"]) / "tmp"
    out.mkdir(parents=True, exist_ok=True)
    n = 8192
    trace = out / "faults_trace.bin"
    trace.write_bytes(b"".join(i.to_bytes(8, "little") for i in range(n)) * 4)
    res: dict[str, Any] = {}
    if not module_is_loaded():
        load_module(job["module"])

    def harness(tag: str) -> list[str]:
        d = out / tag
        d.mkdir(exist_ok=True)
        return [job["harness"], "--trace", str(trace), "--n-pages", str(n), "--out", str(d),
                "--k", "4"]

    # SIGKILL once the harness has registered itself.
    p = subprocess.Popen(harness("sigkill"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while p.poll() is None and time.monotonic() < deadline:
        if _ioctl_counters(abi)["targets"] >= 1:
            break
        time.sleep(0.05)
    registered = _ioctl_counters(abi)["targets"]
    os.killpg(p.pid, 9)
    _, err = p.communicate()
    res["sigkill"] = {"registered_before": registered,
                      "error": describe_exit(p.returncode, job["harness"], err),
                      "targets_after": _ioctl_counters(abi)["targets"]}
    # A run that outlives its run_timeout (a 300 s race, given 1.5 s).
    hung = out / "hung"
    hung.mkdir(exist_ok=True)
    rc, msg = run_bounded([str(Path(job["harness"]).with_name("cowrl_stress")), "race",
                           "--scale", "100"], 1.5, diag_dir=hung)
    time.sleep(0.2)
    res["hung"] = {"rc": rc, "error": msg, "targets_after": _ioctl_counters(abi)["targets"],
                   "diag": json.loads((hung / "hung.json").read_text())
                   if (hung / "hung.json").is_file() else {}}
    # A bogus symbol= is refused with the module's reason, and the module loads again after.
    res["bogus_symbol"] = {"unload_errno": unload_module()}
    try:
        load_module(job["module"], "symbol=do_exit")
        res["bogus_symbol"]["error"] = ""
    except OSError as e:
        res["bogus_symbol"]["error"] = str(e)
    res["bogus_symbol"]["loaded_after"] = module_is_loaded()
    load_module(job["module"], job.get("module_params", ""))
    res["bogus_symbol"]["reload_ok"] = module_is_loaded()
    res["next_run_targets"] = _ioctl_counters(abi)["targets"]
    return res


def check_crash() -> dict[str, Any]:
    """Crash the guest on purpose (sysrq c): the runner must report a panic, not a timeout."""
    Path("/proc/sys/kernel/sysrq").write_text("1")
    with open("/proc/sysrq-trigger", "w") as f:
        f.write("c")
    return {"survived": True}  # not reached


def run_checks(job: dict[str, Any]) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    want = job.get("checks", [])
    for spec in want:
        if spec == "stress" or spec.startswith(("stress:", "stress@")):
            checks[spec] = check_stress(job, spec)
    if "faults" in want:
        checks["faults"] = check_faults(job)
    if "crash" in want:
        checks["crash"] = check_crash()
    if "manual_cow" in want:
        checks["manual_cow_madvise"] = check_manual_cow(use_module=False)
        if not module_is_loaded():
            load_module(job["module"], job.get("module_params", ""))
        checks["manual_cow_module"] = check_manual_cow(use_module=True)
        checks["manual_cow_module"]["errno_names"] = {
            k: errno.errorcode.get(v, str(v)) for k, v in checks["manual_cow_module"].items()
            if k.startswith("err_")}
    if "table_ioctl" in want:
        if not module_is_loaded():
            load_module(job["module"], job.get("module_params", ""))
        try:
            checks["table_ioctl"] = check_table_ioctl(job)
        except Exception as e:  # noqa: BLE001 - reported, the other checks still run
            checks["table_ioctl"] = {"error": repr(e)}
    if "rmmod" in want:
        if not module_is_loaded():
            load_module(job["module"], job.get("module_params", ""))
        err = unload_module()
        checks["rmmod"] = {"errno": err, "unloaded": not module_is_loaded(),
                           "dev_gone": not os.path.exists(f"/dev/{MODULE_NAME}")}
    return checks


PCP_HIGH_FRACTION = "/proc/sys/vm/percpu_pagelist_high_fraction"
PCP_AUTOTUNE_SINCE = (6, 7)
"""Linux 6.7 made the per-CPU free lists' ``high`` auto-tuned (between ``high_min``, the low
watermark split over the CPUs, and ``high_max``): it grows as a CPU allocates and decays in
vmstat's once-a-second work. Until then ``high`` was fixed (6.1: the low watermark)."""


def _kernel_version(release: str) -> tuple[int, int]:
    """(major, minor) of a ``uname -r`` string; (0, 0) if it does not start with them."""
    m = re.match(r"(\d+)\.(\d+)", release)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def _zones(text: str) -> list[dict[str, int]]:
    """Each zone of /proc/zoneinfo's ``text``: its ``managed`` pages and CPU 0's free list
    ``count`` and ``high`` (-1 where the text does not say)."""
    zones: list[dict[str, int]] = []
    cpu0 = False
    for line in text.splitlines():
        f = line.replace(":", " ").split()
        if line.startswith("Node "):
            zones.append({"managed": -1, "count": -1, "high": -1})
            cpu0 = False
        elif not zones or len(f) != 2:
            continue
        elif f[0] == "cpu":
            cpu0 = f[1] == "0"
        elif f[1].isdigit() and (f[0] == "managed" or cpu0 and f[0] in ("count", "high")) \
                and zones[-1][f[0]] < 0:
            zones[-1][f[0]] = int(f[1])
    return zones


def pcp_high_fraction(zoneinfo: str) -> int:
    """The ``vm.percpu_pagelist_high_fraction`` that fixes every CPU's ``high`` at the
    kernel's floor, 4 x ``batch`` (``zone_highsize``: max(managed / fraction / CPUs,
    4 x batch)): the managed pages of the largest zone in /proc/zoneinfo's ``zoneinfo``."""
    managed = [z["managed"] for z in _zones(zoneinfo) if z["managed"] > 0]
    if not managed:
        raise ValueError("no zone with managed pages in /proc/zoneinfo")
    return max(8, max(managed))


def pcp_state(zoneinfo: str) -> dict[str, int]:
    """``count`` and ``high`` of CPU 0's free list in the zone with the most managed pages
    (the one a run's pages come from); -1 when /proc/zoneinfo does not say."""
    zone = max(_zones(zoneinfo), key=lambda z: z["managed"], default=None)
    if zone is None or zone["managed"] < 0:
        return {"count": -1, "high": -1}
    return {"count": zone["count"], "high": zone["high"]}


def pin_pcp_high() -> dict[str, Any]:
    """Fix the per-CPU free lists' ``high`` on a kernel that auto-tunes it (6.7+).

    Under ``icount`` the guest's clock jumps while it waits for 9p I/O, by amounts the
    host's timing decides, so the auto-tuned ``high`` (and with it how many free pages a
    CPU holds when a run starts) differed between runs, and with it how many of a run's
    page allocations refilled the list from the zone inside a timed fault (6.12: 0.970-
    1.017x baseline for runs doing baseline's work). A set fraction makes ``high_min =
    high_max`` (no growth, no decay). The qemu guest only: the host runner never calls this.
    """
    rel = platform.release()
    if _kernel_version(rel) < PCP_AUTOTUNE_SINCE:
        return {"pinned": False, "why": f"{rel}: high is fixed before 6.7"}
    try:
        frac = pcp_high_fraction(Path("/proc/zoneinfo").read_text())
        Path(PCP_HIGH_FRACTION).write_text(f"{frac}\n")
    except (OSError, ValueError) as e:
        return {"pinned": False, "why": repr(e)}
    return {"pinned": True, "fraction": frac}


def _uptime() -> float:
    try:
        return float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError):
        return -1.0


def meminfo_kb(key: str) -> int:
    """The field ``key`` of /proc/meminfo (kB), or -1 when it cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return -1


def mem_available_kb() -> int:
    """MemAvailable of /proc/meminfo (kB), or -1: what a harness run can take before the
    OOM killer (the guest's own footprint is memory_mb minus it)."""
    return meminfo_kb("MemAvailable")


def _taint() -> int:
    try:
        return int(Path("/proc/sys/kernel/tainted").read_text())
    except (OSError, ValueError):
        return -1


def _clocksource() -> str:
    try:
        return Path(CLOCKSOURCE).read_text().strip()
    except OSError:
        return ""


def main(argv: list[str]) -> int:
    job_path = Path(argv[1])
    job = json.loads(job_path.read_text())
    out = Path(job["out"])
    _import_kernel_pkg(Path(job["root"]))
    if job.get("kind") == "record":  # record.py: a real program, not a trace replay
        from cowrl.record.guest import main as record_main

        return record_main(job, sys.modules[__name__])
    t0 = time.monotonic()
    report: dict[str, Any] = {"kernel_release": platform.release(), "runs": [], "checks": {},
                              "python": sys.version.split()[0], "uptime_at_start_s": _uptime(),
                              "clocksource": _clocksource()}
    if job.get("pin_pcp_high"):
        report["pcp_high"] = pin_pcp_high()
    try:
        for run in job["runs"]:
            try:
                report["runs"].append(run_one(job, run, out))
            except Exception as e:  # noqa: BLE001 - one bad run must not lose the batch
                report["runs"].append({"id": run["id"], "rc": -1, "stderr": repr(e)})
            print(f"cowrl-guest: run {run['id']} rc={report['runs'][-1]['rc']}", flush=True)
        report["checks"] = run_checks(job)
    except Exception:  # noqa: BLE001
        report["error"] = traceback.format_exc()
    finally:
        if job.get("unload_at_end", True) and module_is_loaded():
            report["final_unload_errno"] = unload_module()
        report["taint"] = _taint()
        (out / "dmesg.txt").write_text("\n".join(kernel_log()) + "\n")
        report["wall_s"] = time.monotonic() - t0
        report["uptime_at_end_s"] = _uptime()
        tmp = out / "guest.json.tmp"
        tmp.write_text(json.dumps(report, indent=1))
        os.replace(tmp, out / "guest.json")
    return 0 if "error" not in report else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Record one app inside the guest (or on the host runner): the module observes only (k=0).

Started by ``cowrl/kernel/guest.py`` for a job of ``kind: record``. Standard
library only. It loads the module with precopy off, runs the app's driver
(:mod:`cowrl.record.drivers`), drains ``/dev/cowrl`` continuously into
``OUT/records.bin`` from a thread (so the ring never fills while the program
runs), snapshots ``/proc/PID/maps`` of the watched processes, and writes
``OUT/record.json`` (the driver's marks and figures, counters, errors).
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from cowrl.kernel import guest as kguest
from cowrl.kernel.abi import load_abi

READ_RECORDS = 4096  # records per read(2): 192 KiB, well under one drain period's worth
DRAIN_SLEEP_S = 0.002
MAPS_PERIOD_S = 0.05


class RecordError(Exception):
    """The program failed (non-zero exit, timeout): one line, reported to the host."""


class Session:
    """The module, the drain thread and the maps snapshots of one recording."""

    def __init__(self, out: Path, module: str) -> None:
        self.abi = load_abi()
        self.out = out
        if not kguest.module_is_loaded():
            kguest.load_module(module)
        self.fd = os.open(self.abi.device, os.O_RDWR)
        fcntl.ioctl(self.fd, self.abi.COWRL_IOC_RESET)
        off = self.abi.struct("cowrl_policy", mode=self.abi.COWRL_POLICY_OFF)
        fcntl.ioctl(self.fd, self.abi.COWRL_IOC_SET_POLICY, bytes(off))
        self.rec_size = self.abi.structs["cowrl_record"]
        import ctypes

        self.rec_bytes = ctypes.sizeof(self.rec_size)
        self.records = (out / "records.bin").open("wb")
        self.maps = (out / "maps.jsonl").open("w")
        self.watched: dict[int, bool] = {}
        self.marks: dict[str, int] = {}
        self.n_records = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._drain = threading.Thread(target=self._drain_loop, daemon=True)
        self._mapper = threading.Thread(target=self._maps_loop, daemon=True)
        self._drain.start()
        self._mapper.start()

    # -- module ------------------------------------------------------------------------
    def register(self, pid: int, children: bool = False) -> None:
        """Watch ``pid`` (and its descendants with ``children``) over the whole user range."""
        flags = self.abi.COWRL_TARGET_CHILDREN if children else 0
        tg = self.abi.struct("cowrl_target", pid=pid, flags=flags, start=0,
                             len=0x7FFF_FFFF_F000)
        fcntl.ioctl(self.fd, self.abi.COWRL_IOC_REGISTER, bytes(tg))
        with self._lock:
            self.watched[pid] = children
        self.snapshot_maps()

    def mark(self, name: str) -> int:
        """Record CLOCK_MONOTONIC now (the module's ktime_get_ns clock) under ``name``."""
        t = time.monotonic_ns()
        self.marks[name] = t
        return t

    def counters(self) -> dict[str, int]:
        c = self.abi.struct("cowrl_counters")
        raw = bytearray(bytes(c))
        fcntl.ioctl(self.fd, self.abi.COWRL_IOC_COUNTERS, raw)
        c = type(c).from_buffer_copy(bytes(raw))
        return {f: int(getattr(c, f)) for f, _ in c._fields_}

    def _read_once(self) -> int:
        try:
            buf = os.read(self.fd, READ_RECORDS * self.rec_bytes)
        except OSError:
            return 0
        if buf:
            self.records.write(buf)
            self.n_records += len(buf) // self.rec_bytes
        return len(buf)

    def _drain_loop(self) -> None:
        while not self._stop.is_set():
            if not self._read_once():
                time.sleep(DRAIN_SLEEP_S)

    # -- address-space snapshots -------------------------------------------------------
    def _pids(self) -> list[int]:
        """Watched processes plus, for CHILDREN targets, their descendants now alive."""
        with self._lock:
            roots = dict(self.watched)
        pids = list(roots)
        stack = [p for p, ch in roots.items() if ch]
        while stack:
            p = stack.pop()
            try:
                kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
            except OSError:
                continue
            for k in map(int, kids):
                pids.append(k)
                stack.append(k)
        return pids

    def snapshot_maps(self) -> None:
        t = time.monotonic_ns()
        for pid in self._pids():
            try:
                text = Path(f"/proc/{pid}/maps").read_text()
            except OSError:
                continue
            vmas = []
            for line in text.splitlines():
                parts = line.split(None, 5)
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                vmas.append([lo, hi, parts[1], parts[5] if len(parts) > 5 else ""])
            self.maps.write(json.dumps({"t_ns": t, "pid": pid, "vmas": vmas}) + "\n")

    def _maps_loop(self) -> None:
        while not self._stop.wait(MAPS_PERIOD_S):
            self.snapshot_maps()

    def close(self) -> dict[str, Any]:
        self.snapshot_maps()
        self._stop.set()
        self._drain.join()
        self._mapper.join()
        cnt = self.counters()
        tg = self.abi.struct("cowrl_target", pid=0)
        fcntl.ioctl(self.fd, self.abi.COWRL_IOC_UNREGISTER, bytes(tg))
        while self._read_once():
            pass
        self.records.close()
        self.maps.close()
        os.close(self.fd)
        return cnt


def main(job: dict[str, Any]) -> int:
    """Run the recording described by ``job`` (see cowrl.record.recorder); 0 on success."""
    from cowrl.record import drivers

    out = Path(job["out"])
    report: dict[str, Any] = {"kernel_release": platform.release(),
                              "thp_setting": kguest.set_thp(job.get("thp", "madvise"))}
    t0 = time.monotonic()
    sess = None
    try:
        sess = Session(out, job["module"])
        report["figures"] = drivers.DRIVERS[job["app"]["driver"]](sess, job["app"], out)
    except RecordError as e:
        report["error"] = str(e)
    except Exception:  # noqa: BLE001 - reported to the host as the job's error
        report["error"] = traceback.format_exc()[-1500:]
    finally:
        if sess is not None:
            try:
                report["counters"] = sess.close()
            except Exception:  # noqa: BLE001
                report.setdefault("error", traceback.format_exc()[-1500:])
            report["marks"] = sess.marks
            report["records"] = sess.n_records
            report["watched"] = sess.watched
        if kguest.module_is_loaded():
            report["final_unload_errno"] = kguest.unload_module()
        report["wall_s"] = time.monotonic() - t0
        tmp = out / "record.json.tmp"
        tmp.write_text(json.dumps(report, indent=1))
        os.replace(tmp, out / "record.json")
        # cowrl/kernel/guest.py's contract with the runner: guest.json marks the end.
        (out / "guest.json").write_text(json.dumps({"kernel_release": report["kernel_release"],
                                                    "runs": [], "kind": "record"}))
    return 0 if "error" not in report else 1

"""App drivers: start the real program, register it with the module, load it, collect figures.

Each driver is ``fn(session, app, out) -> figures`` (a JSON-able dict), with
``app`` the app's config (``conf/app/NAME.yaml``) and ``out`` the job
directory. A driver sets the marks ``fork`` (CLOCK_MONOTONIC ns of the fork
the trace starts at), ``end`` (the end of the COW window) and the
``roles`` figure (pid -> writer role: 0 the parent, i the i-th child).
Standard library only (runs in the guest).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cowrl.record.session import RecordError, Session

ROOT = Path(__file__).resolve().parents[2]


class Program:
    """A child process with line-wise stdout and a deadline (killed when it passes)."""

    def __init__(self, app: dict[str, Any], cmd: list[str], what: str, **kw: Any) -> None:
        self.what = what
        self.cmd = cmd
        self.deadline = time.monotonic() + float(app["timeout_s"])
        self.timeout_s = float(app["timeout_s"])
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, **kw)
        self.timed_out = False
        self._killer = threading.Timer(self.timeout_s, self._kill)
        self._killer.daemon = True
        self._killer.start()

    def _kill(self) -> None:
        self.timed_out = True
        self.p.kill()

    def readline(self, prefix: str) -> str:
        """The next stdout line starting with ``prefix`` (RecordError if the program ends)."""
        assert self.p.stdout is not None
        while True:
            line = self.p.stdout.readline()
            if not line:
                self.wait()
                raise RecordError(f"{self.what}: ended before printing {prefix!r}")
            if line.startswith(prefix):
                return line[len(prefix):].strip()

    def send(self, text: str) -> None:
        assert self.p.stdin is not None
        self.p.stdin.write(text)
        self.p.stdin.flush()

    def wait(self) -> str:
        """Wait for exit; RecordError on timeout or non-zero status. Returns stdout's rest."""
        out, err = self.p.communicate()
        self._killer.cancel()
        if self.timed_out:
            raise RecordError(f"{self.what}: timed out after {self.timeout_s:g} s "
                              f"(app.timeout_s)")
        if self.p.returncode != 0:
            raise _exit_error(self.what, self.p.returncode, err or "")
        return out or ""


def _exit_error(what: str, returncode: int, stderr: str) -> RecordError:
    """``WHAT: exited with status N: <stderr's last line>`` (killed by signal N if < 0)."""
    tail = stderr.strip().splitlines()[-1:]
    how = f"killed by signal {-returncode}" if returncode < 0 else \
        f"exited with status {returncode}"
    return RecordError(f"{what}: {how}" + (f": {tail[0][:300]}" if tail else ""))


def cpython_prefork(sess: Session, app: dict[str, Any], out: Path) -> dict[str, Any]:
    """Debian's python3 running apps/prefork_server.py; the parent and its workers."""
    a = app["params"]
    cmd = [app["program"], "-I", str(ROOT / "cowrl/record/apps/prefork_server.py"),
           "--rows", str(a["rows"]), "--workers", str(a["workers"]),
           "--requests", str(a["requests"]), "--scan", str(a["scan"]),
           "--collect-at", str(a["collect_at"]), "--freeze", str(int(a["freeze"])),
           "--seed", str(a.get("seed", 0))]
    return _workers_protocol(sess, Program(app, cmd, f"app {app['name']}: {app['program']}"),
                             cmd)


def _workers_protocol(sess: Session, prog: Program, cmd: list[str]) -> dict[str, Any]:
    """The parent-and-workers protocol (``READY``, ``go``, ``FORK``, ``WORKERS``,
    ``RESULT``): the parent is writer 0, its workers 1.. in the order it printed them."""
    pid = int(prog.readline("READY "))
    sess.register(pid, children=True)
    prog.send("go\n")
    sess.marks["fork"] = int(prog.readline("FORK "))
    workers = [int(x) for x in prog.readline("WORKERS ").split()]
    result = json.loads(prog.readline("RESULT "))
    sess.mark("end")
    prog.wait()
    roles = {str(pid): 0, **{str(w): i + 1 for i, w in enumerate(workers)}}
    return {**result, "roles": roles, "command": cmd}


# -- redis ------------------------------------------------------------------------------
class Redis:
    """A minimal RESP client over the server's unix socket (no redis-py in the guest)."""

    def __init__(self, path: str, timeout: float) -> None:
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.f = self.s.makefile("rb")

    def call(self, *args: str) -> Any:
        msg = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
        self.s.sendall(msg.encode())
        return self._reply()

    def _reply(self) -> Any:
        line = self.f.readline().rstrip(b"\r\n")
        kind, rest = line[:1], line[1:].decode()
        if kind in (b"+", b":"):
            return int(rest) if kind == b":" else rest
        if kind == b"-":
            raise RecordError(f"redis replied an error: {rest}")
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.f.read(n + 2)[:-2].decode()
        raise RecordError(f"redis: unexpected reply {line[:80]!r}")

    def info(self, section: str) -> dict[str, str]:
        text = self.call("INFO", section)
        return dict(ln.split(":", 1) for ln in text.splitlines() if ":" in ln)


def _wait_socket(path: str, prog: Program) -> None:
    while not os.path.exists(path):
        if prog.p.poll() is not None:
            prog.wait()
            raise RecordError(f"{prog.what}: exited before opening its socket")
        if time.monotonic() > prog.deadline:
            prog.p.kill()
            raise RecordError(f"{prog.what}: timed out before opening its socket")
        time.sleep(0.05)


def _benchmark(app: dict[str, Any], sock: str, requests: int, tmp: Path) -> dict[str, float]:
    """redis-benchmark SETs of random keys; its own latency figures (ms) from --csv."""
    a = app["params"]
    cmd = [app["programs"]["redis-benchmark"], "-s", sock, "-t", "set", "-n", str(requests),
           "-r", str(a["keys"]), "-d", str(a["value_bytes"]), "-c", str(a["clients"]),
           "--csv", "-q"]
    prog = Program(app, cmd, f"app {app['name']}: redis-benchmark", cwd=tmp)
    figures = _bench_csv(prog.wait(), app)
    return {**figures, "requests": requests, "command": " ".join(cmd)}


def _bench_csv(text: str, app: dict[str, Any]) -> dict[str, float]:
    """The SET row of ``redis-benchmark --csv`` (rps, avg/min/p50/p95/p99/max latency ms)."""
    rows = [ln for ln in text.splitlines() if ln.startswith('"SET"')]
    head = [ln for ln in text.splitlines() if ln.startswith('"test"')]
    if not rows or not head:
        raise RecordError(f"app {app['name']}: redis-benchmark printed no CSV row: "
                          f"{text[-200:]!r}")
    keys = [h.strip('"') for h in head[0].split(",")]
    vals = [v.strip('"') for v in rows[0].split(",")]
    return {k: float(v) for k, v in zip(keys[1:], vals[1:], strict=True)}


def _populate(app: dict[str, Any], sock: str) -> None:
    """Load ``keys`` keys of ``value_bytes`` bytes, named as redis-benchmark names them."""
    a = app["params"]
    prog = Program(app, [app["programs"]["redis-cli"], "-s", sock, "--pipe"],
                   f"app {app['name']}: redis-cli --pipe")
    val = "x" * int(a["value_bytes"])
    assert prog.p.stdin is not None
    batch = []
    for i in range(int(a["keys"])):
        key = f"key:{i:012d}"
        batch.append(f"*3\r\n$3\r\nSET\r\n${len(key)}\r\n{key}\r\n${len(val)}\r\n{val}\r\n")
        if len(batch) == 1024:
            prog.p.stdin.write("".join(batch))
            batch = []
    prog.p.stdin.write("".join(batch))
    prog.p.stdin.close()
    prog.p.stdin = None
    text = prog.wait()
    if "errors: 0" not in text:
        raise RecordError(f"app {app['name']}: redis-cli --pipe reported errors: {text[-200:]!r}")


def redis_bgsave(sess: Session, app: dict[str, Any], out: Path) -> dict[str, Any]:
    """redis-server loaded to ``keys`` x ``value_bytes``, BGSAVE under a SET load; the parent."""
    a = app["params"]
    tmp = out / "redis"
    tmp.mkdir(exist_ok=True)
    # The RDB goes to a tmpfs: the job share is 9p, and its writes would time the child.
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={int(a.get('tmpfs_mb', 1024))}m",
                    "tmpfs", str(tmp)], check=True)
    sock = str(tmp / "redis.sock")
    server_cmd = [app["programs"]["redis-server"], "--port", "0", "--unixsocket", sock,
                  "--save", "", "--appendonly", "no", "--dir", str(tmp),
                  "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning"]
    server = Program(app, server_cmd, f"app {app['name']}: redis-server")
    try:
        _wait_socket(sock, server)
        r = Redis(sock, float(app["timeout_s"]))
        _populate(app, sock)
        mem = r.info("memory")
        calm = _benchmark(app, sock, int(a["requests"]), tmp)
        sess.register(server.p.pid, children=False)
        factor = int(a.get("snapshot_load_factor", 4))
        # The load runs from just before the BGSAVE until it ends, and beyond.
        bench = subprocess.Popen(
            [app["programs"]["redis-benchmark"], "-s", sock, "-t", "set", "-n",
             str(int(a["requests"]) * factor), "-r",
             str(a["keys"]), "-d", str(a["value_bytes"]), "-c", str(a["clients"]), "--csv",
             "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp)
        time.sleep(float(a.get("bgsave_after_s", 0.5)))
        sess.mark("fork")
        reply = r.call("BGSAVE")
        sess.mark("bgsave_reply")
        while True:
            pers = r.info("persistence")
            if pers.get("rdb_bgsave_in_progress") == "0":
                break
            if time.monotonic() > server.deadline:
                raise RecordError(f"app {app['name']}: BGSAVE did not finish in "
                                  f"{app['timeout_s']} s (app.timeout_s)")
            time.sleep(0.02)
        sess.mark("end")
        try:
            bout, berr = bench.communicate(timeout=max(1.0, server.deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            bench.kill()
            raise RecordError(f"app {app['name']}: redis-benchmark timed out "
                              f"(app.timeout_s={app['timeout_s']})") from None
        if bench.returncode != 0:
            raise RecordError(f"app {app['name']}: redis-benchmark exited with status "
                              f"{bench.returncode}: {berr.strip()[-200:]}")
        snap = {**_bench_csv(bout, app), "requests": int(a["requests"]) * factor}
        stats = r.info("stats")
        server_info = r.info("server")
        figures = {
            "bgsave_reply": reply, "rdb_last_cow_size": int(pers["rdb_last_cow_size"]),
            "rdb_last_bgsave_status": pers.get("rdb_last_bgsave_status"),
            "rdb_last_bgsave_time_sec": int(pers.get("rdb_last_bgsave_time_sec", -1)),
            "latest_fork_usec": int(stats.get("latest_fork_usec", -1)),
            "used_memory": int(mem["used_memory"]), "used_memory_rss": int(mem["used_memory_rss"]),
            "keys": int(a["keys"]), "value_bytes": int(a["value_bytes"]),
            "redis_version": server_info.get("redis_version"),
            "mem_allocator": mem.get("mem_allocator"),
            "load_without_snapshot": calm, "load_with_snapshot": snap,
            "roles": {str(server.p.pid): 0}, "command": server_cmd,
        }
    finally:
        server.p.terminate()
        try:
            server.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.p.kill()
        server._killer.cancel()
        subprocess.run(["umount", "-l", str(tmp)], check=False)
    return figures


def shell_subshells(sess: Session, app: dict[str, Any], out: Path) -> dict[str, Any]:
    """bash running apps/subshells.sh: the forked subshells (children of the script)."""
    a = app["params"]
    cmd = [app["program"], str(ROOT / "cowrl/record/apps/subshells.sh"), str(a["checks"]),
           str(a["par"]), str(a["lines"])]
    prog = Program(app, cmd, f"app {app['name']}: {app['program']}", cwd=out)
    pid = int(prog.readline("READY "))
    sess.register(pid, children=True)
    sess.mark("fork")  # the first fork follows the "go" line
    prog.send("go\n")
    result = json.loads(prog.readline("RESULT "))
    sess.mark("end")
    prog.wait()
    # The children are short-lived and many: the host numbers them 1.. by first fault.
    # The script's own process is left out: it forks again and again, so its pages are
    # shared anew by each fork (refaults), while each child faults once per page.
    return {**result, "roles": {str(pid): 0}, "child_roles": "by_first_fault",
            "exclude_parent": True, "command": cmd}


def script(sess: Session, app: dict[str, Any], out: Path) -> dict[str, Any]:
    """A script of ``apps/`` (``app.script``) run by the app's program: the parent that
    forks and its children (``WORKERS``), with the cpython_prefork protocol.

    The script prints ``READY <pid>``, waits for ``go`` on stdin, forks, prints
    ``FORK <ns>`` (CLOCK_MONOTONIC just before the first fork), ``WORKERS <pid>...`` and,
    once its children have exited, ``RESULT <json>``. ``app.params`` become ``--key
    value`` options (``_`` as ``-``); with ``app.tmpfs_mb`` a tmpfs is mounted for the
    script's files (``--dir``): the job directory is 9p, whose writes would time the app.
    With ``app.dev_shm`` a tmpfs is mounted at /dev/shm if none is (Python's
    ``multiprocessing`` locks are POSIX semaphores there).
    """
    cmd = [app["program"], *[str(x) for x in app.get("program_args") or []],
           str(ROOT / "cowrl/record/apps" / str(app["script"]))]
    for k, v in (app.get("params") or {}).items():
        cmd += [f"--{k.replace('_', '-')}", str(int(v) if isinstance(v, bool) else v)]
    shm = _dev_shm() if app.get("dev_shm") else contextlib.nullcontext()
    with _tmpfs(out, app.get("tmpfs_mb")) as tmp, shm:
        if tmp is not None:
            cmd += ["--dir", str(tmp)]
        return _workers_protocol(
            sess, Program(app, cmd, f"app {app['name']}: {app['program']}", cwd=out), cmd)


@contextlib.contextmanager
def _tmpfs(out: Path, size_mb: Any) -> Iterator[Path | None]:
    """A tmpfs of ``size_mb`` MiB at ``out/tmpfs`` for the program's files (None if 0/None):
    the job directory is 9p, whose writes would time the app."""
    if not size_mb:
        yield None
        return
    tmp = out / "tmpfs"
    tmp.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={int(size_mb)}m", "tmpfs", str(tmp)],
                   check=True)
    try:
        yield tmp
    finally:
        subprocess.run(["umount", "-l", str(tmp)], check=False)


# -- any command line ---------------------------------------------------------------------
_PTRACE_CONT, _PTRACE_DETACH, _PTRACE_SETOPTIONS, _PTRACE_GETEVENTMSG = 7, 17, 0x4200, 0x4201
_PTRACE_O_TRACEFORK, _PTRACE_O_TRACEEXEC, _PTRACE_O_EXITKILL = 0x2, 0x10, 0x100000
_PTRACE_EVENT_FORK, _PTRACE_EVENT_EXEC = 1, 4
_WALL = 0x40000000  # waitpid(2)'s __WALL: also tracees that are not our children
_PR_SET_CHILD_SUBREAPER = 36
# Run by the guest's Python between fork and exec: become traced by the driver, then exec
# the command, which the kernel stops (SIGTRAP) right after the exec, before its first
# instruction. The module's targets are an mm, and an exec replaces it: so the command is
# registered after its exec, and before it can fork.
_EXEC_TRACED = (
    "import ctypes, os, sys\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "if libc.ptrace(0, 0, None, None):\n"
    "    sys.exit('ptrace(PTRACE_TRACEME): ' + os.strerror(ctypes.get_errno()))\n"
    "try:\n"
    "    os.execv(sys.argv[1], sys.argv[1:])\n"
    "except OSError as e:\n"
    "    sys.exit(f'cannot execute {sys.argv[1]}: {e.strerror}')\n")
TAIL_BYTES = 2000


def _ptrace(req: int, pid: int, data: Any = None) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    libc.ptrace.restype = ctypes.c_long
    if libc.ptrace(req, pid, None, data) == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"ptrace({req:#x}, {pid}): {os.strerror(err)}")


class _Tail(threading.Thread):
    """Reads a pipe to its end, keeping its last TAIL_BYTES (the program may print a lot)."""

    def __init__(self, pipe: Any) -> None:
        super().__init__(daemon=True)
        self.pipe, self.text = pipe, b""
        self.start()

    def run(self) -> None:
        while chunk := self.pipe.read1(65536):
            self.text = (self.text + chunk)[-TAIL_BYTES:]

    def get(self) -> str:
        self.join(timeout=5)
        return self.text.decode(errors="replace")


class _Traced:
    """The command, started traced in its own process group; killed whole at app.timeout_s."""

    def __init__(self, app: dict[str, Any], argv: list[str], cwd: Path,
                 env: dict[str, str]) -> None:
        self.timeout_s = float(app["timeout_s"])
        self.p = subprocess.Popen([sys.executable, "-I", "-S", "-c", _EXEC_TRACED, *argv],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, cwd=cwd, env=env,
                                  start_new_session=True)
        self.out, self.err = _Tail(self.p.stdout), _Tail(self.p.stderr)
        self.timed_out = False
        self._killer = threading.Timer(self.timeout_s, self.kill)
        self._killer.daemon = True
        self._killer.start()

    def kill(self) -> None:
        self.timed_out = True
        with contextlib.suppress(OSError):  # the started process group, nothing else
            os.killpg(self.p.pid, signal.SIGKILL)

    def close(self) -> None:
        self._killer.cancel()
        if self.p.returncode is None:
            with contextlib.suppress(OSError):
                os.killpg(self.p.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.p.pid, 0)
            self.p.returncode = -signal.SIGKILL


@contextlib.contextmanager
def _dev_shm(size_mb: int = 64) -> Iterator[None]:
    """A tmpfs at /dev/shm if none is mounted (the guest's /dev is a bare devtmpfs): POSIX
    semaphores and shared memory (Python's multiprocessing) live there."""
    shm = Path("/dev/shm")
    if shm.is_mount():
        yield
        return
    shm.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=1777", "tmpfs",
                    str(shm)], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(shm)], check=False)


def _until_first_fork(sess: Session, t: _Traced) -> int | None:
    """Register the command once exec'd (again after each further exec: a target is an
    mm), then run it until its first fork(2), which is marked ``fork`` while both processes
    are stopped; detach from both. The new child's pid, or None if the command exited
    first (then ``t.p.returncode`` is set)."""
    pid = t.p.pid
    registered = False
    while True:
        _, st = os.waitpid(pid, _WALL)
        if not os.WIFSTOPPED(st):
            t.p.returncode = os.waitstatus_to_exitcode(st)
            return None
        sig, event = os.WSTOPSIG(st), st >> 16
        if (sig == signal.SIGTRAP and not registered) or event == _PTRACE_EVENT_EXEC:
            sess.register(pid, children=True)
            if not registered:
                _ptrace(_PTRACE_SETOPTIONS, pid, _PTRACE_O_TRACEFORK | _PTRACE_O_TRACEEXEC
                        | _PTRACE_O_EXITKILL)
            registered, sig = True, 0
        elif event == _PTRACE_EVENT_FORK:
            sess.mark("fork")
            msg = ctypes.c_ulong()
            _ptrace(_PTRACE_GETEVENTMSG, pid, ctypes.addressof(msg))
            child = int(msg.value)
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(child, _WALL)  # its first stop (the SIGSTOP a traced fork starts with)
                _ptrace(_PTRACE_DETACH, child, 0)
            _ptrace(_PTRACE_DETACH, pid, 0)
            return child
        _ptrace(_PTRACE_CONT, pid, sig)  # a signal for the command: delivered as it was


def command(sess: Session, app: dict[str, Any], out: Path) -> dict[str, Any]:
    """Any command line (``app.argv``): the process it starts and every descendant that does
    not exec, from its first fork to the exit of the last of them.

    The command starts stopped at its exec (ptrace), is registered with its descendants,
    runs until its first fork(2) (``fork`` is marked with both processes stopped) and is
    then left alone. Orphans are reparented to this process (a child subreaper), so
    ``end`` is marked when the whole tree has exited. Writers: the command 0, its
    descendants 1.. by first fault; ``app.exclude_parent`` leaves the command out.
    """
    argv = [str(a) for a in app["argv"]]  # checked and resolved on the host
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    with _tmpfs(out, app.get("tmpfs_mb")) as tmp, _dev_shm():
        cwd = tmp or out
        env = {**os.environ, "TMPDIR": str(cwd),
               **{str(k): str(v) for k, v in (app.get("env") or {}).items()}}
        t = _Traced(app, argv, cwd, env)
        try:
            child = _until_first_fork(sess, t)
            if child is None:
                if t.timed_out:
                    raise RecordError(f"app.timeout_s: {argv[0]} did not fork within "
                                      f"{t.timeout_s:g} s")
                if t.p.returncode:
                    raise _exit_error(f"app.argv: {argv[0]}", t.p.returncode, t.err.get())
                raise RecordError(f"app.argv: {argv[0]} exited without forking: it has no "
                                  "COW window to record")
            _, st = os.waitpid(t.p.pid, 0)
            t.p.returncode = os.waitstatus_to_exitcode(st)
            orphans = 0
            while True:  # descendants the command left behind (reparented to us)
                try:
                    os.waitpid(-1, 0)
                    orphans += 1
                except ChildProcessError:
                    break
            sess.mark("end")
            if t.timed_out:
                raise RecordError(f"app.timeout_s: {argv[0]} did not finish within "
                                  f"{t.timeout_s:g} s (its process group was killed)")
            if t.p.returncode:
                raise _exit_error(f"app.argv: {argv[0]}", t.p.returncode, t.err.get())
        finally:
            t.close()
    return {"roles": {str(t.p.pid): 0}, "child_roles": "by_first_fault",
            "exclude_parent": bool(app.get("exclude_parent", False)), "command": argv,
            "exit_status": t.p.returncode, "first_child": child, "orphans_reaped": orphans,
            "stdout_tail": t.out.get(), "stderr_tail": t.err.get()}


DRIVERS = {"cpython_prefork": cpython_prefork, "redis_bgsave": redis_bgsave,
           "shell_subshells": shell_subshells, "script": script, "command": command}

"""record.py: app errors, the records -> trace conversion, and (kernel) a real recording.

The kernel test records a small cpython_prefork (Debian's python3 forking 4
workers) inside the qemu guest with the module observing, checks the trace's
format, then replays it in the kernel harness with k=0 and checks the demand
fault count against the recording.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cowrl.errors import CowrlError
from cowrl.kernel.abi import load_abi, record_dtype
from cowrl.record.drivers import Program
from cowrl.record.recorder import record, records_to_trace
from cowrl.record.session import RecordError
from cowrl.traces.io import load_trace

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "record.py"), *args], cwd=cwd,
                          capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_a_missing_python_module_is_one_line_naming_its_package(tmp_path: Path) -> None:
    r = _cli("app=numpy_workers", f"out={tmp_path / 'o'}", "app.python_modules=[nosuchmod_x]",
             "+app.packages.nosuchmod_x=python3-nosuchmod")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0, r.stderr
    assert "cannot import nosuchmod_x" in r.stderr and "python3-nosuchmod" in r.stderr
    assert not (tmp_path / "o").exists()


def test_script_driver_passes_params_as_options(tmp_path: Path) -> None:
    """The generic driver's protocol, on the host with a fake session (no module)."""
    from cowrl.record import drivers

    class FakeSession:
        def __init__(self) -> None:
            self.marks: dict[str, int] = {}
            self.registered: list[tuple[int, bool]] = []

        def register(self, pid: int, children: bool = False) -> None:
            self.registered.append((pid, children))

        def mark(self, name: str) -> int:
            self.marks[name] = 1
            return 1

    script = tmp_path / "fake.sh"
    script.write_text('echo "READY $$"; read go; echo "FORK 5"; echo "WORKERS 7 9"; '
                      'echo "RESULT {\\"args\\": \\"$*\\"}"\n')
    app = {"name": "fake", "program": "/bin/sh", "script": str(script), "timeout_s": 30,
           "params": {"a_b": 3, "flag": True}}
    sess = FakeSession()
    fig = drivers.script(sess, app, tmp_path)  # type: ignore[arg-type]
    assert fig["args"] == "--a-b 3 --flag 1" and sess.marks == {"fork": 5, "end": 1}
    assert fig["roles"] == {str(sess.registered[0][0]): 0, "7": 1, "9": 2}
    assert sess.registered[0][1] is True


@pytest.mark.parametrize("dev_shm", [None, False, True])
def test_script_driver_mounts_dev_shm_only_when_asked(tmp_path: Path, monkeypatch,
                                                      dev_shm: bool | None) -> None:
    """``app.dev_shm`` (cpython_pool: multiprocessing's semaphores) wraps the script's run
    in :func:`drivers._dev_shm`, entered before the program starts and left after it."""
    import contextlib

    from cowrl.record import drivers

    log: list[str] = []

    @contextlib.contextmanager
    def fake_dev_shm():
        log.append("mount")
        yield
        log.append("umount")

    class FakeSession:
        marks: dict[str, int] = {}

        def register(self, pid: int, children: bool = False) -> None:
            log.append("register")

        def mark(self, name: str) -> int:
            return 1

    monkeypatch.setattr(drivers, "_dev_shm", fake_dev_shm)
    script = tmp_path / "fake.sh"
    script.write_text('echo "READY $$"; read go; echo "FORK 5"; echo "WORKERS 7"; '
                      'echo "RESULT {}"\n')
    app = {"name": "fake", "program": "/bin/sh", "script": str(script), "timeout_s": 30,
           "params": {}}
    if dev_shm is not None:
        app["dev_shm"] = dev_shm
    drivers.script(FakeSession(), app, tmp_path)  # type: ignore[arg-type]
    assert log == (["mount", "register", "umount"] if dev_shm else ["register"])


def test_unknown_app_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    r = _cli("app=nope", f"out={tmp_path / 'o'}")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0, r.stderr
    assert "unknown app 'nope'" in r.stderr and "cpython_prefork" in r.stderr
    assert not (tmp_path / "o").exists()


def test_unknown_field_is_one_line(tmp_path: Path) -> None:
    r = _cli("app=redis_bgsave", f"out={tmp_path / 'o'}", "colour=1")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0, r.stderr
    assert "colour: no such field here" in r.stderr
    assert not (tmp_path / "o").exists()


def test_bad_out_is_one_line_before_recording(tmp_path: Path) -> None:
    f = tmp_path / "a_file"
    f.write_text("x")
    r = _cli("app=redis_bgsave", f"out={f}")
    assert r.returncode == 2 and r.stderr.strip() == f"error: out: {f} exists and is not a "\
        "directory", r.stderr
    r = _cli("app=redis_bgsave", "out=/proc/nope/o")
    assert r.returncode == 2 and r.stderr.strip() == "error: out: cannot create /proc/nope "\
        "(No such file or directory)", r.stderr


def test_missing_program_names_the_debian_package(tmp_path: Path) -> None:
    r = _cli("app=redis_bgsave", f"out={tmp_path / 'o'}",
             "app.programs.redis-benchmark=/nonexistent/redis-benchmark")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0, r.stderr
    assert "redis-benchmark is not installed" in r.stderr and "redis-tools" in r.stderr
    assert not (tmp_path / "o").exists()


def test_program_failure_and_timeout_are_one_line() -> None:
    app = {"timeout_s": 30}
    with pytest.raises(RecordError, match=r"app x: false: exited with status 1"):
        Program(app, ["false"], "app x: false").wait()
    with pytest.raises(RecordError, match=r"timed out after 0.5 s"):
        Program({"timeout_s": 0.5}, ["sleep", "20"], "app x: sleep").wait()
    with pytest.raises(RecordError, match="ended before printing 'READY '"):
        Program(app, ["true"], "app x: true").readline("READY ")


def _fake_job(tmp: Path) -> Path:
    """A job dir as the guest leaves it: records of a parent (pid 10) and a child (11)."""
    abi = load_abi()
    dem = abi.COWRL_REC_DEMAND
    heap, anon, lib = 0x55_0000_0000, 0x7F_0000_0000, 0x7F_1000_0000
    rows = [  # pid, flags, addr, start_ns
        (10, dem, heap + 0x1000, 50),           # before the fork mark: dropped
        (10, dem, heap + 0x3000, 120),
        (11, dem, heap + 0x3000, 130),          # the child's own copy: its own region
        (10, dem, anon + 0x2000, 125),          # out of order in the ring: sorted by time
        (10, dem, lib + 0x1000, 140),           # file-backed: not an anonymous VMA
        (10, abi.COWRL_REC_PRECOPY, heap, 150),  # not a demand fault
        (99, dem, heap, 160),                   # not the app's process
        (10, dem, heap + 0x4000, 900),          # after the end mark
        (10, abi.COWRL_REC_KERNEL, anon, 126),  # a kernel-mode copy (read(2) into a buffer)
    ]
    recs = np.zeros(len(rows), dtype=record_dtype())
    for i, (pid, flags, addr, t) in enumerate(rows):
        recs[i]["pid"], recs[i]["flags"], recs[i]["addr"], recs[i]["start_ns"] = pid, flags, addr, t
    recs.tofile(tmp / "records.bin")
    vmas = [[heap, heap + 0x8000, "rw-p", "[heap]"], [anon, anon + 0x4000, "rw-p", ""],
            [lib, lib + 0x2000, "rw-p", "/usr/lib/libx.so"]]
    (tmp / "maps.jsonl").write_text("".join(json.dumps({"t_ns": 0, "pid": p, "vmas": vmas})
                                            + "\n" for p in (10, 11)))
    (tmp / "record.json").write_text(json.dumps({
        "marks": {"fork": 100, "end": 500},
        "figures": {"roles": {"10": 0, "11": 1}}}))
    return tmp


def test_records_to_trace(tmp_path: Path) -> None:
    trace, stats = records_to_trace(_fake_job(tmp_path), "fake", {})
    assert stats["file_or_unmapped"] == 1 and stats["demand_before_fork"] == 1
    assert stats["demand_after_end"] == 1 and stats["demand_other_pids"] == 1
    # regions: parent heap (8 pages), parent anon (4), child heap (8)
    assert stats["kernel_mode"] == 1
    assert trace.region_sizes.tolist() == [8, 4, 8]
    assert trace.region_writers.tolist() == [0, 0, 1]
    assert trace.pages.tolist() == [3, 8 + 2, 8, 12 + 3]
    assert trace.writer.tolist() == [0, 0, 0, 1] and trace.t_ns.tolist() == [20, 25, 26, 30]


@pytest.mark.kernel
def test_record_a_real_program_and_replay_it(tmp_path: Path, compose_cfg) -> None:
    """Record a small cpython_prefork in the guest; its k=0 kernel replay gives its faults."""
    from cowrl.kernel.backend import run_session
    from cowrl.kernel.jobs import RunRequest
    from cowrl.policies.static import Baseline

    out = tmp_path / "rec"
    cfg = compose_cfg("record", ["app=cpython_prefork", f"out={out}", "app.params.rows=20000",
                                 "app.params.requests=200", "app.params.collect_at=20",
                                 "progress=false"])
    res = record(cfg)
    stats = res["stats"]
    trace = load_trace(out / "cpython_prefork.npz")
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["dropped"] == 0 and prov["nmissed"] == 0
    assert prov["packages"]["python3"] != "unknown" and "6.1" in prov["kernel_release"]
    assert trace.writes == stats["writes"] > 1000
    assert set(np.unique(trace.writer).tolist()) == {0, 1, 2, 3, 4}
    assert np.all(np.diff(trace.t_ns) >= 0) and trace.t_ns[0] >= 0
    assert trace.region_sizes.size >= 5 and trace.region_writers is not None
    # Each process faults once per page per fork; the parent forked 4 times, so the pages
    # it wrote between two forks fault again: those are the only repeated (writer, page).
    distinct = np.unique(trace.pages).size
    assert distinct == trace.writes - stats["refaults"]
    again = np.setdiff1d(np.arange(trace.writes), np.unique(trace.pages, return_index=True)[1])
    assert np.all(trace.writer[again] == 0)
    rec = run_session([RunRequest(trace, Baseline())], None, progress=False).records[0]
    assert rec.faults == distinct and rec.extra["integrity_ok"]
    with pytest.raises(CowrlError, match="not empty"):
        record(cfg)


CORPUS = ["redis_bgsave", "cpython_prefork", "cpython_prefork_freeze", "shell_subshells",
          "numpy_workers", "numpy_checkpoint", "perl_prefork", "sqlite_snapshot",
          "cpython_kvcache", "cpython_render", "perl_shards",
          "cpython_pool", "perl_sessions", "cpython_statedump"]
# experiment=real (the demo's kernel step) replays these; the rest of the corpus is for
# training and leave-one-app-out (docs/traces.md).
REAL = ["redis_bgsave", "cpython_prefork", "cpython_prefork_freeze", "shell_subshells"]


def test_corpus_list_is_every_recorded_trace_with_its_configs() -> None:
    assert sorted(CORPUS) == sorted(f.stem for f in (ROOT / "data/traces").glob("*.npz"))
    for name in CORPUS:
        assert (ROOT / "conf/workload" / f"{name}.yaml").is_file()
        prov = json.loads((ROOT / "data/traces" / f"{name}.json").read_text())["provenance"]
        assert (ROOT / "conf/app" / f"{prov['app']}.yaml").is_file()


@pytest.mark.parametrize("name", CORPUS)
def test_corpus_trace_loads_with_provenance(name: str) -> None:
    from cowrl.registry import make_workload

    t = make_workload(name)
    assert t.name == name and t.region_sizes is not None and t.region_starts is not None
    info = json.loads((ROOT / "data/traces" / f"{name}.json").read_text())
    prov = info["provenance"]
    assert prov["dropped"] == 0 and prov["nmissed"] == 0 and prov["app"] == name
    assert info["stats"]["writes"] == t.writes
    assert (ROOT / "data/traces" / f"{name}.npz").stat().st_size < 4 * 2**20
    full = load_trace(ROOT / "data/traces" / f"{name}.npz")
    assert full.t_ns is not None and np.all(np.diff(full.t_ns) >= 0)


def test_experiment_real_composes(compose_cfg) -> None:
    cfg = compose_cfg("eval", ["experiment=real"])
    assert list(cfg.workloads) == REAL and list(cfg.snapshot_report) == ["redis_bgsave"]
    cfg = compose_cfg("eval", ["experiment=corpus"])
    assert list(cfg.workloads) == CORPUS


def test_snapshot_table(tmp_path: Path) -> None:
    from cowrl.record.report import write_snapshot_table

    row = {"workload": "redis_bgsave", "policy": "precopy", "faults": 10, "precopied": 6,
           "wasted": 2, "cow_ns": 5e6, "write_p99_ns": 3e4, "write_max_ns": 9e4}
    text = write_snapshot_table(tmp_path, [row, {**row, "workload": "other"}], ["redis_bgsave"])
    assert "| redis_bgsave | precopy | 30.00 | 90.00 | 5.0 | 10 | 16 (0.1) | 2 (0.0) |" in text
    assert "other" not in text and (tmp_path / "snapshot.md").read_text() == text


@pytest.mark.kernel
def test_a_failing_program_in_the_guest_is_one_line(tmp_path: Path) -> None:
    """The program exits non-zero inside the guest: one line naming the app, no out dir."""
    r = _cli("app=cpython_prefork", f"out={tmp_path / 'o'}", "app.program=/usr/bin/false",
             "progress=false")
    assert r.returncode == 2, r.stderr
    err = r.stderr.strip().splitlines()
    assert err[-1] == "error: app cpython_prefork: /usr/bin/false: exited with status 1", err
    assert not (tmp_path / "o").exists() and not list(tmp_path.glob(".o.tmp*"))


# -- app=command: any command line --------------------------------------------------------
class _ExeSession:
    """A Session without the module: what was registered (and the exe it ran), the marks."""

    def __init__(self) -> None:
        self.marks: dict[str, int] = {}
        self.registered: list[tuple[int, bool, str]] = []

    def register(self, pid: int, children: bool = False) -> None:
        self.registered.append((pid, children, Path(f"/proc/{pid}/exe").resolve().name))

    def mark(self, name: str) -> int:
        import time

        self.marks[name] = time.monotonic_ns()
        return self.marks[name]


def _command(argv: list[str] | str, tmp: Path, **app: object) -> tuple[dict, _ExeSession]:
    from cowrl.record import drivers
    from cowrl.record.recorder import check_command

    cfg = {"name": "command", "driver": "command", "argv": argv, "timeout_s": 20, **app}
    check_command(cfg)
    sess = _ExeSession()
    return drivers.command(sess, cfg, tmp), sess  # type: ignore[arg-type]


PERL_FORKS = ('my @a = (1..2000); for my $w (1..3) { if (!fork) { $_ += $w for @a; exit 0 } } '
              'wait for 1..3; print "done\\n"')


def test_command_is_registered_after_its_exec_and_marked_at_its_first_fork(
        tmp_path: Path) -> None:
    fig, sess = _command(["perl", "-e", PERL_FORKS], tmp_path)
    # registered once, as perl (not the exec wrapper), with its descendants
    assert [(c, exe) for _, c, exe in sess.registered] == [(True, "perl")]
    pid = sess.registered[0][0]
    assert fig["roles"] == {str(pid): 0} and fig["child_roles"] == "by_first_fault"
    assert fig["exclude_parent"] is False and fig["exit_status"] == 0
    assert fig["command"][0] == "/usr/bin/perl" and fig["stdout_tail"] == "done\n"
    assert isinstance(fig["first_child"], int) and fig["first_child"] != pid
    assert 0 < sess.marks["fork"] < sess.marks["end"]
    fig, _ = _command(f"perl -e '{PERL_FORKS}'", tmp_path, exclude_parent=True)  # one string
    assert fig["exclude_parent"] is True and fig["stdout_tail"] == "done\n"


def test_command_is_registered_again_after_a_second_exec(tmp_path: Path) -> None:
    """A target is an mm: ``bash -c 'exec perl ...'`` is registered as bash, then as perl."""
    _, sess = _command(["bash", "-c", "exec perl -e 'fork or exit 0; wait'"], tmp_path)
    assert [exe for _, _, exe in sess.registered] == ["bash", "perl"]
    assert len({pid for pid, _, _ in sess.registered}) == 1


def test_command_end_waits_for_the_orphans_it_leaves(tmp_path: Path) -> None:
    fig, sess = _command(["perl", "-e", "fork or do { select(undef, undef, undef, 0.4); "
                          "exit 0 }; exit 0"], tmp_path)
    assert fig["orphans_reaped"] == 1
    assert sess.marks["end"] - sess.marks["fork"] >= 0.4e9


def test_command_failures_are_one_line_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match=r"^app.argv: /usr/bin/true exited without forking"):
        _command(["/usr/bin/true"], tmp_path)
    with pytest.raises(RecordError,
                       match=r"^app.argv: \S+/perl: exited with status 3: boom$"):
        _command(["perl", "-e", "fork or exit 0; wait; print STDERR qq(x\\nboom\\n); exit 3"],
                 tmp_path)
    with pytest.raises(RecordError, match=r"^app.timeout_s: /usr/bin/sleep did not fork "
                                          r"within 0.5 s$"):
        _command(["/usr/bin/sleep", "20"], tmp_path, timeout_s=0.5)
    with pytest.raises(RecordError, match=r"^app.timeout_s: \S+/perl did not finish within "
                                          r"0.5 s \(its process group was killed\)$"):
        _command(["perl", "-e", "fork; sleep 20"], tmp_path, timeout_s=0.5)


@pytest.mark.parametrize(("argv", "msg"), [
    ([], "app.argv: give the command line to record"),
    ("", "app.argv: give the command line to record"),
    (["/nonexistent/prog", "-x"], "app.argv: '/nonexistent/prog' names no executable file"),
    (["no-such-program-cowrl"], "app.argv: 'no-such-program-cowrl' names no executable"),
    (["/etc/passwd"], "app.argv: '/etc/passwd' names no executable file"),
    (["perl", {"a": 1}], "app.argv: argument 1 is {'a': 1}, not a string"),
    ("perl -e 'unclosed", "app.argv: cannot split"),
])
def test_check_command_rejects_a_bad_argv(argv: object, msg: str) -> None:
    from cowrl.errors import ConfigError
    from cowrl.record.recorder import check_command

    with pytest.raises(ConfigError, match="^" + re.escape(msg)):
        check_command({"name": "command", "argv": argv, "timeout_s": 10})


def test_check_command_resolves_argv_and_names_the_trace(tmp_path: Path, monkeypatch) -> None:
    from cowrl.errors import ConfigError
    from cowrl.record.recorder import check_command

    shim = tmp_path / "perl"  # a shim on the user's PATH (pyenv's, a virtualenv's) is not used
    shim.write_text("#!/bin/sh\nexit 0\n")
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    app = {"name": "command", "argv": ["perl", "-e", 1], "timeout_s": 10, "trace_name": None}
    check_command(app)
    assert app["argv"] == ["/usr/bin/perl", "-e", "1"] and app["trace_name"] == "perl"
    assert app["program"] == "/usr/bin/perl"
    assert app["packages"]["perl"].startswith("perl")  # the Debian package, for provenance
    app = {"name": "command", "argv": "bash -c 'exit 0'", "timeout_s": 10}
    check_command(app)  # one string, split as a shell would; bash is /bin/bash's package
    assert app["argv"] == ["/usr/bin/bash", "-c", "exit 0"] and app["packages"] == {"bash": "bash"}
    with pytest.raises(ConfigError, match=r"^app.trace_name: '\.\./x' is not a file stem"):
        check_command({**app, "argv": ["perl"], "trace_name": "../x"})
    with pytest.raises(ConfigError, match=r"^app.timeout_s: 'soon' is not a positive"):
        check_command({**app, "argv": ["perl"], "timeout_s": "soon"})


def test_command_cli_errors_before_the_guest_boots(tmp_path: Path) -> None:
    from cowrl.record.recorder import SYSTEM_PATH

    r = _cli("app=command", f"out={tmp_path / 'o'}")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0, r.stderr
    assert r.stderr.startswith("error: app.argv: give the command line to record")
    r = _cli("app=command", f"out={tmp_path / 'o'}", "app.argv=[/nonexistent/prog,1]")
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == "error: app.argv: '/nonexistent/prog' names no executable " \
        f"file (a path, or a name in {SYSTEM_PATH})"
    assert not (tmp_path / "o").exists()


def test_records_to_trace_numbers_children_by_first_fault(tmp_path: Path) -> None:
    """child_roles=by_first_fault: every unregistered pid of the window is a child, numbered
    by its first fault; exclude_parent drops the registered process (writer 0)."""
    job = _fake_job(tmp_path)
    rep = json.loads((job / "record.json").read_text())
    rep["figures"] = {"roles": {"10": 0}, "child_roles": "by_first_fault"}
    (job / "record.json").write_text(json.dumps(rep))
    trace, stats = records_to_trace(job, "fake", {})
    # pid 11 faults at 130, pid 99 at 160 (here a descendant too): writers 1 and 2
    assert trace.writer.tolist() == [0, 0, 0, 1, 2] and stats["demand_other_pids"] == 0
    rep["figures"]["exclude_parent"] = True
    (job / "record.json").write_text(json.dumps(rep))
    trace, stats = records_to_trace(job, "fake", {})
    assert trace.writer.tolist() == [1, 2] and stats["demand_other_pids"] == 4  # 10's 4


@pytest.mark.kernel
def test_record_any_command_in_the_guest(tmp_path: Path, compose_cfg) -> None:
    """app=command records a perl one-liner that forks 3 workers writing its array (~25 s):
    writer 0 the command, 1..3 the workers by first fault; nothing but its tree is seen."""
    out = tmp_path / "rec"
    cfg = compose_cfg("record", ["app=command", f"out={out}", "progress=false",
                                 f"app.argv=[perl,-e,'{PERL_FORKS.replace('2000', '20000')}']",
                                 "app.trace_name=perl_forks"])
    res = record(cfg)
    stats, fig = res["stats"], res["figures"]
    trace = load_trace(out / "perl_forks.npz")
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["dropped"] == 0 and prov["nmissed"] == 0 and "6.1" in prov["kernel_release"]
    assert prov["command"][0] == "/usr/bin/perl" and prov["packages"]
    assert fig["exit_status"] == 0 and fig["stdout_tail"] == "done\n"
    assert stats["demand_other_pids"] == 0 and stats["demand_after_end"] == 0
    assert set(np.unique(trace.writer).tolist()) == {0, 1, 2, 3}
    # each worker adds to all 20000 elements: it copies their pages (hundreds), the
    # command only the few it writes between forks
    per = np.bincount(trace.writer)
    assert per[1:].min() > 100 and per[0] < per[1:].min()
    assert np.unique(trace.pages).size == trace.writes - stats["refaults"]
    assert np.all(np.diff(trace.t_ns) >= 0) and trace.t_ns[0] >= 0


@pytest.mark.parametrize(("arg", "line"), [
    # read by no driver: the recording ran (minutes) with the parameter silently ignored
    ("+app.params.keyz=1000", "error: app.params.keyz: app redis_bgsave takes no such "
                              "parameter (it takes: keys, "),
    # checked only for app=command: a named app booted and then failed on it
    ("app.timeout_s=-1", "error: app.timeout_s: -1 is not a positive number of seconds"),
    ("app.memory_mb=lots", "error: app.memory_mb: 'lots' is not a positive integer (MiB)"),
])
def test_bad_app_settings_are_one_line_before_recording(tmp_path: Path, arg: str,
                                                        line: str) -> None:
    r = _cli("app=redis_bgsave", f"out={tmp_path / 'o'}", arg)
    assert r.returncode == 2 and r.stderr.strip().startswith(line), r.stderr
    assert r.stderr.strip().count("\n") == 0 and not (tmp_path / "o").exists()

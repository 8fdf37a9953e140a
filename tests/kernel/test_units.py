"""Fast tests of the kernel target's host-side pieces (no guest boot)."""

from __future__ import annotations

import ctypes
import errno
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from cowrl.errors import ConfigError, CowrlError, TargetUnavailable
from cowrl.kernel import abi as abimod
from cowrl.kernel import runners
from cowrl.kernel.abi import load_abi, record_dtype
from cowrl.kernel.config import KernelConfig
from cowrl.kernel.jobs import RunRequest, kernel_plan, parse_run, table_payload_error, write_job
from cowrl.kernel.table import pack_table
from cowrl.policies.base import KernelProgram, Policy
from cowrl.policies.context import N_CELLS
from cowrl.policies.readahead import Readahead
from cowrl.policies.static import Baseline, HugePage, StaticPrecopy
from cowrl.policies.table import TablePolicy
from cowrl.traces.io import Trace

ROOT = Path(__file__).resolve().parents[2]

C_PROBE = r"""
#include <stddef.h>
#include <stdio.h>
#include "cowrl_uapi.h"
#include "cowrl_policy.h"
#define S(t) printf("size %s %zu\n", #t, sizeof(struct t))
#define O(t, f) printf("off %s.%s %zu\n", #t, #f, offsetof(struct t, f))
#define I(n) printf("ioctl %s %lu\n", #n, (unsigned long)(n))
int main(void)
{
	S(cowrl_record); S(cowrl_version); S(cowrl_target); S(cowrl_policy);
	S(cowrl_counters); S(cowrl_manual_cow);
	O(cowrl_record, addr); O(cowrl_record, work_ns); O(cowrl_record, precopied);
	O(cowrl_manual_cow, pages); O(cowrl_counters, out_of_scope); O(cowrl_policy, table_ptr);
	O(cowrl_counters, decisions); O(cowrl_counters, decide_ns);
	O(cowrl_counters, decide_clock_ns); O(cowrl_counters, kernel_copies);
	O(cowrl_counters, targets); O(cowrl_counters, proof_clean);
	O(cowrl_counters, proof_credited); O(cowrl_counters, proof_foreign);
	O(cowrl_counters, guard_asked); O(cowrl_counters, guard_misses);
	O(cowrl_counters, guard_refused_setup); O(cowrl_counters, guard_budget_ns);
	I(COWRL_IOC_VERSION); I(COWRL_IOC_REGISTER); I(COWRL_IOC_UNREGISTER);
	I(COWRL_IOC_SET_POLICY); I(COWRL_IOC_COUNTERS); I(COWRL_IOC_RESET);
	I(COWRL_IOC_MANUAL_COW);
	printf("const COWRL_ABI_VERSION %d\n", COWRL_ABI_VERSION);
	printf("const COWRL_MAX_K %d\n", COWRL_MAX_K);
	printf("const COWRL_POLICY_TABLE_BYTES %zu\n", sizeof(struct cowrl_policy_table));
	return 0;
}
"""


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc to compile the header")
def test_python_abi_matches_compiled_header(tmp_path: Path) -> None:
    src = tmp_path / "probe.c"
    src.write_text(C_PROBE)
    exe = tmp_path / "probe"
    subprocess.run(["gcc", f"-I{ROOT / 'kernel_module'}", "-o", str(exe), str(src)], check=True)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    abi = load_abi()
    for line in out.splitlines():
        kind, name, value = line.split()
        if kind == "size":
            assert ctypes.sizeof(abi.structs[name]) == int(value), name
        elif kind == "off":
            s, f = name.split(".")
            assert getattr(abi.structs[s], f).offset == int(value), name
        elif kind == "ioctl":
            assert abi.ioctls[name] == int(value), name
        else:
            assert abi.constants[name] == int(value), name


def test_abi_basics() -> None:
    abi = load_abi()
    assert abi.version == 20
    # v17: the 13 GUARDED decision tallies after proof_foreign (26 counters before them);
    # v18: 8 more after guard_gate_shut (the 11th), before hits and misses, then the budget;
    # v20: guard_empty after guard_spend_sib_ns (the 19th), before hits
    c = abi.structs["cowrl_counters"]
    assert ctypes.sizeof(c) == (26 + 23) * 8 and c.guard_asked.offset == 26 * 8
    assert c.guard_refused_setup.offset == (26 + 11) * 8 and c.guard_empty.offset == (26 + 19) * 8
    assert c.guard_hits.offset == (26 + 20) * 8 and c.guard_budget_ns.offset == (26 + 22) * 8
    assert abi.device == "/dev/cowrl"
    assert record_dtype().itemsize == ctypes.sizeof(abi.structs["cowrl_record"]) == 48
    assert abi.COWRL_POLICY_TABLE != abi.COWRL_POLICY_STATIC  # room for the decision table
    with pytest.raises(AttributeError):
        _ = abi.NO_SUCH_THING


def test_abi_parser_on_a_tiny_header() -> None:
    a = abimod.Abi("#define COWRL_X 3\n#define COWRL_IOC_MAGIC 0x10\n"
                   "struct s { __u64 a; __u32 b; __u32 c; };\n"
                   "#define COWRL_IOC_Q _IOWR(COWRL_IOC_MAGIC, 2, struct s)\n")
    assert a.COWRL_X == 3
    assert a.COWRL_IOC_Q == (3 << 30) | (16 << 16) | (0x10 << 8) | 2


def test_host_runner_without_module_support(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.setattr(runners, "PROC_MODULES", tmp_path / "no-such-file")
    with pytest.raises(TargetUnavailable) as e:
        runners.HostRunner(KernelConfig(runner="host", cache_dir=str(tmp_path)))
    msg = str(e.value)
    assert "no loadable-module support" in msg and "/proc/modules is missing" in msg
    assert "kernel.runner=qemu" in msg and msg.count(". ") == 0  # one sentence


def test_host_runner_says_what_else_is_missing(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    """With module support, HostRunner's other two checks, each one sentence naming the fix:
    not root, and no headers for the running kernel. (A test that needed a host without
    /proc/modules was skipped on every machine the suite runs on.)"""
    (tmp_path / "modules").write_text("")
    monkeypatch.setattr(runners, "PROC_MODULES", tmp_path / "modules")
    monkeypatch.setattr(runners.build, "host_kernel_release", lambda: "9.9.9-test")
    monkeypatch.setattr(runners.os, "geteuid", lambda: 1000)
    cfg = KernelConfig(runner="host", cache_dir=str(tmp_path))
    with pytest.raises(TargetUnavailable) as e:
        runners.HostRunner(cfg)
    assert str(e.value) == ("kernel.runner=host must run as root to load the module; rerun "
                            "with sudo or use kernel.runner=qemu")
    monkeypatch.setattr(runners.os, "geteuid", lambda: 0)
    with pytest.raises(TargetUnavailable) as e:  # no /usr/src/linux-headers-9.9.9-test
        runners.HostRunner(cfg)
    assert str(e.value) == (
        "kernel headers for the running kernel 9.9.9-test are missing; install them "
        "(Debian/Ubuntu: 'apt-get install linux-headers-9.9.9-test') or use kernel.runner=qemu")
    monkeypatch.setattr(runners.build, "headers_dir", lambda release: tmp_path)
    assert runners.HostRunner(cfg).release == "9.9.9-test"  # every check passes


@pytest.mark.parametrize("name", ["qemu", "host"])
def test_yaml_matches_dataclass_defaults(name: str) -> None:
    data = yaml.safe_load((ROOT / "conf" / "kernel" / f"{name}.yaml").read_text())
    cfg = KernelConfig.from_any(data)
    default = KernelConfig(runner=name)
    assert cfg == default


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ConfigError, match="kernel.runner"):
        KernelConfig(runner="docker")
    with pytest.raises(ConfigError, match="unknown kernel config"):
        KernelConfig.from_any({"runer": "qemu"})
    with pytest.raises(ConfigError, match="kernel.release must be a kernel release"):
        KernelConfig.from_any({"release": [6, 12]})
    with pytest.raises(ConfigError, match="kernel.kernel_release must not be empty"):
        KernelConfig(kernel_release=" ")


@pytest.mark.parametrize(("field", "value", "needle"), [
    # What a Hydra command line can pass; each was accepted (warmup=maybe ran a session with a
    # warm-up) or failed late (module_params=5 inside the guest, cache_dir=null a traceback).
    ("warmup", "maybe", "kernel.warmup must be true or false, got 'maybe'"),
    ("keep_jobs", 1, "kernel.keep_jobs must be true or false"),
    ("module_params", 5, "kernel.module_params must be a string, got 5"),
    ("kvm_cpu", 1, "kernel.kvm_cpu must be a string"),
    ("cache_dir", None, "kernel.cache_dir must be a string, got None"),
    ("cpus", True, "kernel.cpus must be an integer"),
    ("memory_mb", 2048.5, "kernel.memory_mb must be an integer"),
    ("timeout_s", "soon", "kernel.timeout_s must be a number"),
    ("boot_timeout_s", -1, "kernel.boot_timeout_s must be positive"),
    ("kvm_probe_timeout_s", float("nan"), "kernel.kvm_probe_timeout_s must be positive"),
])
def test_config_rejects_wrong_types(field: str, value: object, needle: str) -> None:
    with pytest.raises(ConfigError) as e:
        KernelConfig.from_any({field: value})
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_config_release_short_form() -> None:
    # kernel.release=6.12 on a Hydra command line arrives as a float
    assert KernelConfig.from_any({"release": 6.12}).kernel_release == "6.12"
    both = KernelConfig.from_any({"release": "6.1", "kernel_release": "auto"})
    assert both.kernel_release == "6.1"
    assert KernelConfig.from_any({"kernel_release": 6.12}).kernel_release == "6.12"
    assert KernelConfig().kernel_release == "auto"


def test_resolve_release_series(monkeypatch: pytest.MonkeyPatch) -> None:
    from cowrl.kernel import build

    monkeypatch.setattr(build, "installed_header_releases",
                        lambda: ["6.1.0-57-amd64", "6.1.0-41-amd64"])
    assert build.resolve_release("6.1") == "6.1.0-57-amd64"
    assert build.resolve_release("auto") == "6.1.0-57-amd64"
    assert build.resolve_release("6.1.0-41-amd64") == "6.1.0-41-amd64"
    with pytest.raises(TargetUnavailable, match="^kernel.release=5.10: no Linux 5.10 headers "
                       "are installed"):
        build.resolve_release("5.10")


def test_an_unknown_release_names_the_field(tmp_path: Path) -> None:
    """kernel.release=7 (no such headers, no fetched series) says which field, before any
    download."""
    from cowrl.kernel import build

    with pytest.raises(TargetUnavailable) as e:
        build.ensure_kernel(tmp_path, "7")
    assert str(e.value).startswith("kernel.release=7: its headers are not installed and 7 is "
                                   "not a fetched series")
    assert not (tmp_path / "kernel").exists()


def test_a_cache_dir_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    """kernel.cache_dir naming a file was a NotADirectoryError traceback from the runner."""
    from cowrl.kernel.backend import new_job

    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(ConfigError, match=f"^kernel.cache_dir: cannot create {afile} "):
        new_job(KernelConfig(cache_dir=str(afile)), "eval", progress=False)


def _qemu_runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, accel: str
                 ) -> runners.QemuRunner:
    from cowrl.kernel import build

    monkeypatch.setattr(build, "resolve_release", lambda release, cache=None: "6.1.0-57-amd64")
    monkeypatch.setattr(runners, "_qemu_version", lambda: "QEMU emulator version 7.2")
    return runners.QemuRunner(KernelConfig(accel=accel, cache_dir=str(tmp_path)))


def test_accel_kvm_without_the_device_fails_before_the_preparation(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """kernel.accel=kvm where /dev/kvm is not usable: one line as the runner is made, not
    after prepare() has fetched the kernel and built the module and initramfs."""
    monkeypatch.setattr(runners, "KVM_DEVICE", str(tmp_path / "no-kvm"))
    with pytest.raises(TargetUnavailable, match="^kernel.accel=kvm but .*no-kvm is not usable"):
        _qemu_runner(monkeypatch, tmp_path, "kvm")
    _qemu_runner(monkeypatch, tmp_path, "auto")  # auto falls back to TCG later


def test_accel_kvm_says_why_qemu_stopped(monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    """A KVM probe that qemu ends at once (no usable KVM hardware behind /dev/kvm) said the
    guest 'did not boot within 20.0 s'; now qemu's own reason."""
    kvm = tmp_path / "kvm"
    kvm.write_text("")
    monkeypatch.setattr(runners, "KVM_DEVICE", str(kvm))
    runner = _qemu_runner(monkeypatch, tmp_path, "kvm")
    runner.kernel_dir, runner.initramfs = tmp_path, tmp_path / "initrd"

    def boot(cmd: list[str], log: Path, *a: object, **k: object) -> tuple[bool, float]:
        log.write_text("\n[qemu] qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\n"
                       "qemu-system-x86_64: kvm.c:3183: kvm_buf_set_msrs: Assertion failed.\n")
        return False, 0.4

    monkeypatch.setattr(runner, "_boot", boot)
    with pytest.raises(TargetUnavailable) as e:
        runner._kvm_works()
    assert str(e.value) == ("kernel.accel=kvm but qemu stopped: qemu-system-x86_64: error: "
                            f"failed to set MSR 0x10a to 0x69 (see {tmp_path}/kvm_probe.log); "
                            "use kernel.accel=auto or tcg")


def _trace() -> Trace:
    return Trace(np.array([5, 1, 2, 5, 7, 2]), 10, name="t")


def test_job_serialisation_roundtrip(tmp_path: Path) -> None:
    tr = _trace()
    reqs = [RunRequest(tr, Baseline()), RunRequest(tr, StaticPrecopy(4)),
            RunRequest(tr, HugePage()), RunRequest(tr, Baseline(), module=False, writer="parent")]
    specs = write_job(tmp_path, reqs, "child", {"module": "m.ko", "harness": "h"}, ("rmmod",))
    assert [s.k for s in specs] == [0, 4, 0, 0]
    assert [s.thp for s in specs] == [False, False, True, False]
    assert [s.writer for s in specs] == ["child", "child", "child", "parent"]
    assert specs[3].policy == "baseline+nomodule"
    assert len({s.trace for s in specs}) == 1  # one file per trace
    assert np.array_equal(np.fromfile(specs[0].trace, dtype="<i8"), tr.pages)
    import json

    job = json.loads((tmp_path / "job.json").read_text())
    assert job["checks"] == ["rmmod"] and len(job["runs"]) == 4 and job["module"] == "m.ko"


# Regions at recorded addresses: region 0 at vpn 3 (mod 512), region 1 right after it in the
# process (adjacent: the harness needs a guard slot, so it moves on a huge page), region 2 at
# another mapping (vpn 31 mod 512).
REC = Trace(np.array([0, 4, 5, 7, 8, 19, 12, 1]), 20, name="rec",
            region_sizes=np.array([5, 3, 12]),
            region_starts=np.array([0x7f0000003000, 0x7f0000008000, 0x55550001f000],
                                   dtype=np.uint64))
MULTI = Trace(REC.pages, 20, name="multi", region_sizes=np.array([5, 3, 12]))


def test_harness_slots_keep_the_simulators_vpn_mod_512() -> None:
    """Each region's first harness slot is congruent modulo 512 (2 MiB, slot 0 is 2 MiB
    aligned) to the simulator's vpn of its first page, the closest such slot after the
    previous region and one guard slot."""
    from cowrl.kernel.jobs import HARNESS_ALIGN_PAGES, harness_slots
    from cowrl.traces.io import load_trace

    assert HARNESS_ALIGN_PAGES == 512
    assert harness_slots(_trace()).tolist() == [0]  # one synthetic region: slot 0 as ever
    assert harness_slots(MULTI).tolist() == [0, 517, 1032]  # vpn = page index: 0, 5, 8
    assert harness_slots(REC).tolist() == [3, 520, 543]  # vpn 3, 8, 31 (mod 512)
    one_rec = Trace(np.arange(4), 4, region_sizes=np.array([4]),
                    region_starts=np.array([0x7000_0000_5000], dtype=np.uint64))
    assert harness_slots(one_rec).tolist() == [5]
    for t in (MULTI, REC, one_rec, load_trace(ROOT / "data/traces/redis_bgsave.npz")):
        s, sizes = harness_slots(t), t.region_ends - t.region_begins
        assert np.all((s - (t.region_begins + t.region_vpn_offsets)) % 512 == 0), t.name
        gap = s[1:] - (s[:-1] + sizes[:-1])
        assert s[0] in range(512) and np.all((gap >= 1) & (gap <= 512)), t.name


def test_regions_file_maps_slots_back_to_pages(tmp_path: Path) -> None:
    from cowrl.kernel.jobs import harness_slots, slots_to_pages

    specs = write_job(tmp_path, [RunRequest(_trace(), Baseline()), RunRequest(MULTI, Baseline()),
                                 RunRequest(REC, Baseline())], "child", {})
    assert specs[0].regions == ""  # one region at slot 0: no --regions
    for spec, t in zip(specs[1:], (MULTI, REC), strict=True):
        pairs = np.fromfile(spec.regions, dtype="<i8").reshape(-1, 2)
        assert pairs[:, 0].tolist() == [5, 3, 12]
        assert pairs[:, 1].tolist() == harness_slots(t).tolist()
        r = np.searchsorted(t.region_ends, np.arange(20), side="right")
        slots = np.arange(20) - t.region_begins[r] + pairs[r, 1]
        assert slots_to_pages(slots, spec).tolist() == list(range(20))
        with pytest.raises(CowrlError, match="1 module record.s. in the guard slots"):
            slots_to_pages(np.array([pairs[1, 1] - 1]), spec)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc to build the harness")
def test_harness_places_regions_at_the_given_slots(tmp_path: Path) -> None:
    """The harness here, without the module: a recorded-address trace replays over the
    slots write_job gives it (--regions pairs), every page intact, written pages private."""
    from cowrl.kernel import build
    from cowrl.kernel.jobs import read_summary

    harness = str(build.ensure_harness(tmp_path / "cache"))
    (spec,) = write_job(tmp_path, [RunRequest(REC, Baseline(), module=False)], "child", {})
    out = tmp_path / "out"
    out.mkdir()
    cmd = [harness, "--trace", spec.trace, "--n-pages", "20", "--out", str(out),
           "--no-module", "--regions"]
    p = subprocess.run([*cmd, spec.regions], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    s = read_summary(out / "summary.txt")
    assert (s["regions"], s["n_slots"], s["n_pages"]) == (3, 543 + 12, 20)
    assert s["writer_ok"] == s["holder_ok"] == 1 and s["region_start"] % (2 << 20) == 0
    assert s["private_pages"] == np.unique(REC.pages).size and s["wasted"] == 0
    bad = tmp_path / "bad.bin"
    np.array([5, 3, 3, 5, 12, 600], dtype="<i8").tofile(bad)  # region 1 overlaps region 0
    p = subprocess.run([*cmd, str(bad)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "region 1 at slot 5: slots must ascend" in p.stderr, p.stderr


def _forked_trace() -> Trace:
    """Three forked children (roles 2, 1, 3 in the order they first write) rewriting their
    own copy of one 8-page buffer at one address, in turns."""
    own = [np.array([0, 1, 2, 5]), np.array([7, 6, 0]), np.array([3, 3, 4, 1, 2])]
    order = [(1, slice(0, 2)), (0, slice(0, 3)), (2, slice(0, 5)), (1, slice(2, 3)),
             (0, slice(3, 4))]
    pages = np.concatenate([own[r][s] + 8 * r for r, s in order])
    return Trace(pages, 24, name="forked3", region_sizes=np.array([8, 8, 8]),
                 region_starts=np.full(3, 0x7F00_0000_0000, dtype=np.uint64),
                 region_writers=np.array([1, 2, 3], dtype=np.int32))


def test_multi_writer_traces_get_a_writers_file(tmp_path: Path) -> None:
    """write_job gives --writers (each write's process: its writer's rank by first write,
    at most 15) to a trace of several writers only."""
    from cowrl.kernel.jobs import write_procs

    t = _forked_trace()
    procs = write_procs(t)
    assert procs is not None and procs[:6].tolist() == [0, 0, 1, 1, 1, 2]
    assert write_procs(MULTI) is None and write_procs(REC) is None
    one = Trace(t.pages[t.pages < 8], 8, region_sizes=np.array([8]),
                region_starts=t.region_starts[:1], region_writers=np.array([4], np.int32))
    assert write_procs(one) is None  # one role: one process, as before
    many = Trace(np.arange(20) * 2, 40, region_sizes=np.full(20, 2),
                 region_starts=np.full(20, 0x7F00_0000_0000, dtype=np.uint64),
                 region_writers=np.arange(20, dtype=np.int32)[::-1].copy())
    assert write_procs(many).tolist() == [*range(16), 15, 15, 15, 15]  # the module's 16
    specs = write_job(tmp_path, [RunRequest(t, Baseline()), RunRequest(MULTI, Baseline())],
                      "child", {})
    assert np.fromfile(specs[0].writers, dtype="<i8").tolist() == procs.tolist()
    assert specs[1].writers == ""


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc to build the harness")
def test_harness_replays_each_writer_in_its_own_process(tmp_path: Path) -> None:
    """The harness here, without the module: each writer role of a forked trace writes its
    own view in a process of its own (COW-shared with the others), in trace order; each view
    has exactly its writer's pages private and flipped, the holder's none."""
    from cowrl.kernel import build
    from cowrl.kernel.jobs import read_summary

    harness = str(build.ensure_harness(tmp_path / "cache"))
    t = _forked_trace()
    (spec,) = write_job(tmp_path, [RunRequest(t, Baseline(), module=False)], "child", {})
    out = tmp_path / "out"
    out.mkdir()
    cmd = [harness, "--trace", spec.trace, "--n-pages", "24", "--out", str(out),
           "--no-module", "--regions", spec.regions, "--writers"]
    p = subprocess.run([*cmd, spec.writers], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    s = read_summary(out / "summary.txt")
    assert (s["writers"], s["regions"], s["writes"]) == (3, 3, t.writes)
    assert s["writer_ok"] == s["holder_ok"] == 1 and s["writer_bad_pages"] == 0
    assert s["private_pages"] == np.unique(t.pages).size and s["wasted"] == 0
    assert s["written_not_private"] == 0
    assert np.fromfile(out / "write_ns.bin", dtype="<u8").size == t.writes
    bad = tmp_path / "bad.bin"
    np.array([0, 1], dtype="<i8").tofile(bad)  # two entries for 12 writes
    p = subprocess.run([*cmd, str(bad)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and f"2 processes for {t.writes} writes" in p.stderr, p.stderr
    np.concatenate([[1], np.zeros(t.writes - 1)]).astype("<i8").tofile(bad)  # 1 before 0
    p = subprocess.run([*cmd, str(bad)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "write 0 in process 1" in p.stderr, p.stderr


def test_shared_slots_put_forked_copies_at_one_address(tmp_path: Path) -> None:
    """RunRequest(shared=True): the three children's copies of one buffer (same address and
    size, other writers) share their harness slots, as after a real fork; a record's region
    is told by its pid (the harness process: its rank by first record). Without it every
    region keeps its own slots; two regions of one harness process never share."""
    from cowrl.kernel.jobs import harness_slots, slots_to_pages

    t = _forked_trace()
    assert harness_slots(t, shared=True).tolist() == [0, 0, 0]
    assert harness_slots(t).tolist() == harness_slots(t, shared=False).tolist() == [
        0, 512, 1024]
    many = Trace(np.arange(17) * 2, 34, region_sizes=np.full(17, 2),
                 region_starts=np.full(17, 0x7F00_0000_0000, dtype=np.uint64),
                 region_writers=np.arange(1, 18, dtype=np.int32))
    # the 17th writer shares process 15 with the 16th: its copy cannot share their slots
    assert harness_slots(many, shared=True).tolist() == [0] * 16 + [512]
    specs = write_job(tmp_path, [RunRequest(t, Baseline(), shared=True),
                                 RunRequest(t, Baseline())], "child", {})
    assert specs[0].region_procs == t.region_procs.tolist() == [1, 0, 2]
    assert specs[1].region_procs == [] and specs[0].regions != specs[1].regions
    pairs = np.fromfile(specs[0].regions, dtype="<i8").reshape(-1, 2)
    assert pairs.tolist() == [[8, 0], [8, 0], [8, 0]]
    # records at slots 7, 7, 3 from the first, second and third pid to fault: processes 0,
    # 1, 2, i.e. regions 1, 0, 2 (region_procs)
    pids = np.array([42, 40, 44, 42])
    got = slots_to_pages(np.array([7, 7, 3, 0]), specs[0], pids)
    assert got.tolist() == [8 + 7, 0 + 7, 16 + 3, 8 + 0]
    with pytest.raises(CowrlError, match="pids"):
        slots_to_pages(np.array([7]), specs[0])


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc to build the harness")
def test_harness_replays_forked_copies_at_one_address(tmp_path: Path) -> None:
    """The harness, without the module: the three children's copies at the same slots, each
    written by its own process in its own view (its pages private and flipped, the others
    the fill); a repeated region written by the process of the region it repeats, or
    without --writers, is refused (exit 2, one line)."""
    from cowrl.kernel import build
    from cowrl.kernel.jobs import read_summary

    harness = str(build.ensure_harness(tmp_path / "cache"))
    t = _forked_trace()
    (spec,) = write_job(tmp_path, [RunRequest(t, Baseline(), module=False, shared=True)],
                        "child", {})
    out = tmp_path / "out"
    out.mkdir()
    cmd = [harness, "--trace", spec.trace, "--n-pages", "24", "--out", str(out),
           "--no-module", "--regions", spec.regions]
    p = subprocess.run([*cmd, "--writers", spec.writers], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    s = read_summary(out / "summary.txt")
    assert (s["writers"], s["regions"], s["n_slots"]) == (3, 3, 8)
    assert s["writer_ok"] == s["holder_ok"] == 1 and s["writer_bad_pages"] == 0
    # each process's own pages (the trace's distinct pages: one set per copy)
    assert s["private_pages"] == np.unique(t.pages).size and s["wasted"] == 0
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "needs --writers" in p.stderr, p.stderr
    bad = tmp_path / "bad.bin"
    procs = np.fromfile(spec.writers, dtype="<i8")
    np.where(procs == 2, 1, procs).astype("<i8").tofile(bad)  # copies 1 and 3 in process 1
    p = subprocess.run([*cmd, "--writers", str(bad)], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2 and "share slots in one process" in p.stderr, p.stderr
    assert p.stderr.count("\n") == 1


def test_precopy_without_module_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CowrlError, match="needs the module"):
        write_job(tmp_path, [RunRequest(_trace(), StaticPrecopy(1), module=False)], "child", {})


def test_parse_run_joins_records_to_first_writes(tmp_path: Path) -> None:
    tr = _trace()
    specs = write_job(tmp_path, [RunRequest(tr, StaticPrecopy(1))], "child", {})
    rdir = tmp_path / "runs" / specs[0].id
    rdir.mkdir(parents=True)
    base = 1 << 30
    (rdir / "summary.txt").write_text(
        f"region_start={base}\nwrites=6\ndemand_faults=3\nprecopy_copies=2\nwasted=1\n"
        "writer_ok=1\nholder_ok=1\nprivate_pages=5\nelapsed_ns=99\nanon_huge_kb=0\n"
        "thp_setting=never\nnmissed=0\ndropped=0\n")
    np.array([10, 20, 30, 40, 50, 60], dtype="<u8").tofile(rdir / "write_ns.bin")
    recs = np.zeros(5, dtype=record_dtype())
    abi = load_abi()
    # demand faults on pages 5, 1, 7 (trace positions 0, 1, 4); precopy of 6 and 2
    recs["addr"] = [base + 5 * 4096, base + 6 * 4096, base + 1 * 4096, base + 2 * 4096,
                    base + 7 * 4096]
    recs["flags"] = [abi.COWRL_REC_DEMAND, abi.COWRL_REC_PRECOPY, abi.COWRL_REC_DEMAND,
                     abi.COWRL_REC_PRECOPY, abi.COWRL_REC_DEMAND]
    recs["latency_ns"] = [100, 1, 200, 1, 300]
    recs["work_ns"] = [10, 0, 20, 0, 0]
    recs.tofile(rdir / "records.bin")
    rec = parse_run(tmp_path, specs[0], tr, {"runner": "qemu", "accel": "tcg"})
    assert rec.target == "kernel" and rec.faults == 3 and rec.precopied == 2 and rec.wasted == 1
    assert rec.fault_ns.tolist() == [10, 20, 50]
    assert rec.extra["kfault_min_ns"] == 110 and rec.extra["kfault_max_ns"] == 300
    assert rec.extra["integrity_ok"] and rec.extra["unmatched_faults"] == 0
    assert rec.extra["icount"] == "unknown"  # no runner.json in this hand-made job
    runners.write_runner_facts(tmp_path, {"runner": "qemu", "accel": "tcg",
                                          "icount": "shift=0,sleep=off"})
    rec = parse_run(tmp_path, specs[0], tr, {"runner": "qemu", "accel": "tcg"})
    assert rec.extra["icount"] == "shift=0,sleep=off" and rec.extra["accel"] == "tcg"
    # every row carries the counters that would make its counts wrong (0 in a row)
    assert {k: rec.extra[k] for k in ("nmissed", "dropped", "work_failed", "throttled")} == \
        {"nmissed": 0, "dropped": 0, "work_failed": 0, "throttled": 0}
    # latency=0 (module parameter): no in-kernel latency, so no kfault figures
    recs["latency_ns"] = 0
    recs.tofile(rdir / "records.bin")
    rec = parse_run(tmp_path, specs[0], tr, {"runner": "qemu", "accel": "tcg"})
    assert rec.fault_ns.tolist() == [10, 20, 50] and rec.extra["kfault_max_ns"] == 0.0


def test_unreliable_counts_fail_the_run_naming_them(tmp_path: Path) -> None:
    """The harness exits 3 when records were dropped, probes missed or precopy work failed or
    was throttled; the guest renames the summary, so the run has no row and its error names
    the counters."""
    tr = _trace()
    specs = write_job(tmp_path, [RunRequest(tr, StaticPrecopy(1))], "child", {})
    rdir = tmp_path / "runs" / specs[0].id
    rdir.mkdir(parents=True)
    (rdir / "summary.unreliable.txt").write_text("work_failed=2\n")
    err = ("rc=3: cowrl_harness: counts unreliable: dropped=0 nmissed=0 work_failed=2 "
           "throttled=0 (see summary.txt)")
    with pytest.raises(CowrlError, match="counts unreliable: .*work_failed=2"):
        parse_run(tmp_path, specs[0], tr, {"runner": "qemu", "run_error": err})


@pytest.mark.parametrize(("given", "want"), [(0, 0), ("3", 3), (False, "off"), ("off", "off"),
                                             ("OFF", "off"), ("auto", "auto"), (10, 10)])
def test_icount_values(given: object, want: object) -> None:
    assert KernelConfig(icount=given).icount == want  # type: ignore[arg-type]
    # YAML's bare `off` is False; Hydra's command line gives the string
    assert KernelConfig.from_any(yaml.safe_load(f"icount: {given}")).icount == want


@pytest.mark.parametrize("bad", [-1, 11, "fast", 1.5, True, None])
def test_icount_rejects(bad: object) -> None:
    with pytest.raises(ConfigError, match="kernel.icount"):
        KernelConfig(icount=bad)  # type: ignore[arg-type]


def test_icount_mode_and_qemu_flags(tmp_path: Path) -> None:
    cfg = KernelConfig(cache_dir=str(tmp_path))
    assert cfg.icount == 0 and cfg.icount_mode("tcg") == "shift=0,sleep=off"
    assert cfg.icount_mode("kvm") == "off" and cfg.guest_cpus("kvm") == cfg.cpus
    assert cfg.guest_cpus("tcg") == 1  # qemu's icount + x86 SMP hangs at bring-up
    assert KernelConfig(icount="auto").icount_mode("tcg") == "shift=auto"
    assert KernelConfig(icount="off").icount_mode("tcg") == "off"
    assert KernelConfig(runner="host").icount_mode("tcg") == "off"
    r = runners.QemuRunner.__new__(runners.QemuRunner)
    r.cfg, r.kernel_dir, r.initramfs = cfg, tmp_path, tmp_path / "i.cpio.gz"
    on = r._cmd("tcg", tmp_path, False, tmp_path / "log")
    assert on[on.index("-accel") + 1] == "tcg,thread=single"
    assert on[on.index("-icount") + 1] == "shift=0,sleep=off"
    assert on[on.index("-smp") + 1] == "1"
    r.cfg = KernelConfig(icount="off", cache_dir=str(tmp_path))
    off = r._cmd("tcg", tmp_path, False, tmp_path / "log")
    assert off[off.index("-accel") + 1] == "tcg,thread=multi" and "-icount" not in off
    assert off[off.index("-smp") + 1] == str(r.cfg.cpus)
    r.cfg = KernelConfig(icount="off", tcg_threads="single", cache_dir=str(tmp_path))
    rr = r._cmd("tcg", tmp_path, False, tmp_path / "log")
    assert rr[rr.index("-accel") + 1] == "tcg,thread=single" and "-icount" not in rr
    assert rr[rr.index("-smp") + 1] == str(r.cfg.cpus)
    with pytest.raises(ConfigError, match="kernel.tcg_threads"):
        KernelConfig(tcg_threads="many")
    r.cfg = cfg
    kvm = r._cmd("kvm", tmp_path, False, tmp_path / "log")
    assert kvm[kvm.index("-accel") + 1] == "kvm" and "-icount" not in kvm


def test_manual_cow_madvise_path_here() -> None:
    """The fallback path on this machine's kernel (needs Linux >= 5.14)."""
    from cowrl.kernel import guest, manual_cow

    res = guest.check_manual_cow(use_module=False)
    assert "error" not in res, res
    assert res["private_before"] == 0 and res["private_after"] == res["n"]
    assert res["data_ok"] and res["parent_data_ok"]
    assert res["err_overflow"] == errno.EINVAL and res["err_unmapped"] == errno.EFAULT
    with pytest.raises(CowrlError, match=r"^manual_cow needs a writable buffer or an address, "
                       r"got object \("):
        manual_cow.manual_cow(object(), 10)
    buf = bytearray(10000)
    with pytest.raises(CowrlError, match=r"^manual_cow length must be >= 0, got -1$"):
        manual_cow.manual_cow(buf, -1, use_module=False)
    a = manual_cow.buffer_address(buf)
    first, last = a // 4096, (a + len(buf) - 1) // 4096  # the pages of its first and last byte
    assert manual_cow.manual_cow(buf, len(buf), use_module=False) == last - first + 1
    # an empty range has no page (it made the page of an unaligned address private)
    assert manual_cow.manual_cow(a | 1, 0, use_module=False) == 0


def _good_table() -> bytes:
    return pack_table(TablePolicy(list(range(N_CELLS)), context={"slots": 3, "near": 9})
                      .kernel_program())


def _patched(good: bytes, off: int, value: int, size: int = 4) -> bytes:
    return good[:off] + value.to_bytes(size, "little") + good[off + size:]


BAD_TABLES = {  # name -> (offset, value, size) patched into a good payload
    "version": (0, 2, 4), "decide": (4, 9, 4), "slots0": (8, 0, 4), "slots17": (8, 17, 4),
    "near0": (12, 0, 4), "near4097": (12, 4097, 4), "n_cells": (20, 61, 4),
    "cell_k513": (24 + 2 * 7, 513, 2),
}


def test_table_payload_checks_in_python() -> None:
    good = _good_table()
    assert table_payload_error(good) is None
    ra = pack_table(Readahead(max_k=8).kernel_program())
    assert table_payload_error(ra) is None
    assert "max_k" in (table_payload_error(_patched(ra, 16, 0)) or "")
    assert "bytes" in (table_payload_error(good[:-2]) or "")
    assert "bytes" in (table_payload_error(good + b"\0\0") or "")
    for name, (off, value, size) in BAD_TABLES.items():
        assert table_payload_error(_patched(good, off, value, size)), name


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc to compile the header")
def test_table_payload_check_agrees_with_c(tmp_path: Path) -> None:
    """The host-side check rejects exactly what cowrl_policy_check() (the module's) rejects."""
    from cowrl.kernel.table import CPolicy

    c = CPolicy(tmp_path)
    good, ra = _good_table(), pack_table(Readahead(max_k=8).kernel_program())
    cases = [good, ra, _patched(ra, 16, 0), _patched(ra, 16, 513), _patched(good, 16, 0),
             _patched(good, 12, 4096), _patched(good, 8, 16)]
    cases += [_patched(good, *v) for v in BAD_TABLES.values()]
    for payload in cases:
        assert (table_payload_error(payload) is None) == (c.check(payload) == 0)


class _BadTable(Policy):
    name = "bad_table"

    def kernel_program(self) -> KernelProgram:
        return KernelProgram(mode="table", table={"decide": "table", "slots": 0, "near": 4,
                                                  "cells": [1] * N_CELLS})


def test_kernel_plan_for_table_policies(tmp_path: Path) -> None:
    plan = kernel_plan(Readahead(max_k=16))
    assert plan.mode == "table" and plan.k == 0 and len(plan.table) == 144
    assert plan.table == pack_table(Readahead(max_k=16).kernel_program())
    with pytest.raises(CowrlError, match="would reject its decision table: slots 0"):
        kernel_plan(_BadTable())
    with pytest.raises(CowrlError, match="cannot run on the kernel target"):
        kernel_plan(Policy())
    with pytest.raises(CowrlError, match="needs the module"):
        write_job(tmp_path, [RunRequest(_trace(), Readahead(), module=False)], "child", {})


def test_job_with_table_runs(tmp_path: Path) -> None:
    import json

    tr = _trace()
    tp = TablePolicy([2] * N_CELLS, name="t2")
    specs = write_job(tmp_path, [RunRequest(tr, StaticPrecopy(2)), RunRequest(tr, tp),
                                 RunRequest(tr, Readahead())], "child", {"module": "m.ko"},
                      ("table_ioctl",))
    assert [s.mode for s in specs] == ["static", "table", "table"]
    assert specs[0].table == "" and specs[1].k == 0
    assert Path(specs[1].table).read_bytes() == pack_table(tp.kernel_program())
    job = json.loads((tmp_path / "job.json").read_text())
    assert job["version"] == 2 and job["runs"][1]["table"] == specs[1].table
    assert table_payload_error(bytes.fromhex(job["table_payload"])) is None


@pytest.mark.skipif(shutil.which("nm") is None or shutil.which("make") is None,
                    reason="needs nm and make to build and inspect the module")
def test_module_static_decision_state_under_4k() -> None:
    """Issue 4 (KML: decision state under 4 KB): the module's static TABLE-mode state is
    one pointer to the pushed table plus one pointer per target slot; each target (with its
    448-byte decision state) is allocated at REGISTER, the table at SET_POLICY, never in .bss."""
    from cowrl.kernel.build import ensure_module, resolve_release

    try:
        ko = ensure_module(KernelConfig().cache_path, resolve_release("auto"))
    except (TargetUnavailable, CowrlError) as e:
        pytest.skip(str(e))
    out = subprocess.run(["nm", "-S", str(ko)], capture_output=True, text=True,
                         check=True).stdout
    sizes = {f[3]: int(f[1], 16) for f in (line.split() for line in out.splitlines())
             if len(f) == 4}
    abi = load_abi()
    assert sizes["cowrl_table"] == 8
    assert sizes["cowrl_tgts"] == 8 * abi.COWRL_MAX_TARGETS == 128
    assert sizes["cowrl_table"] + sizes["cowrl_tgts"] < 4096


SERIAL = """[    0.5] Spectre V2 : WARNING: Unprivileged eBPF is enabled with eIBRS on
[   12.1] sysrq: Trigger a crash
[   12.1] Kernel panic - not syncing: sysrq triggered crash
[   12.1] CPU: 1 PID: 77 Comm: python3 Tainted: G           OE      6.1.0-57-amd64
[   12.1] Call Trace:
"""


BOOT_CRASH = """[    1.92] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI
[    1.92] RIP: 0010:sched_clock_cpu+0x9/0x1d0
[    1.92] Kernel panic - not syncing: Fatal exception in interrupt
"""


# qemu itself died (SIGSEGV) in the guest's early boot: the serial log just stops, no oops
QEMU_DIED = ("[    2.16] acpi PNP0A03:00: fail to add MMCONFIG information\n", 11)
FINE = "COWRL-GUEST-START\nCOWRL-GUEST-EXIT\n"


@pytest.mark.parametrize(("boots", "raises"), [
    ([BOOT_CRASH, FINE], None),                                    # boot crash, then fine
    ([BOOT_CRASH, BOOT_CRASH], runners.GuestPanic),                # twice: reported
    (["COWRL-GUEST-START\n" + SERIAL], runners.GuestPanic),        # the job's: no retry
    ([QEMU_DIED, FINE], None),                                     # qemu crashed, then fine
    ([QEMU_DIED, QEMU_DIED], runners.EmulatorCrash),               # twice: reported as qemu's
    ([("COWRL-GUEST-START\n", 11)], runners.EmulatorCrash),        # in the job: no retry
    ([QEMU_DIED, BOOT_CRASH], runners.GuestPanic),                 # the second crash's kind
])
def test_a_crash_in_the_kernels_own_boot_is_booted_again_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, boots: list[str | tuple[str, int]],
        raises: type[Exception] | None) -> None:
    """A guest kernel that crashes before our init starts (no module loaded, no job run), or a
    qemu that dies by a signal there, is booted once more; a crash after the job started, or a
    second one, is a GuestPanic (the guest's oops) or an EmulatorCrash (qemu's signal), never
    a GuestHang that blames a timeout the boot never reached."""
    r = object.__new__(runners.QemuRunner)
    r.cfg, r.cache, r.release, r.timings = KernelConfig(), tmp_path / "cache", "6.12.x", {}
    r.qemu_version = "test"
    jobdir = tmp_path / "job"
    jobdir.mkdir()
    left = list(boots)

    def boot(cmd: list[str], log: Path, until: str, *a: object, **k: object) -> tuple[bool, float]:
        text, r.qemu_signal = (b if isinstance(b := left.pop(0), tuple) else (b, None))
        if "COWRL-GUEST-EXIT" in text:
            (jobdir / "guest.json").write_text("{}")
        with log.open("a") as f:  # qemu's -serial file: whatever the file held stays
            f.write(text)
        return until in text, 1.0

    monkeypatch.setattr(r, "_boot", boot)
    monkeypatch.setattr(r, "_kvm_works", lambda: False)
    monkeypatch.setattr(r, "_cmd", lambda *a: ["qemu"])
    monkeypatch.setattr(runners, "amend_job", lambda *a: None)
    monkeypatch.setattr(runners, "write_runner_facts", lambda *a: None)
    monkeypatch.setattr(runners, "guest_health", lambda *a: {})
    if raises:
        with pytest.raises(raises) as e:
            r.run(jobdir)
        assert (e.type is runners.EmulatorCrash) == ("SIGSEGV" in str(e.value))
    else:
        info = r.run(jobdir)
        assert info["boot_retries"] == 1
        assert list((tmp_path / "cache" / "logs").glob("*.boot-crash"))  # the crash's log kept
    assert left == []  # one retry at most, none after the job started


@pytest.mark.parametrize(("code", "died"), [
    ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", 11),  # died on its own
    ("raise SystemExit(1)", None),                                    # exited: no signal
    ("import time; time.sleep(60)", None),                            # ours: the timeout kill
])
def test_boot_records_the_signal_qemu_died_by(tmp_path: Path, code: str,
                                              died: int | None) -> None:
    """A real child process stands in for qemu: a death by its own signal is recorded, a
    plain exit or the runner's own kill at the timeout is not."""
    r = object.__new__(runners.QemuRunner)
    r.timings = {}
    ok, _ = r._boot([sys.executable, "-c", code], tmp_path / "serial.log", "EXIT", 1.0, 1.0,
                    first="START")
    assert not ok and r.qemu_signal == died


def test_oops_head_starts_at_the_report_and_needs_a_panic() -> None:
    head = runners.oops_head(SERIAL)
    assert head.splitlines()[0].endswith("sysrq: Trigger a crash")
    assert "Call Trace" in head and "Spectre" not in head
    assert runners.oops_head(SERIAL.split("[   12.1] Kernel panic")[0]) == ""  # no panic


def test_taint_flags() -> None:
    assert runners.taint_flags(12288) == "OE"
    assert runners.taint_flags(12288 | 512) == "WOE"
    assert runners.taint_flags(0) == "-"


def test_guest_health_raises_on_extra_taint(tmp_path: Path) -> None:
    import json

    (tmp_path / "guest.json").write_text(json.dumps({"taint": 12288}))
    (tmp_path / "dmesg.txt").write_text("cowrl: probing wp_page_copy\n")
    info = runners.guest_health(tmp_path, tmp_path / "cache")
    assert info["taint"] == 12288 and Path(info["dmesg_file"]).is_file()
    (tmp_path / "guest.json").write_text(json.dumps({"taint": 12288 | 512}))
    with pytest.raises(runners.GuestTainted, match="WOE"):
        runners.guest_health(tmp_path, tmp_path / "cache")


def test_run_timeout_below_session_timeout() -> None:
    with pytest.raises(ConfigError, match="run_timeout_s"):
        KernelConfig(run_timeout_s=4000.0)


def test_module_make_args_for_a_newer_gcc(tmp_path: Path) -> None:
    from cowrl.kernel import build

    (tmp_path / ".config").write_text(
        'CONFIG_CC_VERSION_TEXT="x86_64-linux-gnu-gcc-99 (Debian 99.1) 99.1"\n'
        "CONFIG_DEBUG_INFO_BTF_MODULES=y\n")
    args = build.module_make_args(tmp_path)
    assert "CC=gcc" in args and "CONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT=" in args
    if shutil.which("pahole") is None:
        assert "CONFIG_DEBUG_INFO_BTF_MODULES=" in args


def test_suite_sources_follow_the_system_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    from cowrl.kernel import build

    monkeypatch.setattr(build, "_system_debian_sources", lambda: [
        ("http://mirror.invalid/debian", "bookworm", "/k.gpg"),
        ("http://mirror.invalid/debian", "bookworm-updates", "/k.gpg"),
        ("http://security.invalid/debian-security", "bookworm-security", ""),
        ("http://mirror.invalid/debian", "bookworm-backports", "/k.gpg")])
    apt = build.SuiteApt.__new__(build.SuiteApt)
    apt.suite = "trixie"
    text = apt._sources()
    assert "deb [signed-by=/k.gpg] http://mirror.invalid/debian trixie main" in text
    assert "http://security.invalid/debian-security trixie-security main" in text
    assert "trixie-updates" in text and "backports" not in text


def test_initramfs_module_order_skips_built_in_ones(tmp_path: Path) -> None:
    import lzma

    from cowrl.kernel import build

    tree = tmp_path / "usr/lib/modules/9.9-amd64/kernel"
    tree.mkdir(parents=True)
    for name in ("netfs", "9pnet", "9pnet_virtio", "9p"):
        (tree / f"{name}.ko.xz").write_bytes(lzma.compress(b"\x7fELF" + name.encode()))
    mods = tmp_path / "out"
    mods.mkdir()
    order = [n for n in build.GUEST_MODULES if build._copy_module(tmp_path / "usr", n, mods)]
    assert order == ["netfs", "9pnet", "9pnet_virtio", "9p"]
    assert (mods / "9p.ko").read_bytes() == b"\x7fELF9p"


def test_host_runner_cleans_up_after_a_timeout(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    """A job past kernel.timeout_s: its process group is killed, then every target is
    unregistered and the module unloaded (this host cannot load modules: the device side is
    replaced, the control flow is the runner's own)."""
    import json
    import signal
    import subprocess as sp

    calls: list[str] = []

    class Hung:
        pid = 424242

        def communicate(self, timeout: float | None = None) -> tuple[str, str]:
            if timeout is not None:
                raise sp.TimeoutExpired("guest.py", timeout)
            return "partial output", ""

    monkeypatch.setattr(runners.HostRunner, "check", lambda self: None)
    monkeypatch.setattr(runners.subprocess, "Popen", lambda *a, **k: Hung())
    monkeypatch.setattr(runners.os, "killpg",
                        lambda pid, sig: calls.append(f"killpg {pid} {signal.Signals(sig).name}"))
    monkeypatch.setattr(runners, "cleanup_host_module", lambda: calls.append("cleanup"))
    monkeypatch.setattr(runners.Path, "exists", lambda self: False)  # no module loaded yet
    (tmp_path / "job.json").write_text(json.dumps({"runs": []}))
    r = runners.HostRunner(KernelConfig(runner="host", timeout_s=5.0, run_timeout_s=1.0))
    with pytest.raises(runners.GuestHang, match="targets unregistered and the module unloaded"):
        r.run(tmp_path)
    assert calls == ["killpg 424242 SIGKILL", "cleanup"]
    assert (tmp_path / "guest.log").read_text() == "partial output"


def test_swap_modules_follow_modinfo_depends(tmp_path: Path) -> None:
    """copy_swap_modules() copies zram and what its .modinfo depends on, dependencies first."""
    from cowrl.kernel import build

    tree = tmp_path / "tree" / "kernel" / "drivers"
    tree.mkdir(parents=True)
    (tree / "zram.ko").write_bytes(b"\x7fELF...\0license=GPL\0depends=zsmalloc,lz4\0name=zram\0")
    (tree / "zsmalloc.ko").write_bytes(b"\0depends=\0name=zsmalloc\0")
    (tree / "lz4.ko").write_bytes(b"\0depends=lz4_compress\0")
    (tree / "lz4_compress.ko").write_bytes(b"\0name=lz4_compress\0")
    dest = tmp_path / "swap"
    dest.mkdir()
    order = build.copy_swap_modules(tmp_path / "tree", dest)
    assert order.index("zsmalloc") < order.index("zram")
    assert order.index("lz4_compress") < order.index("lz4") < order.index("zram")
    assert (dest / "order").read_text().split() == order
    empty = tmp_path / "none"
    empty.mkdir()
    assert build.copy_swap_modules(tmp_path / "nothing-here", empty) == []


def test_a_run_the_oom_killer_ended_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """A harness killed by the guest's OOM killer read 'cowrl_harness: child failed (status
    9)' (the qemu guest, 2048 MiB, a 1,229 MiB region, before the pre-boot check); the run's
    error now says out of memory and names kernel.memory_mb. Only a kill since the run began
    counts."""
    from cowrl.kernel import guest

    log = ["[    1.000000] Freeing unused kernel image",
           "[   50.000000] Out of memory: Killed process 99 (python3) total-vm:1kB",
           "[  180.941054] Out of memory: Killed process 109 (cowrl_harness) total-vm:1266696kB, "
           "anon-rss:1261112kB"]
    monkeypatch.setattr(guest, "kernel_log", lambda last=0: log)
    assert guest.oom_note(100.0) == (
        "; out of memory: the kernel's OOM killer killed process 109 (cowrl_harness) (raise "
        "kernel.memory_mb; under kernel.runner=host, free the host's memory)")
    assert guest.oom_note(200.0) == ""
    monkeypatch.setattr(guest, "kernel_log", lambda last=0: log[:1])
    assert guest.oom_note(0.0) == ""


def test_ensure_swap_leaves_a_host_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside the qemu guest (no swap_modules in the job: kernel.runner=host) ensure_swap()
    touches no device and no swap, even where /dev/zram0 exists."""
    from cowrl.kernel import guest

    touched: list[str] = []
    monkeypatch.setattr(guest.Path, "read_text", lambda self, *a, **k: "Filename\n")
    monkeypatch.setattr(guest.Path, "write_text", lambda self, *a, **k: touched.append(str(self)))
    monkeypatch.setattr(guest.Path, "exists", lambda self: True)
    monkeypatch.setattr(guest.Path, "is_dir", lambda self: True)
    monkeypatch.setattr(guest.os, "open", lambda *a, **k: touched.append("open") or -1)
    res = guest.ensure_swap({"harness": "/x/cowrl_harness"})
    assert res["zram"] is False and "host" in res["why"]
    assert touched == []


def _no_boot(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make a boot (or the runner's preparation) fail the test at once, instead of running."""
    from cowrl.kernel import backend

    def boot(*a: object, **k: object) -> None:
        raise AssertionError("the guest was prepared and booted")

    monkeypatch.setattr(backend, "new_job", boot)


def test_a_trace_larger_than_the_guest_fails_before_the_boot(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A region that cannot even be filled in kernel.memory_mb is one line, before qemu starts
    (it was an out-of-memory harness run after a boot)."""
    from cowrl.kernel.backend import run_session

    _no_boot(monkeypatch)
    big = Trace(pages=np.array([0, 1, 2]), n_pages=600_000, name="big")  # 2,344 MiB
    with pytest.raises(ConfigError) as e:
        run_session([RunRequest(big, Baseline())], {"memory_mb": 2048})
    assert str(e.value) == ("trace big: its 600000 pages (2344 MiB, copied after the fork: "
                            "twice that) need kernel.memory_mb >= 5147 in the guest, got "
                            "kernel.memory_mb=2048; raise kernel.memory_mb")


def test_a_trace_the_guest_cannot_copy_fails_before_the_boot(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A region of 60 % of the guest's memory fits, but not with the writer's copies: under
    qemu (2048 MiB, 6.1) its harness was killed by the guest's OOM killer after the boot
    ("child failed (status 9)"). Now one line naming the file and kernel.memory_mb, before
    the boot; a region measured to run in the same guest still passes."""
    from cowrl.kernel.backend import check_guest_memory, guest_memory_needed_mb, run_session
    from cowrl.traces.io import load_trace, save_trace

    _no_boot(monkeypatch)
    path = tmp_path / "sixty.npy"
    n = 314_572  # 1,229 MiB: 60 % of 2048
    save_trace(Trace(pages=np.arange(n), n_pages=n), path)
    with pytest.raises(ConfigError) as e:
        run_session([RunRequest(load_trace(path), Baseline())], {"memory_mb": 2048})
    assert str(e.value) == (f"trace file {path}: its 314572 pages (1229 MiB, copied after the "
                            "fork: twice that) need kernel.memory_mb >= 2769 in the guest, got "
                            "kernel.memory_mb=2048; raise kernel.memory_mb")
    # Ran under qemu at the limit (baseline, hugepage, precopy k=8; 6.1.0-57-amd64, TCG).
    for mem, fits in ((2048, 228_455), (256, 14_278)):
        ok = Trace(pages=np.arange(fits), n_pages=fits, name="ok")
        assert guest_memory_needed_mb(ok) == mem
        check_guest_memory(KernelConfig(memory_mb=mem), [ok])
        check_guest_memory(KernelConfig(memory_mb=mem, runner="host"),
                           [Trace(pages=np.arange(fits + 1), n_pages=fits + 1)])
        with pytest.raises(ConfigError, match=f"got kernel.memory_mb={mem};"):
            check_guest_memory(KernelConfig(memory_mb=mem),
                               [ok, Trace(pages=np.arange(fits + 1), n_pages=fits + 1)])


def test_a_trace_larger_than_the_host_fails_before_the_boot(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """kernel.memory_mb may exceed the host (qemu takes pages as the guest touches them), but
    a trace whose guest needs more than the host has would swap or OOM the host: one line."""
    from cowrl.kernel import backend

    _no_boot(monkeypatch)
    monkeypatch.setattr(backend, "host_memory_mb", lambda: 1500)
    big = Trace(pages=np.arange(200_000), n_pages=200_000, name="big")  # 781 MiB: needs 1810
    with pytest.raises(TargetUnavailable) as e:
        backend.run_session([RunRequest(big, Baseline())], {"memory_mb": 4096})
    assert str(e.value) == ("trace big: its 200000 pages (781 MiB, copied after the fork: twice "
                            "that) need kernel.memory_mb >= 1810 in the guest, more than this "
                            "host's memory (1500 MiB); replay it on a larger machine")
    backend.check_guest_memory(KernelConfig(memory_mb=4096), [Trace(pages=np.arange(9),
                                                                    n_pages=9)])


def test_every_committed_trace_fits_the_default_guest() -> None:
    """The rule does not refuse what the defaults run: the committed traces in 2048 MiB."""
    from cowrl.kernel.backend import check_guest_memory
    from cowrl.traces.io import load_trace

    traces = [load_trace(p, times=False)
              for p in sorted((Path(__file__).parents[2] / "data" / "traces").glob("*.npz"))]
    assert len(traces) >= 5
    check_guest_memory(KernelConfig(), traces)


def test_the_kernel_target_checks_guest_memory_before_resolving_policies(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """target=kernel refuses a trace too big for the guest before any policy is resolved for
    it (precopy_best simulates every k on the trace: long on a big one)."""
    from cowrl.registry import make_costmodel
    from cowrl.targets.base import Plan, Run
    from cowrl.targets.kernel import KernelTarget

    _no_boot(monkeypatch)
    target = KernelTarget({"memory_mb": 512})
    monkeypatch.setattr(target.forms, "resolve",
                        lambda *a: (_ for _ in ()).throw(AssertionError("resolved")))
    big = Trace(pages=np.arange(100_000), n_pages=100_000, name="big")  # 391 MiB
    with pytest.raises(ConfigError, match="^trace big: .* got kernel.memory_mb=512; raise"):
        target.run(Plan([Run(Baseline(), big)], make_costmodel("tcg")))




@pytest.mark.parametrize("script", ["stress_kernel", "bench_kernel_hook", "bench_kernel_proof",
                                    "bench_kernel_stride"])
def test_an_unknown_release_is_one_line_before_any_boot(script: str) -> None:
    """``--releases 6.1,9.9`` booted 6.1 and ran its whole benchmark, then stopped on a
    KeyError traceback; now one line naming the option, status 2, before any boot."""
    import os
    import sys

    res = subprocess.run([sys.executable, str(ROOT / "experiments" / f"{script}.py"),
                          "--releases", "6.1,9.9"], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip() == "error: --releases: unknown release '9.9' (known: 6.1, 6.12)"


ZONEINFO_612 = """Node 0, zone      DMA
  per-node stats
      nr_inactive_anon 1
  pages free     3840
        boost    0
        min      21
        low      26
        high     31
        spanned  4095
        present  3998
        managed  3840
  pagesets
    cpu: 0
              count: 3
              high:  4
              batch: 1
  vm stats threshold: 2
Node 0, zone    DMA32
  pages free     464212
        boost    0
        min      1522
        low      1902
        high     2282
        spanned  520160
        present  520160
        managed  500962
        cma      0
        protection: (0, 0, 0, 0, 0)
  pagesets
    cpu: 0
              count: 3718
              high:  7474
              batch: 63
  vm stats threshold: 10
    cpu: 1
              count: 12
              high:  999
              batch: 63
  node_unreclaimable:  0
  start_pfn:           4096
Node 0, zone   Normal
  pages free     0
        managed  0
"""


def test_pcp_state_and_fraction_read_the_largest_zones_cpu0() -> None:
    """The free list a run allocates from is CPU 0's in the zone with the most managed pages
    (DMA32 in a 2 GiB guest), and the fraction that fixes its high at 4 x batch is that
    zone's managed pages (zone_highsize: max(managed / fraction / CPUs, 4 x batch))."""
    from cowrl.kernel import guest

    assert guest.pcp_state(ZONEINFO_612) == {"count": 3718, "high": 7474}
    assert guest.pcp_state("") == {"count": -1, "high": -1}
    assert guest.pcp_high_fraction(ZONEINFO_612) == 500962
    with pytest.raises(ValueError, match="managed"):
        guest.pcp_high_fraction("Node 0, zone DMA\n  pages free 1\n")
    assert guest._kernel_version("6.12.118+deb13-amd64") == (6, 12)
    assert guest._kernel_version("6.1.0-57-amd64") == (6, 1)
    assert guest._kernel_version("6.7-rc1") == (6, 7)


@pytest.mark.parametrize("release,pinned", [("6.1.0-57-amd64", False),
                                            ("6.12.118+deb13-amd64", True)])
def test_pcp_high_is_pinned_only_where_the_kernel_tunes_it(
        monkeypatch: pytest.MonkeyPatch, release: str, pinned: bool) -> None:
    """6.7+ auto-tunes the per-CPU lists' high; 6.1 keeps it fixed and is left as it is."""
    from cowrl.kernel import guest

    written: dict[str, str] = {}
    monkeypatch.setattr(guest.platform, "release", lambda: release)
    monkeypatch.setattr(guest.Path, "read_text", lambda self, *a, **k: ZONEINFO_612)
    monkeypatch.setattr(guest.Path, "write_text",
                        lambda self, text, *a, **k: written.__setitem__(str(self), text))
    res = guest.pin_pcp_high()
    assert res["pinned"] is pinned, res
    assert written == ({guest.PCP_HIGH_FRACTION: "500962\n"} if pinned else {})


def test_only_the_qemu_runner_asks_the_guest_to_pin_pcp_high(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The job of a qemu boot carries kernel.pin_pcp_high; the host runner's never does, so
    guest.py never changes a host's vm.percpu_pagelist_high_fraction."""
    from cowrl.kernel import build

    for name in ("ensure_kernel", "ensure_module", "ensure_harness", "ensure_initramfs"):
        monkeypatch.setattr(build, name, lambda *a, **k: tmp_path)
    monkeypatch.setattr(build, "resolve_release", lambda *a, **k: "6.12.118+deb13-amd64")
    monkeypatch.setattr(runners, "_qemu_version", lambda: "7.2")
    q = runners.QemuRunner(KernelConfig(cache_dir=str(tmp_path), accel="tcg"))
    assert q.prepare()["pin_pcp_high"] is True
    q = runners.QemuRunner(KernelConfig(cache_dir=str(tmp_path), accel="tcg",
                                        pin_pcp_high=False))
    assert q.prepare()["pin_pcp_high"] is False
    monkeypatch.setattr(runners.HostRunner, "check", lambda self: None)
    h = runners.HostRunner(KernelConfig(runner="host", cache_dir=str(tmp_path)))
    assert "pin_pcp_high" not in h.prepare()


@pytest.mark.parametrize(("release", "err"), [
    ("6.1,6.12", "--release: one release (6.1 or 6.12), got '6.1,6.12'"),
    ("9.9", "--release: unknown release '9.9' (known: 6.1, 6.12)")])
def test_bench_kernel_noise_takes_one_release_before_any_boot(release: str, err: str) -> None:
    """``--release`` (one boot, one kernel): a list passed the release check and then stopped
    on a KeyError traceback; now one line, status 2, before any boot."""
    import os
    import sys

    res = subprocess.run([sys.executable, str(ROOT / "experiments" / "bench_kernel_noise.py"),
                          "--release", release], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip() == f"error: {err}"


def test_a_hung_run_says_what_its_tasks_waited_on_before_the_kill(tmp_path: Path) -> None:
    """run_bounded past its timeout (the guest runner's run_timeout): the one-line error names
    each task of the run's process group with its state and wchan, taken before the SIGKILL,
    and ``hung.json`` holds the kernel stacks (root only) and the guest and host seconds."""
    import json
    import os
    import re

    from cowrl.kernel.guest import hung_summary, run_bounded

    rc, err = run_bounded(["sh", "-c", "sleep 30 & sleep 31"], 1.0, diag_dir=tmp_path)
    head = err.split("; stderr:")[0]
    assert rc == -1 and "\n" not in head
    assert head.startswith("hung run: sh did not finish within 1 s and was killed (run_timeout)")
    assert re.search(r"; at the kill: host clock \d+\.\d s \(since \w+/ changed\) "
                     r"for guest 1\.\d s; sh \d+ S wchan=\w+", head), head
    assert len(re.findall(r"sleep \d+ S wchan=\w+", head)) == 2, head
    assert f"full text in {tmp_path / 'hung.json'}" in head
    d = json.loads((tmp_path / "hung.json").read_text())
    assert sorted(t["comm"] for t in d["tasks"]) == ["sh", "sleep", "sleep"]
    assert all(t["state"] == "S (sleeping)" for t in d["tasks"]), d
    assert 0.9 < d["host_s"] < 60 and d["guest_s"] >= 1.0, d
    if os.geteuid() == 0 and Path("/proc/self/stack").exists():
        assert all(t["stack"].startswith("[<") for t in d["tasks"]), d
    assert hung_summary({"tasks": [], "counters": {"targets": 1, "pending_work": 2, "x": 3}}) \
        == "no task left; module targets=1 pending_work=2"
    assert hung_summary({"tasks": [], "counters": {}}) == "no task left; no module"


def test_a_run_is_hung_only_when_the_host_clock_also_passed_its_timeout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under ``-icount sleep=off`` the guest's clock can count a run's timeout while the host
    counted under a second (session 35: 714.9 guest s for a 0.94 host-second run). Here the
    host clock is made to lag: a run that ends 0.5 s after its 1 s timeout, while the host
    counted 0.1 s, is waited for (its output read meanwhile) and not called hung; a run whose
    host clock never moves is killed once the guest waited HOST_WAIT_FACTOR x its timeout."""
    import time

    from cowrl.kernel import guest

    looks: list[float] = []

    def lagging(d: Path) -> float:
        looks.append(time.monotonic())
        return 0.1

    monkeypatch.setattr(guest, "host_seconds", lagging)
    rc, err, out = guest.run_bounded(["sh", "-c", "sleep 1.5; head -c 300000 /dev/zero; exit 3"],
                                     1.0, stdout=True, diag_dir=tmp_path)
    # its output, more than a pipe holds, was read while waiting (a bare wait() would stall it)
    assert (rc, err, len(out)) == (3, "", 300000) and len(looks) == 1
    monkeypatch.setattr(guest, "host_seconds", lambda d: 0.0)
    monkeypatch.setattr(guest, "HOST_WAIT_FACTOR", 3)
    t0 = time.monotonic()
    rc, err = guest.run_bounded(["sleep", "30"], 0.5, diag_dir=tmp_path)
    assert rc == -1 and err.startswith("hung run: sleep did not finish within 0.5 s"), err
    assert "host clock 0.0 s" in err and 1.5 <= time.monotonic() - t0 < 10
    monkeypatch.setattr(guest, "host_seconds", lambda d: float("nan"))  # unreadable: no wait
    t0 = time.monotonic()
    rc, err = guest.run_bounded(["sleep", "30"], 0.5, diag_dir=tmp_path)
    assert rc == -1 and "host clock nan s" in err and time.monotonic() - t0 < 1.4

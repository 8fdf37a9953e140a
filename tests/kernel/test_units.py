"""Fast tests of the kernel target's host-side pieces (no guest boot)."""

from __future__ import annotations

import ctypes
import errno
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from cowrl.errors import ConfigError, CowrlError, TargetUnavailable
from cowrl.kernel import abi as abimod
from cowrl.kernel import runners
from cowrl.kernel.abi import load_abi, record_dtype
from cowrl.kernel.config import KernelConfig
from cowrl.kernel.jobs import RunRequest, parse_run, write_job
from cowrl.policies.static import Baseline, HugePage, StaticPrecopy
from cowrl.traces.io import Trace

ROOT = Path(__file__).resolve().parents[2]

C_PROBE = r"""
#include <stddef.h>
#include <stdio.h>
#include "cowrl_uapi.h"
#define S(t) printf("size %s %zu\n", #t, sizeof(struct t))
#define O(t, f) printf("off %s.%s %zu\n", #t, #f, offsetof(struct t, f))
#define I(n) printf("ioctl %s %lu\n", #n, (unsigned long)(n))
int main(void)
{
	S(cowrl_record); S(cowrl_version); S(cowrl_target); S(cowrl_policy);
	S(cowrl_counters); S(cowrl_manual_cow);
	O(cowrl_record, addr); O(cowrl_record, work_ns); O(cowrl_record, precopied);
	O(cowrl_manual_cow, pages); O(cowrl_counters, out_of_scope); O(cowrl_policy, table_ptr);
	I(COWRL_IOC_VERSION); I(COWRL_IOC_REGISTER); I(COWRL_IOC_UNREGISTER);
	I(COWRL_IOC_SET_POLICY); I(COWRL_IOC_COUNTERS); I(COWRL_IOC_RESET);
	I(COWRL_IOC_MANUAL_COW);
	printf("const COWRL_ABI_VERSION %d\n", COWRL_ABI_VERSION);
	printf("const COWRL_MAX_K %d\n", COWRL_MAX_K);
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
    assert abi.version >= 1
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
    assert "/proc/modules is missing" in msg and "kernel.runner=qemu" in msg
    assert msg.count(". ") == 0  # one sentence


@pytest.mark.skipif(Path("/proc/modules").exists(), reason="this host supports modules")
def test_host_runner_here_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(TargetUnavailable, match="no loadable-module support"):
        runners.HostRunner(KernelConfig(runner="host", cache_dir=str(tmp_path)))


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


def test_manual_cow_madvise_path_here() -> None:
    """The fallback path on this machine's kernel (needs Linux >= 5.14)."""
    from cowrl.kernel import guest, manual_cow

    res = guest.check_manual_cow(use_module=False)
    assert "error" not in res, res
    assert res["private_before"] == 0 and res["private_after"] == res["n"]
    assert res["data_ok"] and res["parent_data_ok"]
    assert res["err_overflow"] == errno.EINVAL and res["err_unmapped"] == errno.EFAULT
    with pytest.raises(CowrlError):
        manual_cow.manual_cow(object(), 10)
    buf = bytearray(10000)
    assert manual_cow.manual_cow(buf, len(buf), use_module=False) >= 3

"""The module-side form of table policies: the ioctl payload and a user-space build of the C code.

``pack_table`` turns a :class:`~cowrl.policies.base.KernelProgram` of mode
``"table"`` into the bytes of ``struct cowrl_policy_table``
(``kernel_module/cowrl_policy.h``), which ``COWRL_IOC_SET_POLICY`` with
``mode = COWRL_POLICY_TABLE`` carries (``table_ptr`` -> these bytes,
``table_len = 1``, ``entry_size = TABLE_BYTES``).

``CPolicy`` compiles the header into a shared library with gcc (tests and
``experiments/bench_policy.py``) and replays fault pages through the exact
code the module runs.
"""

from __future__ import annotations

import ctypes
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np

from cowrl import paths
from cowrl.errors import TargetUnavailable
from cowrl.policies.base import KernelProgram
from cowrl.policies.context import N_CELLS, STATE_BYTES, TABLE_BYTES
from cowrl.sim.programs import (
    G_TALLY_NAMES,
    GUARD_TALLY_KEYS,
    SIM_STUDY_OPTIONS,
    guard_counter,
    walk_prices,
)

HEADER = paths.place("kernel_module") / "cowrl_policy.h"
TABLE_VERSION = 1
DECIDE = {"table": 0, "readahead": 1}
_FMT = f"<6I{N_CELLS}H"

_SHIM = r"""
#include <time.h>
#include "cowrl_policy.h"

unsigned int cp_sizeof_state(void) { return sizeof(struct cowrl_policy_state); }
unsigned int cp_sizeof_table(void) { return sizeof(struct cowrl_policy_table); }
int cp_check(const struct cowrl_policy_table *tb) { return cowrl_policy_check(tb); }

/* Replay fault pages (of regions ending at @ends[0..n_ends)) through a fresh state; write */
/* each decision to out_k.  @out_hist (may be NULL): per fault, the fault history's run, */
/* hit_rate_fp and the cell. */
void cp_replay(const struct cowrl_policy_table *tb, const int64_t *pages, int64_t n,
               const int64_t *ends, int64_t n_ends, uint32_t *out_k, int32_t *out_hist)
{
	struct cowrl_policy_state st;
	int64_t i, r;

	cowrl_policy_reset(&st);
	for (i = 0; i < n; i++) {
		for (r = 0; r < n_ends - 1 && ends[r] <= pages[i]; r++)
			;
		out_k[i] = cowrl_policy_fault(&st, tb, pages[i], r ? ends[r - 1] : 0, ends[r]);
		if (out_hist) {
			out_hist[3 * i] = (int32_t)st.fh_run;
			out_hist[3 * i + 1] = st.fh_hit_rate;
			out_hist[3 * i + 2] = (int32_t)st.last_cell;
		}
	}
}

/* Mean ns per cowrl_policy_fault over @reps replays of @pages (user-space proxy). */
double cp_bench(const struct cowrl_policy_table *tb, const int64_t *pages, int64_t n,
                int64_t n_pages, int reps)
{
	struct cowrl_policy_state st;
	struct timespec a, b;
	volatile uint32_t sink = 0;
	int64_t i;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (r = 0; r < reps; r++) {
		cowrl_policy_reset(&st);
		for (i = 0; i < n; i++)
			sink += cowrl_policy_fault(&st, tb, pages[i], 0, n_pages);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	(void)sink;
	return ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / ((double)n * reps);
}
"""


def pack_table(program: KernelProgram) -> bytes:
    """The bytes of ``struct cowrl_policy_table`` for a table-mode kernel program."""
    if program.mode != "table" or not isinstance(program.table, dict):
        raise ValueError(f"not a table program: mode={program.mode!r}")
    t = program.table
    cells = list(t.get("cells") or [0] * N_CELLS)
    return struct.pack(_FMT, TABLE_VERSION, DECIDE[t["decide"]], int(t["slots"]),
                       int(t["near"]), int(t.get("max_k", 0)), N_CELLS, *cells)


def _build_shim(build_dir: str | Path, name: str, source: str, header: Path) -> ctypes.CDLL:
    """Compile ``source`` (a shim over the module's decision ``header``) for user space
    (gcc -O2 -shared) into ``build_dir/lib<name>.so`` and load it."""
    if not header.is_file():
        paths.require("kernel_module")  # the directory is nowhere: one line naming the places
        raise TargetUnavailable(f"{header}: the module's decision header is missing")
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise TargetUnavailable("no C compiler (gcc) found; install gcc")
    d = Path(build_dir)
    d.mkdir(parents=True, exist_ok=True)
    src, lib = d / f"{name}_shim.c", d / f"lib{name}.so"
    src.write_text(source)
    subprocess.run([gcc, "-O2", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-shared",
                    "-fPIC", "-I", str(header.parent), "-o", str(lib), str(src)],
                   check=True, capture_output=True, text=True)
    return ctypes.CDLL(str(lib))


class CPolicy:
    """``cowrl_policy.h`` compiled for user space (gcc -O2 -shared) and called through ctypes."""

    def __init__(self, build_dir: str | Path) -> None:
        self.lib = _build_shim(build_dir, "cowrl_policy", _SHIM, HEADER)
        self.lib.cp_check.argtypes = [ctypes.c_char_p]
        self.lib.cp_replay.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int64,
                                       ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p,
                                       ctypes.c_void_p]
        self.lib.cp_bench.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int64,
                                      ctypes.c_int64, ctypes.c_int]
        self.lib.cp_bench.restype = ctypes.c_double
        assert self.lib.cp_sizeof_state() == STATE_BYTES, "state layout drifted"
        assert self.lib.cp_sizeof_table() == TABLE_BYTES, "table layout drifted"

    def check(self, payload: bytes) -> int:
        return int(self.lib.cp_check(payload))

    def replay(self, payload: bytes, pages: np.ndarray, n_pages: int,
               ends: np.ndarray | None = None) -> np.ndarray:
        """The module's decision at each fault page, from a fresh state (``ends``: the
        regions' ends, :attr:`Trace.region_ends`; default one region of ``n_pages``)."""
        return self.replay_history(payload, pages, n_pages, ends)[0]

    def replay_history(self, payload: bytes, pages: np.ndarray, n_pages: int,
                       ends: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Decisions and, per fault, (fault-history run, hit_rate_fp, cell) after it."""
        p = np.ascontiguousarray(pages, dtype=np.int64)
        e = np.ascontiguousarray([n_pages] if ends is None else ends, dtype=np.int64)
        out = np.zeros(p.size, dtype=np.uint32)
        hist = np.zeros((p.size, 3), dtype=np.int32)
        self.lib.cp_replay(payload, p.ctypes.data, p.size, e.ctypes.data, e.size,
                           out.ctypes.data, hist.ctypes.data)
        return out.astype(np.int64), hist.astype(np.int64)

    def bench_ns(self, payload: bytes, pages: np.ndarray, n_pages: int, reps: int = 20) -> float:
        p = np.ascontiguousarray(pages, dtype=np.int64)
        return float(self.lib.cp_bench(payload, p.ctypes.data, p.size, int(n_pages), reps))


# --- guarded (kernel_module/cowrl_guarded.h) ------------------------------------------------

GUARDED_HEADER = HEADER.with_name("cowrl_guarded.h")
GUARDED_VERSION = 4
GUARDED_CELLS = 320
GUARDED_MAX_DEGREES = 8
GUARDED_BYTES = 776
# ... merge, protect, hit_scale (version 3), proof, proof_reads, proof_ttl (version 4),
# proof_backoff, walk_ns (at 742), walk_empty_ns (at 744; 752 bytes since), read_ns (at 746),
# proof_look (at 748), proof_span (at 750, the last pad of 752 bytes), floor_slow (at 752;
# 760 bytes since, COWRL_ABI_VERSION 10), proof_skipmap (at 754, the first pad; ABI 11),
# proof_duemap (at 756), walk_due_ns and walk_scan_ns (u8s at 758 and 759; ABI 12); proof_span a
# u8 at 750 and proof_cutback a u8 at 751 (ABI 13: one u16 before); stride_window (u16 at
# 760), a u16 pad, stride_ns (u32 at 764): 768 bytes since, ABI 15; sibling_window,
# sibling_stake, sibling_gate (u8s at 768, 769, 770) and 5 pad bytes: 776 bytes since, ABI 16;
# sentinel_salt (u8 at 771, the first of those pad bytes; ABI 19) and 4 pad bytes
_GFMT = f"<7I2H5q{GUARDED_MAX_DEGREES}H{GUARDED_CELLS}H16H2HI4B4x"

_GSHIM = r"""
#include "cowrl_guarded.h"

unsigned int cg_sizeof_table(void) { return sizeof(struct cowrl_guarded_table); }
int cg_check(const struct cowrl_guarded_table *tb) { return cowrl_guarded_check(tb); }

static int64_t cg_reads, cg_proofs, cg_skips, cg_proven, cg_foreign;
/* the process (ordinal) whose fault recorded each ring entry, and the faulting one's */
static cp_u32 cg_entry_proc[COWRL_GUARDED_PROOFS], cg_proc;
static struct cowrl_guarded_state st;	/* the last cg_replay's */

/*
 * 1 if the last cg_replay's live-slot map (proof_bits) is its ring's (bit i iff slot i live),
 * and its due map (proof_duemap) too: every waiting slot live and due no sooner than wait_due,
 * wait_live and bucket_wait their counts.
 */
int cg_bits_ok(void)
{
	cp_u32 i, wait = 0, bw[COWRL_GUARDED_BUCKETS] = {0};

	for (i = 0; i < COWRL_GUARDED_PROOFS; i++) {
		if (!((st.proof_bits[i >> 6] >> (i & 63)) & 1) != !st.proof_page[i])
			return 0;
		if ((st.proof_wait[i >> 6] >> (i & 63)) & 1) {
			/* proof_duemap: a waiting entry is live, and not yet due */
			if (!st.proof_page[i] || (cp_s32)(st.proof_due[i] - st.wait_due) < 0)
				return 0;
			wait++;
			bw[st.proof_bucket[i] & (COWRL_GUARDED_BUCKETS - 1)]++;
		}
	}
	for (i = 0; i < COWRL_GUARDED_BUCKETS; i++)
		if (bw[i] != st.bucket_wait[i])
			return 0;
	return wait == st.wait_live;
}

/* The page state of the faulting region's process: trace page = decision page + shift. */
struct cg_view {
	unsigned char *priv;
	int64_t shift;
};

static int cg_shared(void *ctx, cp_s64 q)
{
	const struct cg_view *v = ctx;

	cg_reads++;
	return !v->priv[q + v->shift];
}

/* Version 4: page state 2 = written since it became private (the copy's D bit). */
static int cg_written(void *ctx, cp_u32 idx, cp_s64 q)
{
	const struct cg_view *v = ctx;

	cg_proofs++;
	if (cg_entry_proc[idx % COWRL_GUARDED_PROOFS] != cg_proc) {
		cg_foreign++;	/* another process's copy: the module's pfn check fails */
		return 0;
	}
	cg_proven += v->priv[q + v->shift] == 2;
	return v->priv[q + v->shift] == 2;
}

static int64_t cg_sib, cg_opened, cg_copied;

/* Pages the windows (adjacent and sibling) of the last cg_replay copied ahead. */
int64_t cg_last_copied(void) { return cg_copied; }

/* Pages the sibling windows of the last cg_replay copied, and the faults that opened one. */
int64_t cg_last_sib(void) { return cg_sib; }
int64_t cg_last_opened(void) { return cg_opened; }

/* sibling_gate: the last cg_replay's counters (marks, hits, epoch) and sib_use. */
void cg_gate(int64_t *out)
{
	out[0] = st.gate_mark;
	out[1] = st.gate_hit;
	out[2] = st.gate_epoch;
	out[3] = st.sib_use;
}

/* The module's guard_* counters (ABI 18) of the last cg_replay: cowrl_guarded_counts(). */
void cg_tallies(cp_u64 *out) { cowrl_guarded_counts(&st, out); }

unsigned int cg_n_tallies(void) { return COWRL_GUARDED_TALLIES; }

/* written() calls of the last cg_replay for an entry another process recorded. */
int64_t cg_last_foreign(void) { return cg_foreign; }

/* written() calls of the last cg_replay that found the page written (the module's credits). */
int64_t cg_last_proven(void) { return cg_proven; }

/* written() calls of the last cg_replay. */
int64_t cg_last_proofs(void) { return cg_proofs; }

/* Page-state reads (shared() calls) of the last cg_replay. */
int64_t cg_last_reads(void) { return cg_reads; }

/* Private pages the precopy walks of the last cg_replay stepped over (to page + o.last). */
int64_t cg_last_skips(void) { return cg_skips; }

/*
 * Replay @pages (a write trace over regions ending at @ends[0..n_ends), page p of region r
 * at virtual page p + @voffs[r], in the process @procs[r]: its writer, a tgid to
 * cowrl_guarded_proc; with @slots, region r's first page at page @slots[r] of the module's
 * range, as the harness places it, several processes' copies of a region at the same pages,
 * each with its own page state; NULL: at its trace page) from all pages
 * shared, as the module sees it: a write to a private page takes no fault (and sets its
 * state to 2, the D bit); at a fault the decision reads only page state (proofs, private
 * neighbours, shared window pages).  Writes each fault's page and k; returns the number
 * of faults.
 */
int64_t cg_replay(const struct cowrl_guarded_table *tb, const int64_t *pages, int64_t n,
                  const int64_t *ends, const int64_t *voffs, const int64_t *procs,
                  int64_t n_ends, const int64_t *slots,
                  unsigned char *priv, int64_t *out_page, uint32_t *out_k,
                  unsigned char *fam)
{
	struct cowrl_guarded_obs o;
	struct cg_view view = { priv, 0 };
	int64_t i, f = 0, r, start, limit, p, j, end, sh, s, step;
	uint32_t left, left_s, k, b, proc;

	cowrl_guarded_reset(&st);
	cg_reads = cg_proofs = cg_skips = cg_proven = cg_foreign = cg_sib = cg_opened = cg_copied = 0;
	for (i = 0; i < n; i++) {
		p = pages[i];
		if (priv[p]) {
			priv[p] = 2;
			continue;
		}
		for (r = 0; r < n_ends - 1 && ends[r] <= p; r++)
			;
		start = r ? ends[r - 1] : 0;
		limit = ends[r];
		left = 0;
		for (j = p - 3; j < p; j++)
			if (j >= start && priv[j])
				left++;
		/* the ring bucket: first virtual page, size, process ordinal (as the module) */
		cg_proc = proc = cowrl_guarded_proc(&st, (int32_t)procs[r]);
		b = cowrl_guarded_bucket((uint64_t)(start + voffs[r]), limit - start, proc);
		/* the decision sees the module's pages: trace page - sh */
		sh = view.shift = slots ? start - slots[r] : 0;
		cowrl_guarded_prove(&st, tb, start - sh, limit - sh, b, proc, cg_written, &view);
		/* stride_window: page - s, - 2s, - 3s private (the module reads their PTEs) */
		s = cowrl_guarded_stride(&st, tb, p - sh, start - sh, limit - sh);
		left_s = 0;
		for (j = 1; s && j <= 3; j++)
			if (p - j * s >= start && priv[p - j * s])
				left_s++;
		cowrl_guarded_observe(&st, tb, &o, p - sh, start - sh, limit - sh, left,
					(uint64_t)(p + voffs[r]), proc, left_s);
		k = cowrl_guarded_commit_fam(&st, tb, &o, p - sh, start - sh, limit - sh,
						cg_shared, &view, fam);
		for (j = 0; j < (int64_t)o.proof_count; j++)
			cg_entry_proc[(o.proof_first + j) % COWRL_GUARDED_PROOFS] = proc;
		step = o.stride ? (int64_t)o.stride : 1;
		for (j = 1; j <= (int64_t)o.last; j++)	/* the module's walk (0 if k = 0) */
			cg_skips += priv[p + j * step] != 0;
		if (o.stride) {	/* a strided window: page + j * s below the region's end */
			end = k ? (limit - 1 - p) / step : 0;
			if (end > (int64_t)k)
				end = k;
			if (!priv[p])
				priv[p] = 1;
			for (j = 1; j <= end; j++)
				if (!priv[p + j * step]) {
					priv[p + j * step] = 1;
					cg_copied++;
				}
		} else {
			end = p + k < limit - 1 ? p + k : limit - 1;
			for (j = p; j <= end; j++)
				if (!priv[j]) {	/* a private page keeps its state (2: written) */
					priv[j] = 1;
					cg_copied += j > p;
				}
		}
		/* sibling_window: the family pages of the sibling window, those still shared */
		/* copied (the module's walk of o.sibmask; the others it steps over) */
		for (j = 1; j <= COWRL_GUARDED_MAX_SIB; j++) {
			if (!((o.sibmask >> (j - 1)) & 1))
				continue;
			if (priv[p + j]) {
				cg_skips++;
			} else {
				priv[p + j] = 1;
				cg_sib++;
				cg_copied++;
			}
		}
		cg_opened += o.sib != 0;
		out_page[f] = p;
		out_k[f++] = k;
	}
	return f;
}
"""


def pack_guarded(program: KernelProgram) -> bytes:
    """The bytes of ``struct cowrl_guarded_table`` for a ``decide = "guarded"`` program."""
    t = program.table
    if program.mode != "table" or not isinstance(t, dict) or t.get("decide") != "guarded":
        raise ValueError(f"not a guarded program: mode={program.mode!r}")
    if int(t.get("use_proof", 0)):
        raise ValueError("guarded: use_proof is not in the module's table yet")
    if int(t.get("floor_total", 0)):
        raise ValueError("guarded: floor_total is not in the module's table yet")
    for field in SIM_STUDY_OPTIONS:
        if int(t.get(field, 0)):
            raise ValueError(f"guarded: {field} is a simulator study, not in the module's table")
    degrees = sorted(int(d) for d in t["degrees"])
    if len(degrees) > GUARDED_MAX_DEGREES:
        raise ValueError(f"guarded: at most {GUARDED_MAX_DEGREES} degrees, got {len(degrees)}")
    return struct.pack(_GFMT, GUARDED_VERSION, GUARDED_CELLS, int(t["slots"]), int(t["near"]),
                       int(t["floor"]), int(t["expected_loss"]), len(degrees),
                       int(t.get("grant_left", 0)), int(t.get("scan", 0)),
                       int(t["gain_ns"]), int(t["loss_ns"]), int(t["setup_ns"]),
                       int(t["skip_ns"]), int(t["allowance_ns"]),
                       *(degrees + [0] * (GUARDED_MAX_DEGREES - len(degrees))),
                       *[int(k) for k in t["cells"]], int(t.get("merge", 0)),
                       int(t.get("protect", 0)), int(t.get("hit_scale", 1)),
                       int(t.get("proof", 0)), int(t.get("proof_reads", 0)),
                       int(t.get("proof_ttl", 0)), int(t.get("proof_backoff", 0)),
                       *walk_prices(t), int(t.get("read_ns", 0)),
                       int(t.get("proof_look", 0)),
                       int(t.get("proof_span", 0)) | int(t.get("proof_cutback", 0)) << 8,
                       int(t.get("floor_slow", 0)), int(t.get("proof_skipmap", 0)),
                       int(t.get("proof_duemap", 0)),
                       int(t.get("walk_due_ns", 0)) | int(t.get("walk_scan_ns", 0)) << 8,
                       int(t.get("stride_window", 0)), 0, int(t.get("stride_ns", 0)),
                       int(t.get("sibling_window", 0)), int(t.get("sibling_stake", 0)),
                       int(t.get("sibling_gate", 0)), int(t.get("sentinel_salt", 0)))


class CGuarded:
    """``cowrl_guarded.h`` compiled for user space (gcc -O2 -shared), called through ctypes;
    its replay reads page state as the module does (all pages shared at the start)."""

    def __init__(self, build_dir: str | Path, any_proc: bool = False) -> None:
        """``any_proc``: built with ``COWRL_GUARDED_TEST_ANY_PROC``, the look before a ring
        entry kept its process (a look read every process's entries in its range)."""
        self.lib = (_build_shim(build_dir, "cowrl_guarded_anyproc",
                                "#define COWRL_GUARDED_TEST_ANY_PROC 1\n" + _GSHIM,
                                GUARDED_HEADER) if any_proc else
                    _build_shim(build_dir, "cowrl_guarded", _GSHIM, GUARDED_HEADER))
        self.lib.cg_check.argtypes = [ctypes.c_char_p]
        self.lib.cg_replay.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int64,
                                       ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                       ctypes.c_int64, ctypes.c_void_p,
                                       ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                       ctypes.c_void_p]
        self.lib.cg_replay.restype = ctypes.c_int64
        self.lib.cg_last_sib.restype = ctypes.c_int64
        self.lib.cg_last_copied.restype = ctypes.c_int64
        self.lib.cg_last_opened.restype = ctypes.c_int64
        self.lib.cg_gate.argtypes = [ctypes.c_void_p]
        self.lib.cg_last_reads.restype = ctypes.c_int64
        self.lib.cg_last_proofs.restype = ctypes.c_int64
        self.lib.cg_last_proven.restype = ctypes.c_int64
        self.lib.cg_last_foreign.restype = ctypes.c_int64
        self.lib.cg_last_skips.restype = ctypes.c_int64
        self.lib.cg_bits_ok.restype = ctypes.c_int
        self.lib.cg_tallies.argtypes = [ctypes.c_void_p]
        assert self.lib.cg_sizeof_table() == GUARDED_BYTES, "guarded table layout drifted"
        assert self.lib.cg_n_tallies() == len(G_TALLY_NAMES), "guarded tallies drifted"

    def check(self, payload: bytes) -> int:
        return int(self.lib.cg_check(payload))

    def replay(self, payload: bytes, pages: np.ndarray, n_pages: int,
               region_ends: np.ndarray, vpn_offsets: np.ndarray | None = None,
               writers: np.ndarray | None = None, slots: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Fault pages and their degrees, replaying ``pages`` from all pages shared
        (``vpn_offsets``: :attr:`Trace.region_vpn_offsets`, default 0; ``writers``: the
        process of each region, :attr:`Trace.region_writers`, default one process: the
        module numbers them itself, ``cowrl_guarded_proc``; ``slots``: each region's first
        page in the module's range, :func:`cowrl.kernel.jobs.harness_slots`, so the decisions
        see the pages the module sees, other processes' copies of a region at the same pages
        with page states of their own; default: the trace's page indices)."""
        p = np.ascontiguousarray(pages, dtype=np.int64)
        ends = np.ascontiguousarray(region_ends, dtype=np.int64)
        voffs = np.ascontiguousarray(np.zeros(ends.size) if vpn_offsets is None
                                     else vpn_offsets, dtype=np.int64)
        procs = np.ascontiguousarray(np.zeros(ends.size) if writers is None else writers,
                                     dtype=np.int64)
        priv = np.zeros(n_pages, dtype=np.uint8)
        out_p = np.zeros(p.size, dtype=np.int64)
        out_k = np.zeros(p.size, dtype=np.uint32)
        sl = None if slots is None else np.ascontiguousarray(slots, dtype=np.int64)
        # the family bytes at the decision's pages (the module's: page of its range)
        sizes = np.diff(np.concatenate([[0], ends]))
        n_fam = n_pages if sl is None else int(max(n_pages, int((sl + sizes).max())))
        fam = np.zeros(n_fam, dtype=np.uint8)
        n = self.lib.cg_replay(payload, p.ctypes.data, p.size, ends.ctypes.data,
                               voffs.ctypes.data, procs.ctypes.data, ends.size,
                               None if sl is None else sl.ctypes.data,
                               priv.ctypes.data, out_p.ctypes.data, out_k.ctypes.data,
                               fam.ctypes.data)
        self.last_family = fam
        """The family bytes at the end of this replay (bit 0: a demand fault's page; bits
        1..7: a sibling_gate ghost mark)."""
        self.last_sib = int(self.lib.cg_last_sib())
        """Pages the sibling windows of this replay copied (sibling_window)."""
        self.last_copied = int(self.lib.cg_last_copied())
        """Pages the windows of this replay copied ahead, adjacent and sibling (the
        module's precopied)."""
        self.last_opened = int(self.lib.cg_last_opened())
        """Faults of this replay whose sibling window copied a page."""
        gate = np.zeros(4, dtype=np.int64)
        self.lib.cg_gate(gate.ctypes.data)
        self.last_gate = tuple(int(x) for x in gate)
        """sibling_gate's (marks, hits, epoch) and sib_use at the end of this replay."""
        self.last_reads = int(self.lib.cg_last_reads())
        """Window/sentinel page reads of this replay (the module's gup-fast calls)."""
        self.last_proofs = int(self.lib.cg_last_proofs())
        """written() calls of this replay (the module's D-bit reads, version 4)."""
        self.last_proven = int(self.lib.cg_last_proven())
        """... of them, those that found the page written (the module's ``proof_credited``)."""
        self.last_foreign = int(self.lib.cg_last_foreign())
        """... of them, reads of an entry another process's fault recorded (the module's
        ``proof_foreign``)."""
        self.last_skips = int(self.lib.cg_last_skips())
        """Private pages its precopy walks stepped over, each to the last page its decision
        read shared (the module's ``precopy_skipped``)."""
        tal = np.zeros(len(GUARD_TALLY_KEYS), dtype=np.uint64)
        self.lib.cg_tallies(tal.ctypes.data)
        self.last_tallies = {k: guard_counter(k, x)
                             for k, x in zip(GUARD_TALLY_KEYS, tal.tolist(), strict=True)}
        """The decision tallies of this replay (the state's ``tally[]`` and its sentinel hits
        and misses): :func:`cowrl.sim.programs.guarded_tallies`' keys, the module's
        ``guard_*`` counters."""
        self.last_bits_ok = bool(self.lib.cg_bits_ok())
        """Whether the state's live-slot map (``proof_bits``) marks exactly the live ring
        slots at the end of this replay (``proof_skipmap`` jumps by it), and its due map
        (``proof_wait``, ``proof_duemap``) only live entries not due before ``wait_due``, with
        ``wait_live`` and ``bucket_wait`` their counts."""
        return out_p[:n], out_k[:n].astype(np.int64)

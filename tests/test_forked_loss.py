"""experiments/forked_loss.py: its counts worked out by hand on a small trace, and the script's
decomposition checked against its own totals on one recorded forked trace."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from conftest import load_experiment, run_experiment

from cowrl.traces.io import Trace

fl = load_experiment("forked_loss")

# One writer, one region of 8 pages; pages 4, 6 and 7 are never written.
PAGES = [0, 1, 2, 5, 3]


def hand_trace() -> Trace:
    return Trace(pages=np.array(PAGES), n_pages=8, writer=np.zeros(len(PAGES), dtype=np.int64))


def test_first_writes_and_own_rank_by_hand() -> None:
    t = hand_trace()
    assert fl.first_writes(t).tolist() == [0, 1, 2, 4, 5, 3, 5, 5]  # 5 = never
    two = Trace(pages=np.array([0, 4, 1, 5, 2]), n_pages=8, region_sizes=np.array([4, 4]),
                region_writers=np.array([0, 1]), writer=np.array([0, 1, 0, 1, 0]))
    assert fl.own_rank(two).tolist() == [0, 0, 1, 1, 2]


def test_copy_delays_by_hand() -> None:
    # (write_index, page, k, precopied, thp_first, window): a window of 3 at write 0 (page 0)
    # copies 1, 2, 3 (first written at writes 1, 2, 4); one of 2 at write 1 (page 1) copies
    # nothing new (2 and 3 already copied); one of 2 at write 3 (page 5) copies 6 and 7, never
    # written.
    ev = np.array([[0, 0, 3, 3, 0, 3], [1, 1, 2, 0, 0, 2], [3, 5, 2, 2, 0, 2]])
    assert fl.copy_delays(hand_trace(), ev) == [(1, 1), (2, 2), (3, 4), (6, -1), (7, -1)]
    assert fl.delay_table([1, 2, 4, -1, -1, 300, 5000]) == {
        "1..1": 1, "2..3": 1, "4..16": 1, "17..256": 0, "257..4096": 1, "4097+": 1, "never": 2}


def test_cell_bound_by_hand() -> None:
    # faults (every write is a first write): p0 left 0; p1 left 1, below (prev fault p0);
    # p2 left 2, below; p5 left 1 (p2 written, p3 and p4 not yet); p3 left 3.
    # gain 1, loss 2 per window page written later / never:
    # p0: k=3 copies 1, 2, 3, all written later: +3 (k=4 adds 4: +1; k=8 -2);
    # p1: k=2 copies 2, 3: +2 (k=3 adds 4: 0; k=4 adds 5: +1);
    # p2: k=1 copies 3: +1 (k=2 adds 4: -1);
    # p5: 6 and 7 never written: k = 0; p3: 4 never, 5 already private: k = 0.
    assert fl.cell_bound(hand_trace(), 1.0, 2.0) == [
        ("left0", 1, 3, 1.0, 3.0), ("left1", 1, 0, 0.0, 0.0), ("left1+below", 1, 2, 1.0, 2.0),
        ("left2+below", 1, 1, 1.0, 1.0), ("left3", 1, 0, 0.0, 0.0)]


def test_script_on_a_forked_trace_adds_up(tmp_path: Path) -> None:
    out = run_experiment("forked_loss", "--traces", "cpython_statedump", "--costmodels", "host",
                         tmp=tmp_path, timeout=300)
    tag = "host cpython_statedump"
    rows = {m.group(1): m.groups()[1:] for m in re.finditer(
        rf"^{tag} policies: (\S+) +(\d+) +(\d+) +(\d+) +\S+ +\S+ +(\S+)$", out, re.M)}
    assert set(rows) == {"baseline", "shield64", "guarded", "readahead", "precopy_best", "oracle"}
    assert rows["baseline"][1:] == ("0", "0", "1.0000")
    # the oracle's copies by delay sum to its pages precopied
    counts = [int(x) for x in re.findall(rf"^{tag} oracle: copies written after \S+ +(\d+) ",
                                         out, re.M)]
    assert len(counts) == 7 and sum(counts) == int(rows["oracle"][1])
    # shield64's parts sum to its total, which is its objective over baseline's
    parts = [float(x) for x in re.findall(rf"^{tag} shield64: (?!total).{{22}} +(\S+) ms", out,
                                          re.M)]
    total = re.search(rf"^{tag} shield64: total +(\S+) ms (\S+)% \(objective - baseline's: "
                      r"(\S+)%\)", out, re.M)
    assert total and abs(sum(parts) - float(total.group(1))) < 0.002
    assert total.group(2) == total.group(3)
    assert float(rows["shield64"][3]) == round(1 + float(total.group(3)) / 100, 4)
    # decisions: floor shut + budget short + opened = faults
    d = re.search(rf"^{tag} shield64: decisions (\d+): floor shut (\d+), budget short (\d+) "
                  r".*opened (\d+);", out, re.M)
    assert d and int(d.group(1)) == sum(int(d.group(i)) for i in (2, 3, 4))
    assert int(d.group(1)) == int(rows["shield64"][0])


def test_unknown_trace_is_one_line(tmp_path: Path) -> None:
    assert run_experiment("forked_loss", "--traces", "nothing_here", tmp=tmp_path, status=2) \
        == f"error: --traces: no trace 'nothing_here' in {Path(__file__).resolve().parent.parent}" \
           "/data/traces"

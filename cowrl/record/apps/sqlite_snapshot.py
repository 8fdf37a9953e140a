"""An in-memory SQLite database snapshotted by a forked child while the parent keeps
writing (the BGSAVE shape, with SQLite as the engine: Debian's libsqlite3 through
Python's sqlite3 module).

The parent creates an in-memory database (``:memory:``) with a table of ``--rows`` rows
(an integer key, a 100-byte text, an integer counter and a real balance, with an index on
the text), prints ``READY <pid>`` and waits for a line on stdin (the recorder registers
it meanwhile). Then it forks the snapshot child, which copies the database to
``--dir/snapshot.db`` with SQLite's online backup (``Connection.backup``) and exits; the
parent prints ``FORK <ns>`` (CLOCK_MONOTONIC just before the fork) and ``WORKERS <pid>``
and, until the child has exited, runs transactions of ``--batch`` writes each: UPDATEs
of the counter and balance of random rows, and one INSERT of a new row per transaction
(a key past the end: the table and index grow at their right edge). The child only reads
the database, yet it copies pages too: SQLite's page cache writes the headers it keeps
beside each page's data (reference count, LRU links) when it pins the page. The parent
prints
``RESULT <json>`` with the transaction latencies (guest clock) and the snapshot's size.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=400_000)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--cache-mb", type=int, default=512)
    ap.add_argument("--dir", default=".")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.execute(f"PRAGMA cache_size=-{a.cache_mb * 1024}")
    db.execute("CREATE TABLE acct (id INTEGER PRIMARY KEY, name TEXT, n INTEGER, bal REAL)")
    db.execute("CREATE INDEX acct_name ON acct(name)")
    rng = random.Random(a.seed)
    db.execute("BEGIN")
    db.executemany("INSERT INTO acct VALUES (?, ?, 0, ?)",
                   ((i, f"customer-{(i * 2654435761) % 2**32:010d}-" + "x" * 84,
                     rng.random() * 1000) for i in range(a.rows)))
    db.execute("COMMIT")
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    psize = db.execute("PRAGMA page_size").fetchone()[0]
    print("READY", os.getpid(), flush=True)
    if sys.stdin.readline().strip() != "go":
        return 3
    path = os.path.join(a.dir, "snapshot.db")
    t_fork = time.monotonic_ns()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            out = sqlite3.connect(path)
            db.backup(out)
            out.close()
        except BaseException:  # noqa: BLE001 - the child reports by its status
            code = 1
        os._exit(code)
    print("FORK", t_fork, flush=True)
    print("WORKERS", pid, flush=True)
    lat = []
    next_id = a.rows
    status = None
    while status is None:
        t0 = time.monotonic_ns()
        db.execute("BEGIN")
        for _ in range(a.batch):
            k = rng.randrange(next_id)
            db.execute("UPDATE acct SET n = n + 1, bal = bal + ? WHERE id = ?",
                       (rng.random() - 0.5, k))
        db.execute("INSERT INTO acct VALUES (?, ?, 0, 0.0)",
                   (next_id, f"customer-{(next_id * 2654435761) % 2**32:010d}-" + "y" * 84))
        next_id += 1
        db.execute("COMMIT")
        lat.append(time.monotonic_ns() - t0)
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
    t_end = time.monotonic_ns()
    lat.sort()
    print("RESULT", json.dumps({
        "rows": a.rows, "db_pages": pages, "page_size": psize, "batch": a.batch,
        "transactions": len(lat), "snapshot_bytes": os.path.getsize(path) if status == 0
        else None, "tx_p50_ns": lat[len(lat) // 2], "tx_p99_ns": lat[int(len(lat) * 0.99)],
        "tx_max_ns": lat[-1], "window_ns": t_end - t_fork, "sqlite": sqlite3.sqlite_version,
        "python": sys.version.split()[0], "failed_workers": int(status != 0)}), flush=True)
    return 1 if status != 0 else 0


if __name__ == "__main__":
    sys.exit(main())

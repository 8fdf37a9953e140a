"""A ``multiprocessing`` Pool (fork start method) mapping over a large shared read-mostly
structure (the shape of a batch job that loads its data once and hands ``Pool.imap`` chunk
ids: the workers inherit the data by fork instead of receiving it pickled).

The parent builds a document collection: a vocabulary of ``--vocab`` words (``str``) with
an inverse-document-frequency weight each (a ``dict`` of ``float``), and ``--docs``
documents, each a ``dict`` holding its id, a list of ``--tokens`` words drawn from the
vocabulary by a Zipf law (exponent ``--zipf``: common words are shared by many documents),
a score and a count of the times it was scored. It prints ``READY <pid>`` and waits for a
line on stdin (the recorder registers it meanwhile). Then it prints ``FORK <ns>``
(CLOCK_MONOTONIC just before the Pool forks its workers), creates a Pool of ``--workers``
processes with the fork context and prints ``WORKERS <pid>...``.

It maps a scoring function over ``--passes`` passes of the collection in chunks of
``--chunk`` documents (``imap_unordered``, chunksize 1: a worker takes the next chunk id
when it is free, so which worker scores which chunk is decided at run time). A task, in
the worker's own copy of the collection: for each document of its chunk, the weight of each
of its words is looked up (reference counts of the words and weights: the vocabulary is
written by every worker) and the document is updated in place: its score (a new float) and
its count (``+= 1``), and the words of a query (``--query`` words) are counted into a
per-worker ``dict`` of hits that grows over the tasks. The task returns the chunk's best
document. The parent prints ``RESULT <json>`` with the per-task latencies (guest clock)
and each worker's task count.
"""

from __future__ import annotations

import argparse
import bisect
import json
import multiprocessing as mp
import os
import random
import sys
import time
from typing import Any

# The collection, inherited by the workers through fork (a global, as Pool users do).
DOCS: list[dict[str, Any]] = []
IDF: dict[str, float] = {}
QUERY: frozenset[str] = frozenset()
CHUNK = 0
HITS: dict[str, int] = {}


def score_chunk(c: int) -> tuple[int, int, float, int, int]:
    t0 = time.monotonic_ns()
    best_id, best = -1, -1.0
    lo = (c * CHUNK) % len(DOCS)
    for doc in DOCS[lo:lo + CHUNK]:
        s = 0.0
        for w in doc["tokens"]:
            s += IDF[w]
            if w in QUERY:
                HITS[w] = HITS.get(w, 0) + 1
        doc["score"] = s / len(doc["tokens"])
        doc["seen"] += 1
        if doc["score"] > best:
            best_id, best = doc["id"], doc["score"]
    return c, best_id, best, os.getpid(), time.monotonic_ns() - t0


def main() -> int:
    global CHUNK, QUERY
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=40_000)
    ap.add_argument("--vocab", type=int, default=20_000)
    ap.add_argument("--tokens", type=int, default=12)
    ap.add_argument("--zipf", type=float, default=1.0)
    ap.add_argument("--query", type=int, default=200)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--chunk", type=int, default=250)
    ap.add_argument("--passes", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    words = [f"w{rng.getrandbits(40):010x}" for _ in range(a.vocab)]
    w = [1.0 / (i + 1) ** a.zipf for i in range(a.vocab)]
    total = sum(w)
    cdf, acc = [], 0.0
    for x in w:
        acc += x / total
        cdf.append(acc)
    for i, word in enumerate(words):
        IDF[word] = 1.0 + (i + 1) ** 0.5 / 7.0
    for i in range(a.docs):
        toks = [words[min(bisect.bisect_left(cdf, rng.random()), a.vocab - 1)]
                for _ in range(a.tokens)]
        DOCS.append({"id": i, "tokens": toks, "score": 0.0, "seen": 0})
    QUERY = frozenset(rng.sample(words[: a.vocab // 10], a.query))
    CHUNK = a.chunk
    nchunks = -(-a.docs // a.chunk) * a.passes
    print("READY", os.getpid(), flush=True)
    if sys.stdin.readline().strip() != "go":
        return 3
    t_fork = time.monotonic_ns()
    print("FORK", t_fork, flush=True)
    pool = mp.get_context("fork").Pool(a.workers)
    pids = [p.pid for p in pool._pool]
    print("WORKERS", *pids, flush=True)
    lat, tasks = [], {pid: 0 for pid in pids}
    best = (-1, -1.0)
    for _, doc_id, s, pid, ns in pool.imap_unordered(score_chunk, range(nchunks), 1):
        lat.append(ns)
        tasks[pid] = tasks.get(pid, 0) + 1
        if s > best[1]:
            best = (doc_id, s)
    pool.close()
    pool.join()
    bad = sum(p.exitcode != 0 for p in pool._pool)
    t_end = time.monotonic_ns()
    lat.sort()
    print("RESULT", json.dumps({
        "docs": a.docs, "vocab": a.vocab, "tokens": a.tokens, "zipf": a.zipf,
        "workers": a.workers, "chunk": a.chunk, "passes": a.passes, "tasks": len(lat),
        "worker_tasks": [tasks[p] for p in pids], "best_doc": best[0],
        "task_p50_ns": lat[len(lat) // 2], "task_max_ns": lat[-1],
        "serve_ns": t_end - t_fork, "python": sys.version.split()[0],
        "failed_workers": bad}), flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

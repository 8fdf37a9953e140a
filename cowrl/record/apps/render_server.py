"""A pre-fork page-rendering server in plain CPython (the shape of a preloaded web app's
worker pool: templates and a catalogue loaded once, each request renders a page).

The parent loads a catalogue of ``--products`` products (a dict each: name, price, a list
of tags) from a text dump, keeping only the parsed objects: the dump's temporaries are
freed, which leaves free slots in pymalloc's pools all over the heap, as start-up garbage
does. It prints ``READY <pid>`` and waits for a line on stdin (the recorder registers it
meanwhile). Then it forks ``--workers`` workers, prints ``FORK <ns>`` (CLOCK_MONOTONIC
just before the first fork) and ``WORKERS <pid>...``, and dispatches ``--requests``
requests round robin over pipes. A request names a listing page: ``--per-page`` products
drawn at random. The worker renders each product's row with ``str.format`` (reading the
product: reference counts), keeps the rendered rows in its own fragment cache (a dict of
at most ``--cache`` rows, the oldest dropped first) and joins the page; every request
allocates and frees dozens of short-lived strings and lists (allocation churn), and the
cache's strings fill the freed slots the parent left, which the allocator hands out in
the same order in every worker. The parent prints ``RESULT <json>`` with the request
latencies (guest clock) and the workers' cache hit counts.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time

ROW = ('<tr class="{cls}"><td>{i}</td><td><a href="/p/{pid}">{name}</a></td>'
       '<td>{price:.2f}</td><td>{tags}</td></tr>')
PAGE = "<html><body><h1>{title}</h1><table>{rows}</table><p>{n} items</p></body></html>"


def load(products: int, rng: random.Random) -> list[dict]:
    dump = [f"{p}|product {p:07d} {rng.choice(['red', 'blue', 'oak', 'steel'])}|"
            f"{rng.random() * 500:.2f}|{','.join(str(rng.randrange(64)) for _ in range(3))}"
            for p in range(products)]
    parsed = [line.split("|") for line in dump]
    catalogue = [{"pid": int(f[0]), "name": f[1], "price": float(f[2]),
                  "tags": [int(t) for t in f[3].split(",")]} for f in parsed]
    del dump, parsed
    return catalogue


def serve(catalogue: list[dict], rfd: int, wfd: int, cache_max: int) -> None:
    rf = os.fdopen(rfd, "rb", buffering=0)
    cache: dict[int, str] = {}
    hits = 0
    buf = b""
    while True:
        while b"\n" not in buf:
            chunk = rf.read(4096)
            if not chunk:
                return
            buf += chunk
        line, buf = buf.split(b"\n", 1)
        if line == b"quit":
            os.write(wfd, b"%d %d\n" % (hits, len(cache)))
            return
        ids = [int(x) for x in line.split()]
        rows = []
        for i, pid in enumerate(ids):
            row = cache.get(pid)
            if row is None:
                p = catalogue[pid]
                row = ROW.format(cls="odd" if i % 2 else "even", i=i, pid=p["pid"],
                                 name=p["name"], price=p["price"],
                                 tags=" ".join(f"#{t}" for t in p["tags"]))
                if len(cache) >= cache_max:
                    del cache[next(iter(cache))]
                cache[pid] = row
            else:
                hits += 1
            rows.append(row)
        page = PAGE.format(title=f"listing {ids[0]}", rows="".join(rows), n=len(rows))
        os.write(wfd, b"%d\n" % len(page))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--products", type=int, default=60_000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--per-page", type=int, default=20)
    ap.add_argument("--cache", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    catalogue = load(a.products, rng)
    print("READY", os.getpid(), flush=True)
    if sys.stdin.readline().strip() != "go":
        return 3
    workers = []
    t_fork = time.monotonic_ns()
    for _ in range(a.workers):
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(req_w)
            os.close(resp_r)
            serve(catalogue, req_r, resp_w, a.cache)
            os._exit(0)
        os.close(req_r)
        os.close(resp_w)
        workers.append((pid, req_w, os.fdopen(resp_r, "rb")))
    print("FORK", t_fork, flush=True)
    print("WORKERS", *[w[0] for w in workers], flush=True)
    lat = []
    for i in range(a.requests):
        pid, wfd, rf = workers[i % len(workers)]
        ids = " ".join(str(rng.randrange(a.products)) for _ in range(a.per_page))
        t0 = time.monotonic_ns()
        os.write(wfd, ids.encode() + b"\n")
        if not rf.readline():
            print(f"worker {pid} died", file=sys.stderr)
            return 4
        lat.append(time.monotonic_ns() - t0)
    stats = []
    for _, wfd, rf in workers:
        os.write(wfd, b"quit\n")
        stats.append([int(x) for x in rf.readline().split()])
    bad = 0
    for pid, _, _ in workers:
        _, status = os.waitpid(pid, 0)
        bad += status != 0
    t_end = time.monotonic_ns()
    lat.sort()
    print("RESULT", json.dumps({
        "products": a.products, "workers": a.workers, "requests": a.requests,
        "per_page": a.per_page, "cache": a.cache, "worker_hits_cached": stats,
        "request_p50_ns": lat[len(lat) // 2], "request_p99_ns": lat[int(len(lat) * 0.99)],
        "request_max_ns": lat[-1], "serve_ns": t_end - t_fork,
        "python": sys.version.split()[0], "failed_workers": bad}), flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

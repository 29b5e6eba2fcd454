"""Fault: PostgreSQL restarted while readers mark.

    python bench/faults/pg_restart.py [--readers 20]

Never the shared PostgreSQL: this creates its own cluster (initdb, as the postgres user) in
var/bench/pg on port 8175, a private redis-server on 8172, and deploy/serve.sh against both.
Readers mark over HTTP for 30 s, the cluster is restarted (`pg_ctl restart -m fast`: every
connection is cut), and they go on for 45 s. A reader whose mark gets a 503 (or no answer)
retries it with the same idempotency key, as the grid does.

Reports: the restart's duration, the errors readers saw and their kind (503 with Retry-After
is clean; 500 is not), the time from the restart to the first mark saved again, and the
database check of bench/load.py: every acknowledged mark present, none twice.
"""

import argparse
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import load  # noqa: E402

PORT = 8175
BIN = Path("/usr/lib/postgresql") / sorted(os.listdir("/usr/lib/postgresql"))[-1] / "bin"
CLUSTER = load.ROOT / "var" / "bench" / "pg"
BEFORE, AFTER = 30, 45


def as_postgres(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True, check=True
    )


def pg_ctl(action: str, *extra: str) -> None:
    as_postgres(
        str(BIN / "pg_ctl"), "-D", str(CLUSTER), "-w", "-l", str(CLUSTER / "server.log"),
        "-o", f"-p {PORT} -c listen_addresses=127.0.0.1 -k /tmp", action, *extra,
    )  # fmt: skip


def start_cluster() -> None:
    if not (CLUSTER / "PG_VERSION").exists():
        CLUSTER.mkdir(parents=True, exist_ok=True)
        subprocess.run(["chown", "postgres", str(CLUSTER)], check=True)
        as_postgres(str(BIN / "initdb"), "-D", str(CLUSTER), "-U", "postgres", "-A", "trust")
    if load.listening(PORT):
        raise SystemExit(f"port {PORT} is taken")
    pg_ctl("start")
    exists = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(PORT), "-U", "postgres", "-Atc",
         "SELECT 1 FROM pg_database WHERE datname = 'la_ops_pg'"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    if not exists:
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(PORT), "-U", "postgres", "-c",
             "CREATE DATABASE la_ops_pg"],
            check=True, capture_output=True,
        )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--readers", type=int, default=20)
    args = parser.parse_args()
    load.DATABASE_URL = f"postgres://postgres@127.0.0.1:{PORT}/la_ops_pg"
    start_cluster()
    redis = load.Redis().start()
    server = load.Server(load.ROOT / "var" / "bench" / "pg-restart-server.log")
    try:
        load.django_setup()
        prepared = load.prepare(args.readers)
        server.start()
        results: list = []
        box: list = []
        total = BEFORE + AFTER
        deadline = time.time() + total
        runner = threading.Thread(
            target=lambda: box.append(
                load.run_readers(prepared, args.readers, 10**6, deadline, results)
            )
        )
        t0 = time.time()
        runner.start()
        time.sleep(BEFORE)
        restart_at = time.time()
        pg_ctl("restart", "-m", "fast")
        restarted = time.time() - restart_at
        print(f"postgres restarted at +{restart_at - t0:.0f} s in {restarted:.1f} s", flush=True)
        runner.join()
        from django.db import connections

        connections.close_all()  # this process's connection died with the restart too
        readers, seconds = box[0]
        verdict = load.check(prepared, readers)
        marks = sorted((r for r in results if r.kind == "mark (PUT)"), key=lambda r: r.at)
        failures = [r for r in marks if r.status != 200]
        kinds = Counter(r.status for r in results if r.status != 200 and r.at >= restart_at)
        saved_again = next(
            (r.at for r in marks if r.status == 200 and r.at > restart_at + restarted), None
        )
        last_failure = max((r.at for r in failures), default=restart_at)
        print(f"postgres restart: {args.readers} readers, {seconds:.0f} s, {len(marks)} mark "
              f"requests, {len(failures)} answered with an error, statuses {dict(kinds)}")  # fmt: skip
        if saved_again:
            print(f"first mark saved {saved_again - restart_at:.1f} s after the restart began; "
                  f"last error {last_failure - restart_at:.1f} s after it")  # fmt: skip
        print("\n".join(load.summarise(results, seconds)))
        print("check:", verdict)
        unclean = kinds.get(500, 0)
        failed = verdict["lost"] or verdict["wrong verdict"] or verdict["duplicated keys"]
        print("unclean errors (HTTP 500):", unclean)
        return 1 if failed or unclean else 0
    finally:
        server.stop()
        redis.stop()
        pg_ctl("stop", "-m", "fast")


if __name__ == "__main__":
    sys.exit(main())

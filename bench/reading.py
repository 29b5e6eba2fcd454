"""Budgets of the reading room (issue 4), measured on the full NIH ChestX-ray14 label file.

    python bench/reading.py                    # SQLite file var/bench-reading.sqlite3
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/la_reading python bench/reading.py --load

Parts (--parts, default all but load unless --load):
  build  sample set for all 15 labels x 126 images from 112,120 images (budget < 0.5 s), beside
         the pure draw from the already fetched ids; --profile prints cProfile's top lines.
  grid   grid page server time (median, budget < 50 ms) and its query count (budget <= 12, and
         the same whatever the grid size or the number of marks).
  mark   a mark's server round trip through the htmx endpoint (median, budget < 25 ms), and
         its queries.
  load   gunicorn on 127.0.0.1 (PostgreSQL) and --readers concurrent readers posting marks for
         --seconds: repeated requests (same key) and conflicting changes (two threads as one
         reader on the same tiles). Budget >= 200 marks/s, then counted in the database: no
         lost and no duplicated mark.

The dataset is imported once per database (about 20 s) and reused by later runs.
"""

import argparse
import cProfile
import http.client
import io
import os
import pstats
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{ROOT / 'var' / 'bench-reading.sqlite3'}")
# The bench measures the server, not Django's debug bookkeeping.
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "bench-reading-not-a-secret-" + "x" * 30)
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")  # plain HTTP on loopback
os.environ.setdefault("SECURE_COOKIES", "0")
os.environ.setdefault("STATIC_ROOT", str(ROOT / "var" / "bench-static"))

import logging  # noqa: E402

import django  # noqa: E402

django.setup()
logging.getLogger("label_audit.request").setLevel(logging.WARNING)  # a line per request

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from annotation import sampling, services  # noqa: E402
from annotation.models import Audit, Mark, MarkChange  # noqa: E402
from datasets.models import Dataset, Label  # noqa: E402
from datasets.services import import_dataset  # noqa: E402

NIH_LABELS = (
    Path(os.environ.get("LABEL_AUDIT_SHARED_DATA", ROOT.parent / "shared" / "data"))
    / "Data_Entry_2017_v2020.csv.gz"
)
DATASET = "NIH bench (reading)"
PASSWORD = "bench-reading-password-42"
PORT = 8120


def median_ms(seconds: list[float]) -> float:
    return 1000 * statistics.median(seconds)


def setup() -> tuple[Dataset, list]:
    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # DEBUG off: the manifest
    dataset = Dataset.objects.filter(name=DATASET).first()
    if dataset is None:
        started = time.perf_counter()
        dataset = import_dataset(name=DATASET, fmt="chestxray14", labels=NIH_LABELS).dataset
        print(
            f"imported {dataset.images.count():,} images in {time.perf_counter() - started:.1f} s"
        )
    users = get_user_model().objects
    readers = []
    for n in range(1, 17):
        user = users.filter(username=f"bench{n:02d}").first()
        if user is None:
            user = users.create_user(f"bench{n:02d}", password=PASSWORD)
        readers.append(user)
    return dataset, readers


def fifteen_labels(dataset: Dataset) -> list[Label]:
    labels = list(dataset.labels.exclude(kind=Label.Kind.MERGED).order_by("name"))
    assert len(labels) == 15, [label.name for label in labels]
    return labels


# -- build ------------------------------------------------------------------------------------


def bench_build(dataset: Dataset, repeats: int, profile: bool) -> None:
    Audit.objects.filter(name__startswith="bench build").delete()
    labels = fifteen_labels(dataset)
    timings = []
    profiler = cProfile.Profile() if profile else None
    for n in range(repeats):
        audit = services.create_audit(
            dataset=dataset, name=f"bench build {n}", labels=labels, build=False
        )
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        with CaptureQueriesContext(connection) as queries:
            services.build_sample_set(audit=audit)
        if profiler:
            profiler.disable()
        timings.append(time.perf_counter() - started)
        assert audit.samples.count() == 15 * 126
    # The pure part: drawing from the rows already fetched (sort by key, walk, patient rule).
    audit = Audit.objects.get(name="bench build 0")
    rules = services.audit_rules(audit)
    carriers = services._carriers({label.pk for label in labels}, "")
    fetched = {label.name: carriers(label.pk) for label in labels}
    draws = []
    for _ in range(repeats):
        started = time.perf_counter()
        for name, rows in fetched.items():
            rows = sorted(rows)
            sampling.pick(rows, label=name, rules=rules, patient=services._patient)
        draws.append(time.perf_counter() - started)
    print(
        f"build   15 labels x 126 of {dataset.images.count():,} images: "
        f"median {median_ms(timings):.0f} ms (runs: {', '.join(f'{t * 1000:.0f}' for t in timings)}),"
        f" {len(queries)} queries; pure draw from fetched ids {median_ms(draws):.0f} ms"
        f"  [budget < 500 ms]"
    )
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(18)
        print(out.getvalue())
    Audit.objects.filter(name__startswith="bench build").delete()


# -- grid and mark (in process) ---------------------------------------------------------------


def reading_audit(dataset: Dataset, readers: list, name: str, grid_size: int = 18) -> Audit:
    Audit.objects.filter(name=name).delete()
    audit = services.create_audit(
        dataset=dataset,
        name=name,
        labels=fifteen_labels(dataset)[:2],
        per_label=126,
        grid_size=grid_size,
        readers=readers,
        build=False,
    )
    services.build_sample_set(audit=audit)
    return audit


def grid_url(audit: Audit, label_id: int, grid: int = 1) -> str:
    return f"/audits/{audit.pk}/labels/{label_id}/grids/{grid}/"


def time_get(client: Client, url: str, repeats: int) -> tuple[float, float, int]:
    """Median wall time (ms), mean CPU time of this process (ms) and query count of a GET."""
    client.get(url)  # warm caches (templates, connection)
    timings = []
    cpu = time.process_time()
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(url)
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
    cpu = 1000 * (time.process_time() - cpu) / repeats
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    return median_ms(timings), cpu, len(queries)


def mark_everything(audit: Audit, readers: list, label_id: int) -> None:
    """Every tile of the first grid marked by every reader, with tags and a note."""
    tags = list(audit.tags.values_list("pk", flat=True))
    rng = random.Random(1)
    for sample in audit.samples.filter(label_id=label_id, position__lt=audit.grid_size):
        for reader in readers:
            services.mark_set(
                sample=sample,
                reader=reader,
                idempotency_key=uuid.uuid4().hex,
                verdict=rng.choice(["green", "orange", "red"]),
                tags=rng.sample(tags, 2),
                note="bench",
            )


def bench_grid(dataset: Dataset, readers: list, repeats: int) -> None:
    rows = []
    for grid_size in (6, 18, 36):
        audit = reading_audit(dataset, readers, f"bench grid {grid_size}", grid_size)
        label_id = audit.samples.values_list("label_id", flat=True).first()
        client = Client()
        client.force_login(readers[0])
        empty = time_get(client, grid_url(audit, label_id), repeats)
        mark_everything(audit, readers, label_id)
        full = time_get(client, grid_url(audit, label_id), repeats)
        rows.append((grid_size, empty, full))
        if grid_size != 18:
            audit.delete()
    for grid_size, (empty_ms, empty_cpu, empty_q), (full_ms, full_cpu, full_q) in rows:
        print(
            f"grid    {grid_size:2d} tiles: no marks {empty_ms:5.1f} ms (CPU {empty_cpu:4.1f} ms)"
            f" {empty_q} queries; every tile marked by 16 readers {full_ms:5.1f} ms"
            f" (CPU {full_cpu:4.1f} ms) {full_q} queries"
            + ("  [budget < 50 ms, <= 12 queries]" if grid_size == 18 else "")
        )


def bench_mark(dataset: Dataset, readers: list, repeats: int) -> None:
    audit = Audit.objects.filter(name="bench grid 18").first() or reading_audit(
        dataset, readers, "bench grid 18"
    )
    samples = list(audit.samples.order_by("pk")[:36])
    client = Client()
    client.force_login(readers[1])
    verdicts = ["green", "orange", "red", ""]
    tags = list(audit.tags.values_list("pk", flat=True))

    def post(n: int, data: dict):
        sample = samples[n % len(samples)]
        body = {"idempotency_key": uuid.uuid4().hex, **data}
        return client.post(f"/samples/{sample.pk}/mark/", body, headers={"HX-Request": "true"})

    post(0, {"verdict": "green"})
    timings = []
    cpu = time.process_time()
    for n in range(repeats):
        started = time.perf_counter()
        response = post(n, {"verdict": verdicts[(n // len(samples)) % 4]})
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200, response.content
    cpu = 1000 * (time.process_time() - cpu) / repeats
    with CaptureQueriesContext(connection) as verdict_queries:
        post(
            1,
            {
                "verdict": "red"
                if Mark.objects.get(sample=samples[1], reader=readers[1]).verdict != "red"
                else "green"
            },
        )
    with CaptureQueriesContext(connection) as tag_queries:
        response = post(2, {"tags": tags[:2], "tags_sent": "1"})
    assert response.status_code == 200, response.content
    print(
        f"mark    server round trip (htmx tile, in process): median {median_ms(timings):.1f} ms"
        f" (CPU {cpu:.1f} ms) over {repeats}; {len(verdict_queries)} queries for a verdict, "
        f"{len(tag_queries)} for a tag change  [budget < 25 ms]"
    )


# -- load: gunicorn + 16 readers --------------------------------------------------------------


def session_cookie(user) -> str:
    from importlib import import_module

    from django.conf import settings

    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store["_auth_user_id"] = str(user.pk)
    store["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    store["_auth_user_hash"] = user.get_session_auth_hash()
    store.save()
    return store.session_key


def start_gunicorn(port: int, workers: int, threads: int) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "gunicorn", "config.wsgi",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--worker-class", "gthread", "--threads", str(threads),
        "--keep-alive", "30", "--log-level", "warning",
    ]  # fmt: skip
    env = {**os.environ, "CONN_MAX_AGE": "600"}
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    for _ in range(100):
        try:
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            probe.request("GET", "/accounts/login/")
            probe.getresponse().read()
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("gunicorn did not start")


class Sender:
    """One reader's browser: a kept-alive connection, a session and a CSRF token."""

    def __init__(self, port: int, user):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        secret = "b" * 32  # an unmasked CSRF secret is a valid token for cookie and header
        self.headers = {
            "Cookie": f"sessionid={session_cookie(user)}; csrftoken={secret}",
            "X-CSRFToken": secret,
            "HX-Request": "true",
            "Content-Type": "application/x-www-form-urlencoded",
        }

    def post(self, sample_id: int, verdict: str, key: str) -> int:
        body = urlencode({"verdict": verdict, "idempotency_key": key})
        self.connection.request("POST", f"/samples/{sample_id}/mark/", body, self.headers)
        response = self.connection.getresponse()
        response.read()
        return response.status


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pids(server: subprocess.Popen) -> dict[str, list[int]]:
    """gunicorn's master and workers, and the PostgreSQL backends serving this database."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == server.pid:
            children.append(int(stat.parent.name))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        )
        backends = [pid for (pid,) in cursor.fetchall()]
    return {"gunicorn": [server.pid, *children], "postgres": backends}


def bench_load(dataset, readers, seconds: float, port: int, workers: int, threads: int) -> None:
    if connection.vendor != "postgresql":
        print("load    skipped: run with DATABASE_URL=postgres://... (the budget is on PostgreSQL)")
        return
    audit = reading_audit(dataset, readers, "bench load")
    samples = list(audit.samples.order_by("pk").values_list("pk", flat=True))
    server = start_gunicorn(port, workers, threads)
    try:
        # A lone reader's round trip over HTTP first, with nothing else running.
        lone = Sender(port, readers[0])
        trips = []
        for n in range(100):
            started = time.perf_counter()
            assert (
                lone.post(samples[n % 36], ["green", "red"][n // 36 % 2], uuid.uuid4().hex) == 200
            )
            trips.append(time.perf_counter() - started)
        Mark.objects.filter(sample__audit=audit).delete()
        MarkChange.objects.filter(sample__audit=audit).delete()
        # 16 threads: readers 1-12 alone; readers 13 and 14 each in two threads at once, on
        # the same 18 tiles (conflicting changes from two tabs).
        who = [readers[n] for n in range(12)] + [readers[12], readers[12], readers[13], readers[13]]
        logs: list[list[tuple]] = [[] for _ in who]
        stop = time.monotonic() + seconds
        barrier = threading.Barrier(len(who) + 1)

        def run(index: int) -> None:
            rng = random.Random(index)
            user = who[index]
            sender = Sender(port, user)
            shared = index >= 12
            tiles = (
                samples[:18] if shared else samples[(index * 20) % 200 : (index * 20) % 200 + 20]
            )
            log = logs[index]
            barrier.wait()
            previous = None
            while time.monotonic() < stop:
                if previous and rng.random() < 0.1:
                    sample_id, verdict, key = previous  # a retry: the same change again
                else:
                    sample_id = rng.choice(tiles)
                    verdict = rng.choice(["green", "orange", "red", ""])
                    key = uuid.uuid4().hex
                started = time.perf_counter()
                try:
                    status = sender.post(sample_id, verdict, key)
                except (OSError, http.client.HTTPException):
                    status = 0
                    sender = Sender(port, user)
                log.append(
                    (user.pk, sample_id, verdict, key, status, time.perf_counter() - started)
                )
                previous = (sample_id, verdict, key)

        workers_ = [threading.Thread(target=run, args=(n,)) for n in range(len(who))]
        for thread in workers_:
            thread.start()
        barrier.wait()
        began = time.perf_counter()
        client_cpu = time.process_time()
        pids = server_pids(server)
        cpu_before = {pid: cpu_seconds(pid) for group in pids.values() for pid in group}
        time.sleep(max(0.0, seconds - 2))
        # Backends opened after the start (a worker's first request) are counted from zero.
        pids = server_pids(server)
        for thread in workers_:
            thread.join()
        elapsed = time.perf_counter() - began
        client_cpu = time.process_time() - client_cpu
        cpu = {
            name: sum(cpu_seconds(pid) - cpu_before.get(pid, 0.0) for pid in group)
            for name, group in pids.items()
        }
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    sent = [entry for log in logs for entry in log]
    ok = [entry for entry in sent if entry[4] == 200]
    failed = len(sent) - len(ok)
    verdict_of = {}
    for log in logs[:12]:  # single writers: the last acknowledged verdict must be in the db
        for user_id, sample_id, verdict, _key, status, _ in log:
            if status == 200:
                verdict_of[(sample_id, user_id)] = verdict
    stored = dict(
        ((sample_id, reader_id), verdict)
        for sample_id, reader_id, verdict in Mark.objects.filter(sample__audit=audit).values_list(
            "sample_id", "reader_id", "verdict"
        )
    )
    lost = sum(1 for pair, verdict in verdict_of.items() if stored.get(pair, "") != verdict)
    pairs = list(Mark.objects.filter(sample__audit=audit).values_list("sample_id", "reader_id"))
    duplicated = len(pairs) - len(set(pairs))
    keys = list(
        MarkChange.objects.filter(sample__audit=audit).values_list("reader_id", "idempotency_key")
    )
    applied_twice = len(keys) - len(set(keys))
    broken = broken_chains(audit)
    print(
        f"mark    round trip over HTTP to gunicorn, one reader alone: median {median_ms(trips):.1f} ms"
        "  [budget < 25 ms]"
    )
    print(
        f"load    {len(who)} readers x {seconds:.0f} s, gunicorn {workers} workers x {threads} threads:"
        f" {len(ok) / elapsed:.0f} marks/s ({len(ok):,} acknowledged, {failed} failed,"
        f" {sum(1 for log in logs for i, e in enumerate(log) if i and e[3] == log[i - 1][3]):,} repeats),"
        f" median {median_ms([e[5] for e in ok]):.1f} ms, p95"
        f" {1000 * sorted(e[5] for e in ok)[int(0.95 * len(ok))]:.1f} ms  [budget >= 200 marks/s]"
    )
    per_mark = {name: 1000 * value / max(1, len(sent)) for name, value in cpu.items()}
    server_ms = sum(per_mark.values())
    print(
        f"load    CPU per mark: gunicorn {per_mark['gunicorn']:.1f} ms + PostgreSQL"
        f" {per_mark['postgres']:.1f} ms = {server_ms:.1f} ms (load generator"
        f" {1000 * client_cpu / max(1, len(sent)):.1f} ms): 2 idle cores would serve about"
        f" {2000 / server_ms:.0f} marks/s; load average now {os.getloadavg()[0]:.1f}"
    )
    print(
        f"load    in the database: {lost} lost, {duplicated} duplicated marks, {applied_twice} keys"
        f" applied twice, {broken} broken history chains (of {len(set(pairs))} marks)"
    )
    audit.delete()


def broken_chains(audit: Audit) -> int:
    """History rows of each mark must chain from nothing to the current verdict."""
    current = dict(
        ((s, r), v)
        for s, r, v in Mark.objects.filter(sample__audit=audit).values_list(
            "sample_id", "reader_id", "verdict"
        )
    )
    state: dict[tuple[int, int], str] = {}
    broken = set()
    for s, r, old, new in (
        MarkChange.objects.filter(sample__audit=audit)
        .order_by("id")
        .values_list("sample_id", "reader_id", "old_verdict", "new_verdict")
    ):
        if state.get((s, r), "") != old:
            broken.add((s, r))
        state[(s, r)] = new
    broken |= {pair for pair, verdict in current.items() if state.get(pair, "") != verdict}
    return len(broken)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="")
    parser.add_argument("--load", action="store_true", help="also run the load part")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    parts = args.parts.split(",") if args.parts else ["build", "grid", "mark"]
    if args.load and "load" not in parts:
        parts.append("load")
    dataset, readers = setup()
    print(
        f"database {connection.vendor} {connection.settings_dict['NAME']}; "
        f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}"
    )
    if "build" in parts:
        bench_build(dataset, max(3, args.repeats // 6), args.profile)
    if "grid" in parts:
        bench_grid(dataset, readers, args.repeats)
    if "mark" in parts:
        bench_mark(dataset, readers, args.repeats * 4)
    if "load" in parts:
        bench_load(dataset, readers, args.seconds, args.port, args.workers, args.threads)


if __name__ == "__main__":
    main()

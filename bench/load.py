"""Load: 50 readers x 200 marks (repeats, two-tab conflicts) and grid loads against a real
gunicorn + Celery workers + beat (deploy/serve.sh, what `make serve` runs), while sample sets
build and the audit's follow-up work flows through the outbox.

    python bench/load.py [--readers 50] [--marks 200] [--deadline 600]

Uses PostgreSQL database la_ops (DATABASE_URL to change it) and starts its own redis-server
on port 8172, and the server on 127.0.0.1:8173 (the ops port range), so the shared Redis on
6379 is never touched. Bounded: every request has a timeout and the run a deadline.

Checks at the end, from the database: every acknowledged mark present with the verdict of the
reader's last acknowledged request (zero lost), one current mark per reader and tile, no
idempotency key recorded twice (zero duplicated), no server error. Prints p50/p95/p99 and
throughput per request kind.
"""

import argparse
import http.cookiejar
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from databases import ensure_database  # bench/databases.py

ROOT = Path(__file__).resolve().parent.parent
PYTHON = os.environ.get("PYTHON", sys.executable)
DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/la_ops")
REDIS_PORT = int(os.environ.get("BENCH_REDIS_PORT", 8172))
WEB_PORT = int(os.environ.get("BENCH_WEB_PORT", 8173))
BROKER_URL = f"redis://127.0.0.1:{REDIS_PORT}/0"
BASE = f"http://127.0.0.1:{WEB_PORT}"
PASSWORD = "bench-password-not-secret-42"
VERDICTS = ("green", "orange", "red")
RETRIES = 60  # 0.5 s apart: a client gives up on a mark after about 30 s


def server_env() -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=DATABASE_URL,
        CELERY_BROKER_URL=BROKER_URL,
        GUNICORN_BIND=f"127.0.0.1:{WEB_PORT}",
        PYTHON=PYTHON,
        LABEL_AUDIT_VAR=str(ROOT / "var" / "bench"),
        WEB_CONCURRENCY=env.get("WEB_CONCURRENCY", "2"),
        GUNICORN_THREADS=env.get("GUNICORN_THREADS", "8"),
        LOG_LEVEL="WARNING",
    )
    return env


def django_setup(env: dict | None = None) -> None:
    """This process reads and prepares the database through the ORM (same settings)."""
    os.environ.update(env or server_env())
    ensure_database(os.environ["DATABASE_URL"])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# -- processes --------------------------------------------------------------------------------


class Redis:
    """A private redis-server; with `folder`, append-only like production (docker-compose.yml),
    so queued messages survive a stop and start."""

    def __init__(self, port: int = REDIS_PORT, folder: Path | None = None):
        self.port, self.folder, self.process = port, folder, None

    def start(self) -> "Redis":
        if listening(self.port):
            raise SystemExit(f"port {self.port} is taken: is another bench running?")
        persist = ["--appendonly", "no"]
        if self.folder:
            self.folder.mkdir(parents=True, exist_ok=True)
            persist = ["--appendonly", "yes", "--dir", str(self.folder)]
        self.process = subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", *persist],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(lambda: listening(self.port), 10, "redis-server")
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


class Server:
    """deploy/serve.sh in its own process group: gunicorn, three workers, beat."""

    def __init__(self, log: Path):
        self.log, self.process = log, None

    def start(self) -> "Server":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            ["bash", str(ROOT / "deploy" / "serve.sh")],
            env=server_env(),
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(lambda: healthz().get("ok"), 120, "the server (healthz ok)")
        return self

    def stop(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process = None

    def pids(self, pattern: str) -> list[int]:
        """Pids of this server's processes whose command line contains `pattern`."""
        out = subprocess.run(
            ["ps", "-o", "pid=,pgid=,args=", "-ax"], capture_output=True, text=True
        ).stdout
        pgid = os.getpgid(self.process.pid)
        found = []
        for line in out.splitlines():
            pid, group, args = line.strip().split(None, 2)
            if int(group) == pgid and pattern in args:
                found.append(int(pid))
        return found


def wait_for(predicate, seconds: float, what: str, *, every: float = 0.25) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            if predicate():
                return time.monotonic() - started
        except Exception:
            pass
        time.sleep(every)
    raise SystemExit(f"timed out after {seconds} s waiting for {what}")


def healthz() -> dict:
    try:
        with urllib.request.urlopen(BASE + "/healthz", timeout=5) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        return json.loads(error.read())


# -- data -------------------------------------------------------------------------------------


def prepare(readers: int) -> dict:
    """The demo dataset and audit (seed_demo), `readers` bench readers with API tokens."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from annotation.models import Audit, Mark, MarkChange, Membership

    call_command("migrate", verbosity=0)
    if not Audit.objects.filter(name="Demo audit: every label").exists():
        with open(os.devnull, "w") as quiet:  # its progress bar and logins
            call_command("seed_demo", "--force", verbosity=0, stdout=quiet, stderr=quiet)
    audit = Audit.objects.get(name="Demo audit: every label")
    User = get_user_model()
    users = []
    for index in range(readers):
        user, created = User.objects.get_or_create(username=f"bench-reader-{index:02d}")
        if created:
            user.set_password(PASSWORD)
            user.save()
        Membership.objects.get_or_create(audit=audit, user=user, role=Membership.Role.READER)
        users.append((user, Token.objects.get_or_create(user=user)[0].key))
    # A clean slate for the bench readers: the checks count their marks.
    Mark.objects.filter(reader__username__startswith="bench-reader-").delete()
    MarkChange.objects.filter(reader__username__startswith="bench-reader-").delete()
    samples = list(audit.samples.values_list("pk", "label_id", "position"))
    return {"audit": audit, "users": users, "samples": samples}


def start_background_work(audit) -> list[int]:
    """Sample sets building (3 new audits) and the audit's aggregation, while readers mark."""
    from annotation.models import Audit
    from annotation.outbox import enqueue_after_commit
    from annotation.services import create_audit
    from config.celery import app

    built = []
    for index in range(3):
        new = create_audit(
            dataset=audit.dataset,
            name=f"bench build {uuid.uuid4().hex[:6]} #{index}",
            per_label=126,
        )
        built.append(new.pk)
    app.loader.import_default_modules()
    if "reports.tasks.aggregate_audit" in app.tasks:
        enqueue_after_commit(
            "reports.tasks.aggregate_audit", {"audit_id": audit.pk}, key=f"aggregate:{audit.pk}"
        )
    assert Audit.objects.filter(pk__in=built).count() == 3
    return built


# -- readers ----------------------------------------------------------------------------------


@dataclass
class Sample:
    kind: str
    status: int
    seconds: float
    at: float


@dataclass
class ReaderLog:
    expected: dict = field(default_factory=dict)  # sample -> verdict, or a set for 2-tab races
    keys: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    acked_at: dict = field(default_factory=dict)  # key -> when its first 200 came back
    resent: set = field(default_factory=set)  # keys sent again as duplicates
    history: dict = field(default_factory=dict)  # sample -> [(what, verdict, key, status)]


class Reader:
    def __init__(self, user, token, audit_id, samples, marks, seed, results, deadline):
        self.user, self.token, self.audit_id = user, token, audit_id
        self.samples, self.marks = samples, marks
        self.random = random.Random(seed)
        self.results, self.deadline = results, deadline
        self.log = ReaderLog()
        jar = http.cookiejar.CookieJar()
        self.browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        self.jar = jar

    def request(self, kind, method, path, body=None, headers=None, opener=None):
        data = None
        headers = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if opener is None:
            headers["Authorization"] = f"Token {self.token}"
        request = urllib.request.Request(BASE + path, data=data, method=method, headers=headers)
        started = time.perf_counter()
        try:
            with (opener.open if opener else urllib.request.urlopen)(
                request, timeout=30
            ) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, payload = error.code, error.read()
        except (urllib.error.URLError, OSError, TimeoutError) as error:
            status, payload = 0, str(error).encode()
        self.results.append(Sample(kind, status, time.perf_counter() - started, time.time()))
        return status, payload

    def login(self) -> None:
        self.request("login page", "GET", "/accounts/login/", opener=self.browser)
        csrf = next(cookie.value for cookie in self.jar if cookie.name == "csrftoken")
        form = urllib.parse.urlencode(
            {"username": self.user.username, "password": PASSWORD, "csrfmiddlewaretoken": csrf}
        ).encode()
        request = urllib.request.Request(
            BASE + "/accounts/login/", data=form, headers={"Referer": BASE + "/accounts/login/"}
        )
        self.browser.open(request, timeout=30).read()

    def grid(self) -> None:
        _, label, position = self.random.choice(self.samples)
        grid = position // 18 + 1  # 1-based in URLs
        self.request(
            "grid page (HTML)",
            "GET",
            f"/audits/{self.audit_id}/labels/{label}/grids/{grid}/",
            opener=self.browser,
        )

    def put(self, sample, verdict, key, what="mark"):
        status = self._put(sample, verdict, key)
        self.log.history.setdefault(sample, []).append((what, verdict, key[:6], status))
        return status

    def _put(self, sample, verdict, key):
        """As the grid's script does: a 503 (database restarting) or a dropped connection is
        retried with the same idempotency key, so a retry can never mark twice."""
        for _ in range(RETRIES):
            status, _ = self.request(
                "mark (PUT)",
                "PUT",
                f"/api/samples/{sample}/mark/",
                {"verdict": verdict, "idempotency_key": key},
            )
            if status not in (0, 502, 503) or time.time() > self.deadline:
                return status
            time.sleep(0.5)
        return status

    def run(self) -> None:
        for attempt in range(3):  # a loaded machine may time a login out: try again
            try:
                self.login()
                break
            except Exception as error:
                if attempt == 2:
                    self.log.errors.append(f"login: {error}")
                    return
        mine = self.random.sample(self.samples, k=min(len(self.samples), self.marks * 3 // 5))
        sent: list[tuple[int, str, str]] = []  # (sample, verdict, key) acknowledged
        done = 0
        while done < self.marks and time.time() < self.deadline:
            roll = self.random.random()
            if done % 18 == 0:
                self.grid()
            if sent and roll < 0.15:  # a retried request: same key, must change nothing
                sample, verdict, key = self.random.choice(sent)
                self.log.resent.add(key)
                status = self.put(sample, verdict, key, what="resend")
                done += 1
            elif sent and roll < 0.25:  # two tabs change one tile at once
                sample = self.random.choice(sent)[0]
                a, b = self.random.sample(VERDICTS, 2)
                keys = (uuid.uuid4().hex, uuid.uuid4().hex)
                statuses = [0, 0]

                def tab(i, verdict, key, sample=sample, statuses=statuses):
                    statuses[i] = self.put(sample, verdict, key, what="tab")

                tabs = [
                    threading.Thread(target=tab, args=(i, v, k))
                    for i, (v, k) in enumerate(zip((a, b), keys, strict=True))
                ]
                for thread in tabs:
                    thread.start()
                for thread in tabs:
                    thread.join()
                ok = {v for v, s in zip((a, b), statuses, strict=True) if s == 200}
                if ok:
                    self.log.expected[sample] = ok if len(ok) > 1 else ok.pop()
                    self.log.keys += [k for k, s in zip(keys, statuses, strict=True) if s == 200]
                done += 2
                status = 200 if all(s == 200 for s in statuses) else max(statuses)
            else:  # a first mark, or a change of mind
                if roll < 0.8 or not sent:
                    sample = mine[done % len(mine)][0]
                else:
                    sample = self.random.choice(sent)[0]
                verdict, key = self.random.choice(VERDICTS), uuid.uuid4().hex
                status = self.put(sample, verdict, key)
                if status == 200:
                    self.log.acked_at[key] = time.time()
                    sent.append((sample, verdict, key))
                    self.log.expected[sample] = verdict
                    self.log.keys.append(key)
                done += 1
            if status != 200:
                self.log.errors.append(f"HTTP {status}")


def check(prepared, readers: list[Reader]) -> dict:
    """Zero lost, zero duplicated, from the database."""
    from django.db.models import Count

    from annotation.models import Mark, MarkChange

    lost, wrong, duplicated, explained = 0, 0, 0, 0
    for reader in readers:
        marks = dict(Mark.objects.filter(reader=reader.user).values_list("sample_id", "verdict"))
        for sample, expected in reader.log.expected.items():
            if sample not in marks:
                lost += 1
                continue
            # The last change of the tile (two tabs racing: whichever committed last wins).
            last = (
                MarkChange.objects.filter(reader=reader.user, sample_id=sample)
                .order_by("-changed_at", "-id")
                .values_list("idempotency_key", "changed_at", "new_verdict")
                .first()
            )
            if isinstance(expected, set):
                right = marks[sample] in expected and last and last[2] == marks[sample]
            else:
                right = marks[sample] == expected
            if right:
                continue
            wrong += 1
            # Was the tile's verdict written by a duplicate of a request acknowledged earlier?
            # That was the mark service's gap until a request that changed nothing also spent
            # its key (found by this bench); counted apart, so a regression says what it is.
            acked = reader.log.acked_at.get(last[0], 1e18) if last else 1e18
            if last and last[0] in reader.log.resent and last[1].timestamp() > acked:
                explained += 1
                continue
            print(f"unexplained: {reader.user.username} tile {sample} expected {expected}, has "
                  f"{marks[sample]}; client {reader.log.history.get(sample)}")  # fmt: skip
    duplicated = (
        MarkChange.objects.filter(reader__username__startswith="bench-reader-")
        .values("reader", "idempotency_key")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    per_tile = (
        Mark.objects.filter(reader__username__startswith="bench-reader-")
        .values("reader", "sample")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    return {
        "marks expected": sum(len(r.log.expected) for r in readers),
        "lost": lost,
        "wrong verdict": wrong,
        "of which after a late duplicate of a no-op": explained,
        "duplicated keys": duplicated,
        "tiles with 2+ marks": per_tile,
    }


def reports_caught_up(audit, started: float) -> str:
    """The debounced aggregations run while readers mark; afterwards the last snapshot must
    cover the last mark (within the debounce window and a run)."""
    from datetime import UTC, datetime

    from django.db.models import Max

    from annotation.models import MarkChange
    from reports.models import Snapshot

    last = MarkChange.objects.filter(sample__audit=audit).aggregate(last=Max("id"))["last"]
    waited = wait_for(
        lambda: Snapshot.objects.filter(audit=audit, last_change_id__gte=last).exists(),
        120,
        "the reports to cover the last mark",
    )
    written = Snapshot.objects.filter(
        audit=audit, created_at__gte=datetime.fromtimestamp(started, UTC)
    ).count()
    return (
        f"aggregations meanwhile: {written} snapshots written; the last mark covered"
        f" {waited:.1f} s after the readers stopped"
    )


def percentile(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[q - 1]
        if len(values) > 1
        else (values or [0])[0]
    )


def summarise(results: list[Sample], seconds: float) -> list[str]:
    by_kind = defaultdict(list)
    for sample in results:
        by_kind[sample.kind].append(sample)
    lines = [
        f"{'request':<18} {'n':>6} {'5xx':>4} {'other':>5} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'req/s':>6}"
    ]
    for kind, items in sorted(by_kind.items()):
        times = [item.seconds * 1000 for item in items]
        errors = sum(item.status >= 500 or item.status == 0 for item in items)
        other = sum(item.status not in (200, 302) and 0 < item.status < 500 for item in items)
        lines.append(
            f"{kind:<18} {len(items):>6} {errors:>4} {other:>5} {percentile(times, 50):>7.0f} "
            f"{percentile(times, 95):>7.0f} {percentile(times, 99):>7.0f} {len(items) / seconds:>6.1f}"
        )
    return lines


def run_readers(prepared, readers_n, marks, deadline, results) -> tuple[list[Reader], float]:
    readers = [
        Reader(user, token, prepared["audit"].pk, prepared["samples"], marks, seed=index,
               results=results, deadline=deadline)
        for index, (user, token) in enumerate(prepared["users"][:readers_n])
    ]  # fmt: skip
    threads = [threading.Thread(target=reader.run) for reader in readers]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return readers, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--marks", type=int, default=200)
    parser.add_argument("--deadline", type=float, default=600, help="seconds, whole run")
    args = parser.parse_args()
    django_setup()
    redis = Redis().start()
    server = Server(ROOT / "var" / "bench" / "load-server.log")
    try:
        prepared = prepare(args.readers)
        server.start()
        built = start_background_work(prepared["audit"])
        results: list[Sample] = []
        started = time.time()
        deadline = started + args.deadline
        readers, seconds = run_readers(prepared, args.readers, args.marks, deadline, results)
        from annotation.models import Audit

        wait_for(
            lambda: not Audit.objects.filter(pk__in=built).exclude(status="ready").exists(),
            120,
            "the sample sets to build",
        )
        verdict = check(prepared, readers)
        aggregations = reports_caught_up(prepared["audit"], started)
        print(f"load: {args.readers} readers x {args.marks} marks, {seconds:.1f} s, "
              f"{len(results)} requests, {len(results) / seconds:.1f} req/s")  # fmt: skip
        print("\n".join(summarise(results, seconds)))
        print("sample sets built meanwhile:", len(built))
        print(aggregations)
        print("check:", json.dumps(verdict))
        errors = [error for r in readers for error in r.log.errors]
        print("reader errors:", len(errors), sorted(set(errors))[:5])
        failed = verdict["lost"] or verdict["wrong verdict"] or verdict["duplicated keys"]
        server_errors = sum(s.status >= 500 or s.status == 0 for s in results)
        return 1 if failed or server_errors else 0
    finally:
        server.stop()
        redis.stop()


if __name__ == "__main__":
    sys.exit(main())

"""Budget (issue 5): a report page of a 15 labels x 126 images x 10 readers audit renders in
under 100 ms from a snapshot.

    python bench/dashboard.py
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/la_reports python bench/dashboard.py

Builds the audit of bench/aggregate.py, aggregates once, then requests each report page
through Django's test client as a logged-in researcher (the whole stack: session, access
checks, staleness check, snapshot read, template), DEBUG off. Prints median and 95th
percentile per page over 40 requests, the first view of the snapshot (page body not yet
cached; the very first one also compiles the templates and opens the connection), and the
number of SQL queries.
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from bench.aggregate import build_audit, setup_django, teardown  # noqa: E402

ROUNDS = 40


def main():
    old = setup_django()
    try:
        from django.conf import settings
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext
        from django.urls import reverse

        from reports import aggregation

        settings.DEBUG = False
        audit, researcher = build_audit()
        snapshot = aggregation.aggregate(audit)
        client = Client()
        client.force_login(researcher)
        print(f"database: {connection.vendor}; snapshot {snapshot.pk}, "
              f"{snapshot.mark_count} marks, computed in {snapshot.duration_ms} ms")  # fmt: skip
        pages = {
            "labels (dashboard)": reverse("reports:dashboard", args=[audit.pk]),
            "labels sorted": reverse("reports:dashboard", args=[audit.pk]) + "?sort=-difference",
            "readers": reverse("reports:readers", args=[audit.pk]),
            "agreement": reverse("reports:agreement", args=[audit.pk]),
        }
        for name, url in pages.items():
            started = time.perf_counter()
            assert client.get(url).status_code == 200  # cold: first view of this snapshot
            cold = (time.perf_counter() - started) * 1000
            times = []
            for _ in range(ROUNDS):
                started = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
            with CaptureQueriesContext(connection) as queries:
                client.get(url)
            times.sort()
            p95 = times[int(len(times) * 0.95) - 1]
            print(f"{name:20s} median {statistics.median(times):6.1f} ms  p95 {p95:6.1f} ms  "
                  f"first view {cold:6.1f} ms  {len(queries)} queries  "
                  f"{len(response.content) / 1024:.0f} KiB  (budget 100 ms)")  # fmt: skip
    finally:
        teardown(old)


if __name__ == "__main__":
    main()

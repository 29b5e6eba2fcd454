"""Container healthchecks (docker-compose.yml): `python deploy/healthcheck.py web|worker|beat`.

Exit 0 when healthy. Kept out of the shell one-liners so each check can be read and tested.
- web: GET /healthz?check=database&check=disk on gunicorn itself, with a Host Django accepts
  and the forwarded scheme nginx would send (no HTTPS redirect). Workers being down is not the
  web server's fault, so it does not make web unhealthy.
- worker: the worker of this container answers a ping through the broker.
- beat: its schedule file was written recently (beat saves it every few minutes).
"""

import os
import sys
import time
import urllib.request
from pathlib import Path

BEAT_SCHEDULE = Path(os.environ.get("BEAT_SCHEDULE", "/var/lib/label-audit/beat/schedule"))
BEAT_MAX_AGE = 600


def web() -> bool:
    host = (os.environ.get("ALLOWED_HOSTS", "localhost").split(",") or ["localhost"])[0].strip()
    bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000").replace("0.0.0.0", "127.0.0.1")
    request = urllib.request.Request(
        f"http://{bind}/healthz?check=database&check=disk",
        headers={"Host": host.lstrip("."), "X-Forwarded-Proto": "https"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status == 200


def worker() -> bool:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from config.celery import app

    name = os.environ.get("CELERY_WORKER_NAME", "").replace("%h", os.uname().nodename)
    replies = app.control.ping(destination=[name] if name else None, timeout=5)
    return bool(replies)


def beat() -> bool:
    candidates = [BEAT_SCHEDULE, *BEAT_SCHEDULE.parent.glob(BEAT_SCHEDULE.name + "*")]
    ages = [time.time() - path.stat().st_mtime for path in candidates if path.exists()]
    return bool(ages) and min(ages) < BEAT_MAX_AGE


if __name__ == "__main__":
    checks = {"web": web, "worker": worker, "beat": beat}
    if len(sys.argv) != 2 or sys.argv[1] not in checks:
        sys.exit(f"usage: healthcheck.py {'|'.join(checks)}")
    try:
        healthy = checks[sys.argv[1]]()
    except Exception as error:  # unreachable, refused, timed out: unhealthy, say why
        print(f"{sys.argv[1]}: {type(error).__name__}: {error}", file=sys.stderr)
        healthy = False
    sys.exit(0 if healthy else 1)

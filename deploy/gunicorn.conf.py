"""gunicorn settings for the web service (docker-compose.yml and `make serve`).

Threads, not more processes: a request mostly waits on PostgreSQL (a mark is one short
transaction), so a few processes with several threads each serve many readers on 2 cores.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", min(4, multiprocessing.cpu_count() * 2)))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
worker_class = "gthread"
# A request never legitimately takes long: image renditions are cached, reports are built by
# workers. A stuck one is killed rather than holding a thread for ever.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 30
keepalive = 5
# Recycle processes now and then, so a slow leak never grows for weeks.
max_requests = 2000
max_requests_jitter = 200
# The app logs every request itself, in JSON and with its request id (config/logging_json.py).
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Only nginx talks to gunicorn (its own network in compose, loopback with `make serve`).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")
# Heartbeat files in memory, not on a possibly slow container layer.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

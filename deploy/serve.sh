#!/usr/bin/env bash
# `make serve`: the processes of docker-compose.yml on this machine, against a local PostgreSQL
# and Redis: gunicorn, one Celery worker per queue, and beat. Ctrl-C stops them all.
# Every variable of .env.example may be exported to change a default.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
BIN=$(dirname "$PY")
mkdir -p var

export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/label_audit}
export CELERY_BROKER_URL=${CELERY_BROKER_URL:-redis://127.0.0.1:6379/0}
export GUNICORN_BIND=${GUNICORN_BIND:-127.0.0.1:8000}
# Production settings, minus HTTPS: this serves plain HTTP on loopback.
export DEBUG=${DEBUG:-0} SECURE_SSL_REDIRECT=${SECURE_SSL_REDIRECT:-0}
export SECURE_COOKIES=${SECURE_COOKIES:-0} LOG_FORMAT=${LOG_FORMAT:-json}
export ALLOWED_HOSTS=${ALLOWED_HOSTS:-127.0.0.1,localhost}
if [ -z "${SECRET_KEY:-}" ]; then  # one per checkout, kept so sessions survive a restart
  [ -s var/serve-secret-key ] || "$PY" -c "import secrets; print(secrets.token_urlsafe(50))" > var/serve-secret-key
  SECRET_KEY=$(cat var/serve-secret-key)
  export SECRET_KEY
fi

# The database named in DATABASE_URL is created when missing.
"$PY" - <<'PY'
import os, dj_database_url, psycopg2
from psycopg2 import sql
db = dj_database_url.parse(os.environ["DATABASE_URL"])
if db["ENGINE"].endswith("postgresql"):
    args = dict(host=db["HOST"] or None, port=db["PORT"] or None, user=db["USER"] or None,
                password=db["PASSWORD"] or None)
    conn = psycopg2.connect(dbname="postgres", **args)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]])
        if not cur.fetchone():
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
            print(f"created database {db['NAME']}")
    conn.close()
PY
"$PY" manage.py migrate --no-input
"$PY" manage.py collectstatic --no-input -v 0

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait || true
}
trap stop INT TERM EXIT

"$BIN/gunicorn" --config deploy/gunicorn.conf.py config.wsgi & pids+=($!)
for queue in default imaging statistics; do
  "$BIN/celery" -A config worker -Q "$queue" -n "$queue@%h" \
    --concurrency "${WORKER_CONCURRENCY:-1}" -O fair --loglevel INFO & pids+=($!)
done
"$BIN/celery" -A config beat --schedule var/celerybeat-schedule --loglevel INFO & pids+=($!)
echo "serving on http://$GUNICORN_BIND (database $DATABASE_URL, broker $CELERY_BROKER_URL)" >&2
wait -n  # one process died: stop the others rather than run half a system

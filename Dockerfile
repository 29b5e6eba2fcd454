# The one image of web, migrate, the workers and beat (docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first: this layer is rebuilt only when pyproject.toml changes.
COPY pyproject.toml README.md ./
RUN pip install .

COPY . .

# Writable places of the app (named volumes take their owner from here on first use).
RUN useradd --system --uid 1000 --home-dir /app labelaudit \
    && mkdir -p /var/lib/label-audit/media /var/lib/label-audit/static /var/lib/label-audit/beat \
    && chown -R labelaudit /var/lib/label-audit
USER labelaudit

EXPOSE 8000
CMD ["gunicorn", "--config", "deploy/gunicorn.conf.py", "config.wsgi"]

"""PostgreSQL databases of the benches: created on a machine that has never run one, or fresh
for a run, and dropped after it. Through the server's `postgres` database, autocommit (CREATE
and DROP DATABASE cannot run in a transaction)."""

from contextlib import contextmanager


@contextmanager
def _server(url: str):
    import dj_database_url
    import psycopg2

    parsed = dj_database_url.parse(url)
    connection = psycopg2.connect(
        dbname="postgres", user=parsed["USER"], password=parsed["PASSWORD"] or None,
        host=parsed["HOST"], port=parsed["PORT"] or 5432,
    )  # fmt: skip
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            yield cursor, parsed["NAME"]
    finally:
        connection.close()


def ensure_database(url: str, *, fresh: bool = False) -> None:
    """Create the database of `url` if it is missing; with `fresh`, drop it first."""
    from psycopg2 import sql

    with _server(url) as (cursor, name):
        if fresh:
            cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(url: str) -> None:
    from psycopg2 import sql

    with _server(url) as (cursor, name):
        cursor.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )

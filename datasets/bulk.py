"""Fast bulk writes of imported images and image labels.

PostgreSQL loads with COPY (an ORM row-by-row or plain bulk_create path is 5-10x slower on the
112,120-row NIH file); SQLite with one executemany in the caller's transaction. A first import
copies straight into the tables, with image ids reserved up front so the image labels need no
read-back of the ids; a re-import goes through an upsert that rewrites only rows whose values
changed, so importing the same file twice changes nothing.

A large first import on PostgreSQL also drops the foreign keys of the two tables for the load
and adds them back after it (see `foreign_keys_suspended`); imports take turns
(`lock_for_import`), then ANALYZE the loaded tables (`refresh_statistics`).
"""

import contextlib
import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence

from django.db import connection

from .importers import ParsedImage

IMAGE_COLUMNS = (
    "dataset_id", "key", "path", "patient_id", "study", "view_position", "sex", "age", "width",
    "height", "pixel_spacing_x", "pixel_spacing_y", "metadata", "file_found", "unreadable_reason",
)  # fmt: skip
# Text columns are NOT NULL: COPY must read their empty cells as '' rather than NULL.
_TEXT_COLUMNS = ("key", "path", "patient_id", "study", "view_position", "sex", "unreadable_reason")
_UPDATABLE = ("path", "patient_id", "study", "view_position", "sex", "age", "width", "height",
              "pixel_spacing_x", "pixel_spacing_y", "metadata", "file_found")  # fmt: skip
LABEL_COLUMNS = ("image_id", "label_id", "value")


# A first import at least this large, into tables holding fewer rows than it brings, loads with
# the foreign keys suspended: re-checking them all once costs less than a check per row.
SUSPEND_FOREIGN_KEYS_FROM = 20_000


def image_row(dataset_id: int, image: ParsedImage, found: bool) -> tuple:
    return (
        dataset_id, image.key, image.path, image.patient_id, image.study, image.view_position,
        image.sex, image.age, image.width, image.height, image.pixel_spacing_x,
        image.pixel_spacing_y, json.dumps(image.metadata) if image.metadata else "{}", found, "",
    )  # fmt: skip


def write_images(rows: Sequence[tuple], *, fresh: bool, ids: Sequence[int] | None = None) -> None:
    """Write image rows; `ids` (fresh imports only): the id of each row, from reserve_ids."""
    columns = IMAGE_COLUMNS
    if ids is not None:
        rows = [(image_id, *row) for image_id, row in zip(ids, rows, strict=True)]
        columns = ("id", *IMAGE_COLUMNS)
    _write("datasets_image", columns, rows, conflict=("dataset_id", "key"),
           updatable=_UPDATABLE, fresh=fresh, text_columns=_TEXT_COLUMNS)  # fmt: skip


def lock_for_import() -> None:
    """Imports into one PostgreSQL database take turns: the first thing an import's transaction
    does, so a waiting import holds no other lock (two imports each holding what the other
    needs for its ALTERs would deadlock). Readers are not blocked by this lock."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("LOCK TABLE datasets_image IN SHARE ROW EXCLUSIVE MODE")


def reserve_ids(count: int) -> list[int]:
    """`count` consecutive unused ids for new images, taken in the import's transaction.

    PostgreSQL: one jump of the table's sequence (a nextval per row costs a second on the NIH
    file), made safe by the lock_for_import lock against other writers of the table, held
    until the import commits. SQLite: the ids after the highest
    ever used; the transaction holds SQLite's single write lock from its start (settings:
    transaction_mode IMMEDIATE), so nobody else can take them.
    """
    if count == 0:
        return []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("LOCK TABLE datasets_image IN SHARE ROW EXCLUSIVE MODE")
            cursor.execute(
                "SELECT setval(seq, nextval(seq) + %s - 1) FROM "
                "(SELECT pg_get_serial_sequence('datasets_image', 'id') AS seq) AS s",
                [count],
            )
            last = cursor.fetchone()[0]
            return list(range(last - count + 1, last + 1))
        cursor.execute(
            "SELECT MAX(n) FROM (SELECT MAX(id) AS n FROM datasets_image UNION ALL "
            "SELECT seq FROM sqlite_sequence WHERE name = 'datasets_image')"
        )
        first = (cursor.fetchone()[0] or 0) + 1
        return list(range(first, first + count))


@contextlib.contextmanager
def foreign_keys_suspended(rows: int, *, fresh: bool) -> Iterator[bool]:
    """On PostgreSQL, drop the foreign keys of datasets_image and datasets_imagelabel for a
    large first import and add them back (same names and definitions) when it is loaded.

    Each FK is otherwise checked per row (a deferred trigger: 250,000 index probes and row
    locks at commit for the NIH file); adding it back checks every row in one join. Only worth
    it when the load outweighs what the tables already hold (`rows` at least
    SUSPEND_FOREIGN_KEYS_FROM and more than the images already stored), since adding a key back
    re-checks the whole table. The price: the ALTERs lock the datasets tables against readers
    until the import commits (seconds). Inside the import's transaction, so a failed import
    rolls the drop back with everything else. Yields whether the keys were suspended.
    """
    if connection.vendor != "postgresql" or not fresh or rows < SUSPEND_FOREIGN_KEYS_FROM:
        yield False
        return
    with connection.cursor() as cursor:
        # Counting stops at `rows`: cheap however large the table.
        cursor.execute(
            "SELECT count(*) FROM (SELECT 1 FROM datasets_image LIMIT %s) AS held", [rows]
        )
        if cursor.fetchone()[0] >= rows:
            yield False
            return
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE contype = 'f' AND conrelid IN ('datasets_image'::regclass, "
            "'datasets_imagelabel'::regclass) ORDER BY conname"
        )
        keys = cursor.fetchall()
        # ALTER TABLE refuses a table with pending deferred checks (the dataset and label rows
        # this import just wrote): run them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table, name, _ in keys:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    yield True
    # Without statistics on the rows just loaded the planner checks each key with a nested
    # loop over both tables (minutes on the NIH file, seen in the PostgreSQL test run).
    refresh_statistics()
    with connection.cursor() as cursor:
        for table, name, definition in keys:
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


def write_image_labels(rows: Sequence[tuple], *, fresh: bool) -> None:
    _write("datasets_imagelabel", LABEL_COLUMNS, rows, conflict=("image_id", "label_id"),
           updatable=("value",), fresh=fresh, text_columns=())  # fmt: skip


def refresh_statistics() -> None:
    """Let PostgreSQL's planner see the rows just loaded, inside the import's transaction.

    Autovacuum only analyses committed rows, some time later; until then the planner believes
    the freshly loaded tables are nearly empty and picks nested-loop plans that take minutes on
    the 141,000 image labels of the NIH file (the first sample-set build after an import hung
    that way). ANALYZE samples the rows this transaction wrote, in well under a second.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # A 3,000-row sample (not 30,000) gives the row counts and enough of a picture for
            # the plans; autovacuum analyses fully once the import is committed.
            cursor.execute("SET LOCAL default_statistics_target = 10")
            cursor.execute("ANALYZE datasets_image, datasets_imagelabel")
            cursor.execute("SET LOCAL default_statistics_target TO DEFAULT")


def image_ids(dataset_id: int) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT key, id FROM datasets_image WHERE dataset_id = %s", [dataset_id])
        return dict(cursor.fetchall())


def _write(table, columns, rows, *, conflict, updatable, fresh, text_columns) -> None:
    if not rows:
        return
    if connection.vendor == "postgresql":
        if fresh:
            _copy(table, columns, rows, text_columns)
        else:
            _copy_upsert(table, columns, rows, conflict, updatable, text_columns)
    else:
        placeholders = ", ".join(["%s"] * len(columns))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"
        if not fresh:
            sql += " " + _on_conflict(table, conflict, updatable)
        with connection.cursor() as cursor:
            cursor.executemany(sql, rows)


def _on_conflict(table: str, conflict: Iterable[str], updatable: Sequence[str]) -> str:
    sets = ", ".join(f"{name} = excluded.{name}" for name in updatable)
    old = ", ".join(f"{table}.{name}" for name in updatable)
    new = ", ".join(f"excluded.{name}" for name in updatable)
    changed = (
        f"({old}) IS DISTINCT FROM ({new})"
        if len(updatable) > 1
        else f"{old} IS DISTINCT FROM {new}"
    )
    if connection.vendor == "sqlite":
        # SQLite compares row values with IS NOT (its IS DISTINCT FROM arrived only in 3.39).
        changed = " OR ".join(f"{table}.{name} IS NOT excluded.{name}" for name in updatable)
    return f"ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {sets} WHERE {changed}"


def _csv_buffer(rows: Iterable[tuple]) -> io.StringIO:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    # None -> unquoted empty cell, which COPY's CSV format reads as NULL.
    writer.writerows(rows)
    buffer.seek(0)
    return buffer


def _copy_sql(table: str, columns: Sequence[str], text_columns: Sequence[str]) -> str:
    options = "FORMAT csv"
    if text_columns:
        options += f", FORCE_NOT_NULL ({', '.join(text_columns)})"
    return f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH ({options})"


def _copy(table, columns, rows, text_columns) -> None:
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(_copy_sql(table, columns, text_columns), _csv_buffer(rows))


def _copy_upsert(table, columns, rows, conflict, updatable, text_columns) -> None:
    staging = f"staging_{table}"
    column_list = ", ".join(columns)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {staging}")
        cursor.execute(
            f"CREATE TEMP TABLE {staging} ON COMMIT DROP AS SELECT {column_list} FROM {table} WITH NO DATA"
        )
        cursor.cursor.copy_expert(_copy_sql(staging, columns, text_columns), _csv_buffer(rows))
        cursor.execute(
            f"INSERT INTO {table} ({column_list}) SELECT {column_list} FROM {staging} "
            + _on_conflict(table, conflict, updatable)
        )
        cursor.execute(f"DROP TABLE {staging}")

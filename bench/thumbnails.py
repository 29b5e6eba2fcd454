"""Thumbnail budgets (issue 3), every figure next to its baseline measured in the same run.

1. Creation of a 256 px tile from each format (8-bit PNG 1024 x 1024 as ChestX-ray14 ships,
   JPEG, and the real DICOM radiograph in its three transfer syntaxes): our pipeline
   (datasets.imaging: decode + window + resize + encode) against the fastest plain alternative
   (Pillow with draft/reduce, or pydicom + numpy) and the bare decode floor.
2. Serving a cached tile through Django under gunicorn (datasets.tile_middleware: session, one access query, ETag,
   FileResponse) against whitenoise serving the same file from the same gunicorn, rounds
   interleaved; plus the conditional (304) path.
3. The bytes of a grid of 18 tiles.

Usage: python bench/thumbnails.py [--runs 15] [--seconds 3] [--rounds 4] [--no-serving]
                                  [--database-url postgres://postgres@127.0.0.1:5432/la_imaging_bench]
Serving is measured on the embedded SQLite and on each --database-url (a database of that name
is created and dropped). Ports 8110-8119 (the imaging range).
"""

import argparse
import io
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from databases import drop_database, ensure_database  # bench/databases.py

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LABEL_AUDIT_SHARED_DATA", REPO.parent / "shared" / "data"))
if not SHARED.exists():
    SHARED = Path("/work/shared/data")
DICOMS = {
    "DICOM uncompressed": SHARED / "RG1_UNCI.dcm",
    "DICOM JPEG 2000 lossless": SHARED / "RG1_J2KR.dcm",
    "DICOM JPEG 2000 lossy": SHARED / "RG1_J2KI.dcm",
}
PORT = 8111
# gunicorn's advice for sync workers, (2 x cores) + 1: requests waiting on the database overlap
WORKERS = 2 * (os.cpu_count() or 1) + 1
WORK = Path(os.environ.get("LABEL_AUDIT_BENCH_WORK") or tempfile.mkdtemp(prefix="la-bench-thumbs-"))
os.environ["LABEL_AUDIT_BENCH_WORK"] = str(WORK)


def configure_django(database_url: str = "") -> None:
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ.pop("DATABASE_URL", None)
    os.environ.update(
        {
            "LABEL_AUDIT_VAR": str(WORK / "var"),
            "DATASET_ROOTS": str(WORK / "datasets"),
            "IMAGE_CACHE_ROOT": str(WORK / "cache"),
            "STATIC_ROOT": str(WORK / "static"),
            "DEBUG": "0",
            "SECRET_KEY": "bench-only-secret-key-bench-only-secret-key",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "SECURE_COOKIES": "0",
            "LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


def interleaved_ms(functions: list, runs: int) -> list[float]:
    """Median ms of each function, calls interleaved (a, b, c, a, b, c...) so that a busy moment
    of the shared machine falls on all of them alike; the ratios are what to read."""
    for function in functions:
        function()  # warm up: imports, codec initialisation
    times: list[list[float]] = [[] for _ in functions]
    for _ in range(runs):
        for index, function in enumerate(functions):
            start = time.perf_counter()
            function()
            times[index].append(time.perf_counter() - start)
    return [statistics.median(each) * 1000 for each in times]


# --- 1. creation ------------------------------------------------------------------------------


def sample_files() -> dict[str, Path]:
    """A 1024 x 1024 8-bit PNG and a JPEG made from the real radiograph (real X-ray content
    compresses like real X-rays), next to the three DICOM files."""
    from PIL import Image

    from datasets.imaging import decode, render

    radiograph = render(decode(DICOMS["DICOM uncompressed"]), long_side=None)
    square = radiograph.resize((1024, 1024), Image.Resampling.LANCZOS)
    files = {"PNG 8-bit 1024": WORK / "nih-like.png", "JPEG 1024 (q95)": WORK / "cxr.jpg"}
    square.save(files["PNG 8-bit 1024"], format="PNG")
    square.save(files["JPEG 1024 (q95)"], format="JPEG", quality=95)
    return {**files, **DICOMS}


def ours(path: Path, size: int = 256, fmt: str = "jpeg") -> bytes:
    from datasets.imaging import decode, encode, render

    return encode(render(decode(path, min_size=size), long_side=size), fmt, 85)


def to_jpeg(picture) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def alternative(name: str, path: Path) -> tuple[str, callable]:
    """The fastest plain way we know to the same tile, written without our pipeline."""
    import numpy as np
    import pydicom
    from PIL import Image
    from pydicom.encaps import generate_frames

    if name.startswith("PNG"):

        def png():
            with Image.open(path) as picture:
                picture = picture.reduce(2)  # integer box reduction first, then the exact size
                picture.thumbnail((256, 256), Image.Resampling.LANCZOS)
                return to_jpeg(picture)

        return "Pillow open + reduce(2) + thumbnail", png
    if name.startswith("JPEG"):

        def jpeg():
            with Image.open(path) as picture:
                picture.draft("L", (256, 256))
                picture.thumbnail((256, 256), Image.Resampling.LANCZOS)
                return to_jpeg(picture)

        return "Pillow draft + thumbnail", jpeg

    def window(values, ds):
        c, w = float(ds.WindowCenter), float(ds.WindowWidth)
        scaled = np.clip((values - (c - 0.5)) / (w - 1) + 0.5, 0, 1) * 255
        return 255 - scaled.astype(np.uint8)  # MONOCHROME1

    if "2000" in name:

        def j2k():
            ds = pydicom.dcmread(path)
            frame = next(generate_frames(ds.PixelData, number_of_frames=1))
            picture = Image.open(io.BytesIO(frame))
            picture.reduce = 1
            values = np.asarray(picture).astype(np.float32) / 2  # Pillow scales 15 -> 16 bits
            small = Image.fromarray(values, "F").resize((241, 256), Image.Resampling.BILINEAR)
            return to_jpeg(Image.fromarray(window(np.asarray(small), ds)))

        return "pydicom frame + Pillow J2K reduce=1 + numpy window", j2k

    def raw():
        ds = pydicom.dcmread(path)
        values = ds.pixel_array.astype(np.float32)
        small = Image.fromarray(values, "F").reduce(4).resize((241, 256), Image.Resampling.BILINEAR)
        return to_jpeg(Image.fromarray(window(np.asarray(small), ds)))

    return "pydicom pixel_array + Pillow reduce(4) + numpy window", raw


def floor(name: str, path: Path):
    import pydicom
    from PIL import Image

    if name.startswith(("PNG", "JPEG")):

        def decode_only():
            with Image.open(path) as picture:
                picture.load()

        return "Pillow full decode", decode_only
    return "pydicom pixel_array (full resolution)", lambda: pydicom.dcmread(path).pixel_array


def bench_creation(runs: int) -> list[str]:
    from PIL import Image

    lines = [
        "| input | ours (ms) | fastest alternative (ms) | ratio | bare decode floor (ms) |",
        "| --- | --- | --- | --- | --- |",
    ]
    notes = []
    files = sample_files()
    for name, path in files.items():
        heavy = "2000 lossless" in name or "uncompressed" in name
        n = max(3, runs // 3) if heavy else runs
        label, function = alternative(name, path)
        floor_label, floor_function = floor(name, path)
        our, alt, base = interleaved_ms([lambda path=path: ours(path), function, floor_function], n)
        lines.append(f"| {name} | {our:.1f} | {alt:.1f} | {our / alt:.2f} | {base:.1f} |")
        notes.append(f"- {name}: alternative = {label}; floor = {floor_label}")
    tile = Image.open(io.BytesIO(ours(files["PNG 8-bit 1024"])))

    def webp():
        buffer = io.BytesIO()
        tile.save(buffer, format="WEBP", quality=85, method=2)

    jpeg, webp_ms = interleaved_ms([lambda: to_jpeg(tile), webp], runs * 3)
    notes.append(
        f"- encoding one 256 px tile: JPEG q85 {jpeg:.2f} ms, WebP q85 method 2 {webp_ms:.2f} ms"
    )
    return lines + [""] + notes, files


def bench_grid_bytes(files) -> str:
    sizes = {name: len(ours(path)) for name, path in files.items()}
    worst = max(sizes.values())
    per = ", ".join(f"{name} {size / 1024:.1f} KB" for name, size in sizes.items())
    return (
        f"- one 256 px JPEG tile: {per}; a grid of 18 tiles at the largest: "
        f"{18 * worst / 1024:.0f} KB (budget 300 KB)"
    )


# --- 2. serving -----------------------------------------------------------------------------


def prepare_serving(files) -> tuple[str, str, str]:
    """A reader of an audit holding one image; its tile cached; the same file as a static file.
    Returns (django tile path, whitenoise path, session cookie)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from annotation.models import Audit, Membership, Sample
    from datasets.models import Dataset, Image, Label
    from datasets.renditions import TILE, ensure_rendition

    call_command("migrate", verbosity=0)
    root = WORK / "datasets"
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(files["PNG 8-bit 1024"], root / "00000001_000.png")
    dataset = Dataset.objects.create(
        name="bench", slug="bench", format="chestxray14", root=str(root)
    )
    image = Image.objects.create(dataset=dataset, key="00000001_000.png", path="00000001_000.png")
    label = Label.objects.create(dataset=dataset, name="Effusion")
    audit = Audit.objects.create(dataset=dataset, name="bench", status=Audit.Status.READY)
    Sample.objects.create(audit=audit, label=label, image=image, position=0)
    user = get_user_model().objects.create_user("reader", password="bench-password-123")
    Membership.objects.create(audit=audit, user=user, role="reader")
    cached = ensure_rendition(image, TILE)
    static = Path(settings.STATIC_ROOT) / "bench"
    static.mkdir(parents=True, exist_ok=True)
    shutil.copy(cached, static / "tile.jpg")
    client = Client()
    client.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    return (
        f"/images/{image.pk}/thumbnail/",
        f"/{settings.STATIC_URL.strip('/')}/bench/tile.jpg",
        cookie,
    )


def request_bytes(path: str, cookie: str = "", etag: str = "") -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{PORT}", "Connection: close"]
    if cookie:
        lines.append(f"Cookie: {cookie}")
    if etag:
        lines.append(f"If-None-Match: {etag}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def fetch(raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", PORT)) as connection:
        connection.sendall(raw)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def throughput(raw: bytes, expect: bytes, seconds: float, clients: int = 4) -> float:
    """Requests per second with `clients` threads, one connection per request (gunicorn sync)."""
    stop = time.perf_counter() + seconds
    counts = [0] * clients
    errors = []

    def work(index):
        while time.perf_counter() < stop:
            answer = fetch(raw)
            if not answer.startswith(expect):
                errors.append(answer[:80])
                return
            counts[index] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"unexpected answer: {errors[0]!r}")
    return sum(counts) / (time.perf_counter() - start)


def bench_serving(files, seconds: float, rounds: int):
    tile_path, static_path, cookie = prepare_serving(files)
    gunicorn = [
        sys.executable, "-m", "gunicorn", "config.wsgi:application",
        "--bind", f"127.0.0.1:{PORT}", "--workers", str(WORKERS), "--worker-class", "sync",
        "--log-level", "warning", "--chdir", str(REPO),
    ]  # fmt: skip
    server = subprocess.Popen(gunicorn, env=os.environ.copy(), cwd=REPO)
    try:
        for _ in range(100):
            try:
                fetch(request_bytes(static_path))
                break
            except OSError:
                time.sleep(0.1)
        django_raw = request_bytes(tile_path, cookie)
        first = fetch(django_raw)
        assert first.startswith(b"HTTP/1.1 200"), first[:200]
        etag = next(
            line.split(b":", 1)[1].strip().decode()
            for line in first.split(b"\r\n")
            if line.lower().startswith(b"etag:")
        )
        static_body = fetch(request_bytes(static_path)).split(b"\r\n\r\n", 1)[1]
        assert static_body == first.split(b"\r\n\r\n", 1)[1], (
            "whitenoise and Django serve different bytes"
        )
        cases = {
            "whitenoise, same file": (request_bytes(static_path), b"HTTP/1.1 200"),
            "Django tile (200)": (django_raw, b"HTTP/1.1 200"),
            "Django tile (304, If-None-Match)": (
                request_bytes(tile_path, cookie, etag),
                b"HTTP/1.1 304",
            ),
        }
        for raw, expect in cases.values():  # every worker has connected and imported its code
            for _ in range(10 * WORKERS):
                assert fetch(raw).startswith(expect)
        latency = {}
        for name, (raw, expect) in cases.items():  # one request at a time: the cost of each
            times = []
            for _ in range(100):
                start = time.perf_counter()
                answer = fetch(raw)
                times.append(time.perf_counter() - start)
                assert answer.startswith(expect), answer[:80]
            times.sort()
            latency[name] = (times[len(times) // 10] * 1000, statistics.median(times) * 1000)
        results = {name: [] for name in cases}
        for _ in range(rounds):  # interleaved, so a busy moment of the machine hits every case
            for name, (raw, expect) in cases.items():
                results[name].append(throughput(raw, expect, seconds))
    finally:
        server.terminate()
        server.wait(timeout=20)
    baseline = statistics.median(results["whitenoise, same file"])
    best_baseline = max(results["whitenoise, same file"])
    lines = [
        f"| served by (gunicorn, {WORKERS} sync workers, same run) | requests/s, median of rounds "
        "(vs whitenoise) | best round (vs whitenoise's best) | one request alone, p10 / p50 (ms) |",
        "| --- | --- | --- | --- |",
    ]
    for name, values in results.items():
        rate, best = statistics.median(values), max(values)
        fast, typical = latency[name]
        lines.append(
            f"| {name} | {rate:.0f} ({rate / baseline:.2f}x) | {best:.0f} ({best / best_baseline:.2f}x) "
            f"| {fast:.2f} / {typical:.2f} |"
        )
    lines.append("")
    lines.append(
        f"- {rounds} interleaved rounds of {seconds:g} s, 4 client threads, a new connection per "
        "request; 100 sequential requests for the latency"
    )
    return lines


def serving_only(options) -> None:
    """One database per process (Django settings are read once): run by main() per database."""
    url = options.database_url[0] if options.database_url else ""
    if url:
        ensure_database(url, fresh=True)
    try:
        configure_django(url)
        from django.db import connection

        files = {"PNG 8-bit 1024": WORK / "nih-like.png"}

        from datasets.imaging import decode, render

        render(decode(DICOMS["DICOM uncompressed"]), long_side=None).resize((1024, 1024)).save(
            files["PNG 8-bit 1024"]
        )
        engine = (
            "PostgreSQL (CONN_MAX_AGE 60, health checks on)"
            if url
            else "SQLite, the embedded default (connections kept 60 s)"
        )
        print(f"\nServing, database {engine}:\n")
        print("\n".join(bench_serving(files, options.seconds, options.rounds)))
        connection.close()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
        if url:
            drop_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--no-serving", action="store_true")
    parser.add_argument("--serving-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", action="append", default=[])
    options = parser.parse_args()
    if options.serving_only:
        serving_only(options)
        return
    configure_django()
    try:
        now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        print(f"## thumbnails ({now}, {os.cpu_count()} cores)\n")
        creation, files = bench_creation(options.runs)
        print("\n".join(creation))
        print(bench_grid_bytes(files))
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    if options.no_serving:
        return
    sys.stdout.flush()
    common = ["--seconds", str(options.seconds), "--rounds", str(options.rounds)]
    variants = [[], *(["--database-url", url] for url in options.database_url)]
    env = {
        k: v for k, v in os.environ.items() if k != "LABEL_AUDIT_BENCH_WORK"
    }  # a fresh folder each
    for extra in variants:
        command = [sys.executable, __file__, "--serving-only", *common, *extra]
        subprocess.run(command, check=True, env=env)


if __name__ == "__main__":
    main()

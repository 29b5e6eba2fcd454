"""Renditions of an image (grid tile, viewer, original), cached on disk under a key made from
the image, the size and the rendering parameters, so a change of any of them never serves a
stale picture.

Layout: IMAGE_CACHE_ROOT/<image id>/<digest>.<ext>; the digest is also the HTTP ETag, so a
conditional request is answered without touching the disk. Files are written to a temporary
name and renamed, so a reader never sees half a file and two workers rendering the same key at
once both succeed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from .imaging import PRESETS, Decoded, Unreadable, Window, decode, encode, preset_window, render
from .imaging import value_range as _value_range
from .models import Image
from .paths import PathRefused, allowed_root, resolve_inside

logger = logging.getLogger(__name__)

# Bump when the rendering itself changes (window maths, resampling, quality): every key changes.
RENDER_VERSION = 1
SIZES = {"tile": 256, "viewer": 1024, "original": None}
QUALITY = {"tile": 85, "viewer": 90}
CONTENT_TYPES = {"jpeg": "image/jpeg", "webp": "image/webp", "png": "image/png"}
EXTENSIONS = {"jpeg": "jpg", "webp": "webp", "png": "png"}
# Reasons that come from the environment (a missing mount, a permission) rather than the file:
# they are shown but not recorded, so the image is tried again once the cause is fixed.
TRANSIENT_REASONS = ("file not found", "cannot read the file", "the dataset has no image folder")


@dataclass(frozen=True)
class Spec:
    """What to render: a size name and either a preset or an explicit window."""

    size: str = "tile"
    preset: str = "default"
    window: Window | None = None

    def __post_init__(self) -> None:
        if self.size not in SIZES:
            raise ValueError(
                f"unknown rendition size {self.size!r}; choose from {', '.join(SIZES)}"
            )
        if self.preset not in PRESETS:
            raise ValueError(f"unknown window preset {self.preset!r}")

    @property
    def long_side(self) -> int | None:
        return SIZES[self.size]

    @property
    def fmt(self) -> str:
        # The original is for close reading: lossless.
        return "png" if self.size == "original" else settings.IMAGE_RENDITION_FORMAT

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.fmt]

    def params(self) -> str:
        if self.window is not None:
            w = self.window
            return f"w{w.center:.6g}/{w.width:.6g}/{w.function}"
        return f"p{self.preset}"


TILE = Spec("tile")
VIEWER = Spec("viewer")


def cache_root() -> Path:
    return Path(settings.IMAGE_CACHE_ROOT)


def digest(image_id: int, image_path: str, spec: Spec) -> str:
    """The cache key and ETag of a rendition; pure, no I/O (the 304 path uses only this)."""
    fmt = spec.fmt
    quality = QUALITY.get(spec.size, 0)
    raw = f"{RENDER_VERSION}|{image_id}|{image_path}|{spec.size}|{spec.params()}|{fmt}|{quality}"
    return hashlib.blake2b(raw.encode(), digest_size=12).hexdigest()


def relative_name(image_id: int, key: str, spec: Spec) -> str:
    return f"{image_id}/{key}.{EXTENSIONS[spec.fmt]}"


def source_path(image: Image) -> Path:
    """The image's file, resolved inside its dataset root (symlinks too). Raises Unreadable."""
    if not image.dataset.root:
        raise Unreadable("the dataset has no image folder")
    try:
        root = allowed_root(image.dataset.root)
        return resolve_inside(root, image.path)
    except PathRefused:
        # the message holds paths: log it for the operator, show a plain reason
        logger.warning("image %s: path refused", image.pk)
        raise Unreadable("path outside the dataset root") from None


# A few decoded images per process, so free window adjustment in the viewer re-renders from
# memory instead of decoding a 4 MB JPEG 2000 again on every drag.
_decoded_lru: OrderedDict[tuple, Decoded] = OrderedDict()
_decoded_lock = threading.Lock()
_DECODED_KEEP = 3


def decoded_for(image: Image, min_size: int | None) -> Decoded:
    source = source_path(image)
    try:
        stat = source.stat()
    except FileNotFoundError:
        raise Unreadable("file not found") from None
    except OSError as error:
        raise Unreadable(f"cannot read the file ({error.strerror})") from None
    key = (image.pk, str(source), stat.st_mtime_ns, stat.st_size, min_size)
    with _decoded_lock:
        if key in _decoded_lru:
            _decoded_lru.move_to_end(key)
            return _decoded_lru[key]
    decoded = decode(source, min_size=min_size, max_pixels=settings.IMAGE_MAX_PIXELS)
    with _decoded_lock:
        _decoded_lru[key] = decoded
        while len(_decoded_lru) > _DECODED_KEEP:
            _decoded_lru.popitem(last=False)
    return decoded


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _decode_size(specs: list[Spec]) -> int | None:
    sizes = [spec.long_side for spec in specs]
    return None if None in sizes else max(sizes)  # type: ignore[type-var]


def make_renditions(image: Image, specs: list[Spec], *, force: bool = False) -> list[Path]:
    """Render and cache every spec from one decode (at the smallest resolution that serves the
    largest). Existing files are kept unless force. Raises Unreadable (recording the reason
    unless it is transient)."""
    targets = [
        cache_root() / relative_name(image.pk, digest(image.pk, image.path, s), s) for s in specs
    ]
    todo = [(s, t) for s, t in zip(specs, targets, strict=True) if force or not t.exists()]
    if not todo:
        return targets
    try:
        decoded = decoded_for(image, _decode_size([s for s, _ in todo]))
        for spec, target in todo:
            picture = render(
                decoded, long_side=spec.long_side, window=spec.window, preset=spec.preset
            )
            _write_atomically(target, encode(picture, spec.fmt, QUALITY.get(spec.size, 0)))
        if any(s.size == "viewer" and s.window is None and s.preset == "default" for s, _ in todo):
            _write_info(image, decoded)
    except Unreadable as error:
        record_unreadable(image, str(error))
        raise
    except MemoryError:
        record_unreadable(image, "not enough memory to decode the image")
        raise Unreadable("not enough memory to decode the image") from None
    return targets


def ensure_rendition(image: Image, spec: Spec) -> Path:
    return make_renditions(image, [spec])[0]


def is_transient(reason: str) -> bool:
    return reason.startswith(TRANSIENT_REASONS)


def record_unreadable(image: Image, reason: str) -> None:
    """Store why the image cannot be shown, so nobody decodes it again (no endless retries)."""
    if is_transient(reason):
        return
    reason = reason[:500]
    Image.objects.filter(pk=image.pk).update(unreadable_reason=reason)
    image.unreadable_reason = reason
    logger.info("image %s unreadable: %s", image.pk, reason)


def clear_unreadable(images) -> int:
    """Forget recorded reasons (after the files were fixed), so they are tried again."""
    return images.exclude(unreadable_reason="").update(unreadable_reason="")


# --- viewer information ---------------------------------------------------------------------


def _info_path(image: Image) -> Path:
    key = hashlib.blake2b(f"{RENDER_VERSION}|{image.pk}|{image.path}|info".encode(), digest_size=12)
    return cache_root() / f"{image.pk}/{key.hexdigest()}.json"


def _write_info(image: Image, decoded: Decoded) -> dict:
    """Technical tags, the value range and the window of each preset: what the viewer needs."""
    windows = {}
    for name in PRESETS:
        window = preset_window(decoded, name)
        windows[name] = None if window is None else [window.center, window.width, window.function]
    low, high = _value_range(decoded)
    info = {
        "kind": decoded.kind,
        "width": decoded.size[0],
        "height": decoded.size[1],
        "bits": decoded.bits,
        "windowable": decoded.kind == "dicom" or decoded.bits > 8,
        "own_lut": decoded.voi_lut is not None,
        "inverted": decoded.invert,
        "range": [low, high],
        "presets": windows,
        "technical": decoded.technical,
    }
    _write_atomically(_info_path(image), json.dumps(info).encode())
    return info


def viewer_info(image: Image) -> dict:
    """The viewer's facts about an image, from the cache or by decoding it. Raises Unreadable."""
    path = _info_path(image)
    try:
        return json.loads(path.read_bytes())
    except (FileNotFoundError, ValueError):
        pass
    make_renditions(image, [VIEWER], force=False)
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:  # the viewer rendition existed already: decode for the facts
        return _write_info(image, decoded_for(image, SIZES["viewer"]))


# --- warming --------------------------------------------------------------------------------


@dataclass
class WarmResult:
    rendered: int = 0  # images whose renditions exist now
    unreadable: int = 0  # images recorded as unreadable (never tried again)
    retry: list[int] | None = None  # ids that failed for a transient cause


def warm_specs() -> list[Spec]:
    return [Spec(size) for size in settings.IMAGE_WARM_SIZES]


def warm(image_ids, *, specs: list[Spec] | None = None, progress=None) -> WarmResult:
    """Make the renditions of these images, each image decoded once. Images already known to be
    unreadable are skipped; progress(done, total) is called after each image."""
    specs = specs or warm_specs()
    images = Image.objects.select_related("dataset").filter(
        pk__in=list(image_ids), unreadable_reason=""
    )
    images = list(images)
    result = WarmResult(retry=[])
    for done, image in enumerate(images, start=1):
        try:
            make_renditions(image, specs)
            result.rendered += 1
        except Unreadable as error:
            if is_transient(str(error)):
                result.retry.append(image.pk)
            else:
                result.unreadable += 1
        except OSError:  # the cache disk (full, read-only): worth another try later
            logger.exception("image %s: rendition not written", image.pk)
            result.retry.append(image.pk)
        if progress:
            progress(done, len(images))
    return result


def tiles_ready(image_ids) -> int:
    """How many of these images have their tile cached (warming progress for a page)."""
    ready = 0
    for image_id, path in Image.objects.filter(pk__in=list(image_ids)).values_list("pk", "path"):
        target = cache_root() / relative_name(image_id, digest(image_id, path, TILE), TILE)
        ready += target.exists()
    return ready

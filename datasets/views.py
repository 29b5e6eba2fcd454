import math
import os
from html import escape
from textwrap import wrap

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotModified,
)
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_safe

from annotation.access import image_for, visible_datasets

from .imaging import PRESETS, Unreadable, Window
from .renditions import (
    SIZES,
    TILE,
    Spec,
    cache_root,
    digest,
    is_transient,
    make_renditions,
    relative_name,
    viewer_info,
)
from .services import summarise

SMALL_FILE = 64 * 1024


@login_required
def dataset_detail(request, slug):
    dataset = get_object_or_404(visible_datasets(request.user), slug=slug)
    return render(
        request, "datasets/detail.html", {"dataset": dataset, "summary": summarise(dataset)}
    )


@require_safe
@login_required
def thumbnail(request, image_id):
    """A grid tile: 256 px on the long side, cached. A reader with a plain session is answered
    before this view by datasets.tile_middleware; this serves every other case."""
    return serve_rendition(request, image_for(request.user, image_id), TILE)


@require_safe
@login_required
def rendition(request, image_id, size):
    """The viewer rendition (1024 px) or the original size, with a preset or a free window."""
    if size not in SIZES:
        raise Http404("No such rendition size")
    image = image_for(request.user, image_id)
    try:
        spec = spec_from_query(size, request.GET)
    except ValueError as error:
        return HttpResponseBadRequest(str(error), content_type="text/plain")
    return serve_rendition(request, image, spec)


@require_safe
@login_required
def viewer(request, image_id):
    """The viewer fragment for the grid's <dialog>; a full page when opened directly."""
    image = image_for(request.user, image_id)
    info, reason = None, image.unreadable_reason
    if not reason:
        try:
            info = viewer_info(image)
        except Unreadable as error:
            reason = str(error)
    presets = []
    if info and info["windowable"]:
        presets = [
            {"name": name, "center": w[0] if w else "", "width": w[1] if w else ""}
            for name, w in info["presets"].items()
        ]
    context = {
        "image": image,
        "info": info,
        "reason": reason,
        "presets": presets,
        "technical": sorted((info or {}).get("technical", {}).items()),
    }
    template = "datasets/viewer.html" if request.htmx else "datasets/viewer_page.html"
    return render(request, template, context)


def spec_from_query(size: str, query) -> Spec:
    """A Spec from ?preset=NAME or ?wc=CENTRE&ww=WIDTH (modality units). Raises ValueError."""
    preset = query.get("preset") or "default"
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    if "wc" not in query and "ww" not in query:
        return Spec(size, preset)
    try:
        # 4 significant digits: finer steps are invisible and would only multiply cache files
        center, width = (float(f"{float(query[name]):.4g}") for name in ("wc", "ww"))
    except (KeyError, ValueError):
        raise ValueError("wc and ww must both be numbers") from None
    if (
        not (math.isfinite(center) and math.isfinite(width))
        or abs(center) > 1e7
        or not 0 < width <= 1e7
    ):
        raise ValueError("wc must be finite and ww positive, both within 1e7")
    return Spec(size, "default", Window(center, width, "LINEAR_EXACT"))


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    return header.strip() == "*" or etag in (
        tag.strip().removeprefix("W/") for tag in header.split(",")
    )


def serve_rendition(request, image, spec: Spec) -> HttpResponse:
    """Answer from the cache: 304 on a matching ETag before any disk access, else stream the
    cached file (or let the front server do it), rendering it first if it is not there yet."""
    if image.unreadable_reason:
        return placeholder(image.unreadable_reason, spec)
    key = digest(image.pk, image.path, spec)
    etag = f'"{key}"'
    cache_control = f"private, max-age={settings.IMAGE_CACHE_MAX_AGE}"
    if _etag_matches(request.META.get("HTTP_IF_NONE_MATCH"), etag):
        return HttpResponseNotModified(headers={"ETag": etag, "Cache-Control": cache_control})
    relative = relative_name(image.pk, key, spec)
    path = cache_root() / relative
    try:
        response = _cached_response(path, relative, spec)
    except FileNotFoundError:
        try:
            make_renditions(image, [spec])
        except Unreadable as error:
            return placeholder(str(error), spec)
        response = _cached_response(path, relative, spec)
    response["ETag"] = etag
    response["Cache-Control"] = cache_control
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _cached_response(path, relative: str, spec: Spec) -> HttpResponse:
    prefix = settings.IMAGE_ACCEL_REDIRECT_PREFIX
    if prefix:
        if not path.exists():
            raise FileNotFoundError(path)
        response = HttpResponse(content_type=spec.content_type)
        response["X-Accel-Redirect"] = prefix.rstrip("/") + "/" + relative
        return response
    handle = open(path, "rb")  # noqa: SIM115  (FileResponse closes it)
    if os.fstat(handle.fileno()).st_size <= SMALL_FILE:
        with handle:  # a tile: one read beats setting up a file wrapper and sendfile
            content = handle.read()
        # Set here: tile_middleware answers before CommonMiddleware would add it.
        return HttpResponse(
            content, content_type=spec.content_type, headers={"Content-Length": len(content)}
        )
    return FileResponse(handle, content_type=spec.content_type)


def placeholder(reason: str, spec: Spec) -> HttpResponse:
    """An SVG tile saying "unreadable: reason" (escaped; no script can run in it)."""
    side = 256 if spec.size == "tile" else 1024
    font = side // 16
    lines = wrap(f"unreadable: {reason}", width=28)[:6]
    top = side / 2 - (len(lines) - 1) * font * 0.65
    text = "".join(
        f'<tspan x="50%" y="{top + i * font * 1.3:.0f}">{escape(line)}</tspan>'
        for i, line in enumerate(lines)
    )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{side}" height="{side}" '
        f'viewBox="0 0 {side} {side}" role="img"><title>{escape(f"unreadable: {reason}")}</title>'
        f'<rect width="100%" height="100%" fill="#2b2b2b"/>'
        f'<text fill="#f0b0a0" font-family="sans-serif" font-size="{font}" '
        f'text-anchor="middle">{text}</text></svg>'
    )
    response = HttpResponse(svg, content_type="image/svg+xml")
    # A transient cause (missing mount) may be fixed soon: do not let the browser keep it.
    response["Cache-Control"] = "private, no-store" if is_transient(reason) else "private, no-cache"
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response["X-Content-Type-Options"] = "nosniff"
    response["X-Unreadable"] = "1"
    return response

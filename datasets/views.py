from io import BytesIO

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from PIL import Image as PILImage

from annotation.access import image_for, visible_datasets

from .paths import PathRefused, resolve_inside
from .services import summarise

THUMBNAIL_SIZE = 256


@login_required
def dataset_detail(request, slug):
    dataset = get_object_or_404(visible_datasets(request.user), slug=slug)
    return render(
        request, "datasets/detail.html", {"dataset": dataset, "summary": summarise(dataset)}
    )


@login_required
def thumbnail(request, image_id):
    """A grid tile: the image scaled to 256 px on its long side, as JPEG."""
    image = image_for(request.user, image_id)
    if not image.dataset.root:
        raise Http404("The dataset has no image folder")
    try:
        source = resolve_inside(image.dataset.root, image.path)
        with PILImage.open(source) as picture:
            picture.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
            buffer = BytesIO()
            picture.convert("L").save(buffer, format="JPEG", quality=85)
    except (PathRefused, OSError):
        raise Http404("Image not readable") from None
    response = HttpResponse(buffer.getvalue(), content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=3600"
    return response

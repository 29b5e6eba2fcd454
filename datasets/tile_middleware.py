"""Grid tiles answered before most of the middleware stack, the way whitenoise answers static
files.

A grid page asks for 18 tiles at once, so the tile is the most requested URL of the app, and
its budget is half of whitenoise's throughput on the same file (bench/thumbnails.py). A reader
with a plain database session is recognised in two queries (annotation.access.image_for_request)
and the cached tile goes back without passing the session, CSRF, auth, messages, CSP and axes
middleware, none of which a JPEG needs. Request ids, the database-unavailable answer and the
security headers still apply: this sits after them in settings.MIDDLEWARE.

It only ever says yes. Any other case (no session or an expired one, no access, HEAD...) goes
down the whole stack to datasets.views.thumbnail, which decides as every view does.
"""

import re

from annotation.access import image_for_request

from .renditions import TILE
from .views import serve_rendition

# The route of datasets.urls "thumbnail"; a test checks that the two agree.
TILE_PATH = re.compile(r"^/images/(\d+)/thumbnail/$")


class TileMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "GET":
            match = TILE_PATH.match(request.path_info)
            if match:
                image = image_for_request(request, int(match[1]))
                if image is not None:
                    return serve_rendition(request, image, TILE)
        return self.get_response(request)

"""The REST API, one urlconf under /api/: every app's API routes, the OpenAPI schema and its
documentation pages (served offline from drf-spectacular-sidecar)."""

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

# Redoc styles itself with injected <style> elements and searches in a blob: worker; only its
# page gets that exception to the site's CSP.
redoc = csp_update({"style-src": [UNSAFE_INLINE], "worker-src": ["blob:"]})(
    SpectacularRedocView.as_view(url_name="api-schema", template_name="access/redoc.html")
)

urlpatterns = [
    path("reports/", include("reports.api_urls")),
    path("", include("annotation.api_urls")),
    path("", include("datasets.api_urls")),
    path("", include("annotation.access_api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api-schema", template_name="access/swagger_ui.html"
        ),
        name="api-docs",
    ),
    path("redoc/", redoc, name="api-redoc"),
]

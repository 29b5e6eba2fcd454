"""Sample-size planning in the API: how many images per label a target interval needs, and the
interval a given count achieves (Wilson score interval, 95%)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.response import Response

from .stats import sample_size_for_half_width, wilson_half_width

METHOD = "Wilson score interval, 95%"


def _number(request, name: str, low: float, high: float, *, integer: bool = False):
    text = request.query_params.get(name, "").strip()
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        raise ValueError(
            f"{name} must be a {'whole ' if integer else ''}number, not {text!r}"
        ) from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}, not {value:g}")
    return value


@extend_schema(
    parameters=[
        OpenApiParameter("accuracy", float, description="expected accuracy, 0-1 (default 0.5)"),
        OpenApiParameter("half_width", float, description="target half-width, 0-0.5"),
        OpenApiParameter("n", int, description="images per label"),
    ],
    responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
)
@api_view(["GET"])
def sample_size(request):
    """?accuracy=0.8&half_width=0.05 -> images_per_label; ?accuracy=0.8&n=126 -> half_width.

    accuracy: the expected accuracy (0-1, default 0.5, the worst case); half_width: the target
    half-width of the 95% interval (0-0.5, exclusive); n: a count of images per label."""
    try:
        accuracy = _number(request, "accuracy", 0, 1) if "accuracy" in request.query_params else 0.5
        if "n" in request.query_params:
            n = _number(request, "n", 1, 10_000_000, integer=True)
            return Response(
                {"accuracy": accuracy, "n": n, "half_width": wilson_half_width(n, accuracy),
                 "method": METHOD}
            )  # fmt: skip
        if "half_width" in request.query_params:
            half_width = _number(request, "half_width", 1e-4, 0.4999)
            return Response(
                {"accuracy": accuracy, "half_width": half_width,
                 "images_per_label": sample_size_for_half_width(half_width, accuracy),
                 "method": METHOD}
            )  # fmt: skip
    except ValueError as error:
        return Response({"detail": str(error)}, status=status.HTTP_400_BAD_REQUEST)
    return Response(
        {"detail": "give half_width (to get images_per_label) or n (to get half_width)"},
        status=status.HTTP_400_BAD_REQUEST,
    )

"""Render one image file the way the app shows it, to check a rendering by hand."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from datasets.imaging import PRESETS, Unreadable, Window, decode, encode, render


class Command(BaseCommand):
    help = "Render PATH (PNG, JPEG or DICOM) to FILE as the app would: window, inversion, size."

    def add_arguments(self, parser):
        parser.add_argument("path", help="the image file")
        parser.add_argument(
            "--size", type=int, default=256, help="long side in pixels; 0: original"
        )
        parser.add_argument("--out", required=True, help="output file (.jpg, .webp or .png)")
        parser.add_argument("--preset", choices=PRESETS, default="default")
        parser.add_argument("--window", nargs=2, type=float, metavar=("CENTRE", "WIDTH"),
                            help="an explicit window in modality units")  # fmt: skip

    def handle(self, *args, **options):
        out = Path(options["out"])
        fmt = {".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp", ".png": "png"}.get(
            out.suffix.lower()
        )
        if fmt is None:
            raise CommandError(f"{out}: the output must end in .jpg, .webp or .png")
        size = options["size"] or None
        if size is not None and size < 1:
            raise CommandError("--size must be positive (0 for the original size)")
        window = None
        if options["window"]:
            try:
                window = Window(options["window"][0], options["window"][1], "LINEAR_EXACT")
            except ValueError as error:
                raise CommandError(str(error)) from None
        try:
            decoded = decode(options["path"], min_size=size, max_pixels=settings.IMAGE_MAX_PIXELS)
            picture = render(decoded, long_side=size, window=window, preset=options["preset"])
        except Unreadable as error:
            raise CommandError(f"{options['path']}: unreadable: {error}") from None
        out.write_bytes(encode(picture, fmt, 90))
        self.stdout.write(
            f"{out}: {picture.width} x {picture.height} from a {decoded.size[0]} x {decoded.size[1]} "
            f"{decoded.bits}-bit {decoded.kind.upper()}"
        )

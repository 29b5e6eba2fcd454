"""Decoding and display rendering of radiographs: 8/16-bit PNG, JPEG and DICOM.

No Django import: a researcher can render an image from a notebook, and the tests need no
database. `decode()` turns a file into pixels at full bit depth (optionally at a reduced
resolution when the codec can do it cheaply); `render()` scales them and applies a display
window, giving an 8-bit grayscale PIL image where bright means dense (bone) and dark means air.

Anything that cannot be displayed raises `Unreadable` with a short reason meant for people
(it is shown on the tile and stored on the image): never a path, never a header value.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from PIL import ImageFile

# A radiograph is at most about 4300 x 4300 (a 43 cm detector at 0.1 mm); anything far larger is
# a decompression bomb or not a radiograph. Overridable by callers (settings.IMAGE_MAX_PIXELS).
DEFAULT_MAX_PIXELS = 64_000_000
ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is an error, never a half-grey tile

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
J2K_TRANSFER_SYNTAXES = {"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"}
# OpenJPEG (through Pillow) refuses reduction levels deeper than 1 on some Kakadu-made
# codestreams (the NEMA radiograph among them), and a failed attempt costs a third of a full
# decode; one level (half resolution) is always accepted and already cuts the decode by 4.
J2K_MAX_REDUCE = 1
# Only technical tags reach a page; identifiers (patient, accession, institution, dates) never.
TECHNICAL_TAGS = (
    "Modality",
    "PhotometricInterpretation",
    "BitsStored",
    "Rows",
    "Columns",
    "NumberOfFrames",
    "PixelSpacing",
    "ImagerPixelSpacing",
    "ViewPosition",
    "BodyPartExamined",
    "RescaleSlope",
    "RescaleIntercept",
    "WindowCenter",
    "WindowWidth",
    "VOILUTFunction",
)


class Unreadable(Exception):
    """The file cannot be displayed; str(error) is the reason shown to people."""


@dataclass(frozen=True)
class Window:
    """A display window in the image's modality units (after the modality LUT)."""

    center: float
    width: float
    function: str = "LINEAR"  # DICOM VOI LUT Function: LINEAR, LINEAR_EXACT or SIGMOID

    def __post_init__(self) -> None:
        if not (math.isfinite(self.center) and math.isfinite(self.width)) or self.width <= 0:
            raise ValueError(f"window needs a finite centre and a positive width: {self}")
        if self.function not in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
            raise ValueError(f"unknown VOI LUT function {self.function!r}")

    def to_uint8(self, values: np.ndarray) -> np.ndarray:
        """DICOM PS3.3 C.11.2.1.2 window, output 0..255."""
        c, w = self.center, self.width
        values = values.astype(np.float32, copy=False)
        if self.function == "SIGMOID":
            out = 255.0 / (1.0 + np.exp(-4.0 * (values - c) / w))
        elif self.function == "LINEAR_EXACT":
            out = (values - (c - w / 2)) / w * 255.0
        else:
            if w < 1:  # LINEAR requires width >= 1
                w = 1.0
            out = ((values - (c - 0.5)) / (w - 1) + 0.5) * 255.0
        return np.clip(out, 0, 255).astype(np.uint8)


@dataclass
class Decoded:
    """Pixels at full bit depth: mode "L" for plain 8-bit images (fast path, no window
    needed), else a float32 array of modality values."""

    kind: str  # "png", "jpeg" or "dicom"
    size: tuple[int, int]  # (width, height) of the original image
    image: PILImage.Image | None = None  # 8-bit grayscale, when that is all there is
    values: np.ndarray | None = None  # float32 modality values otherwise
    bits: int = 8
    invert: bool = False  # MONOCHROME1: high values are dark
    window: Window | None = None  # the file's own window (header or VOI LUT), when it has one
    voi_lut: np.ndarray | None = None  # the file's VOI LUT table, with its first mapped value
    voi_first: int = 0
    ct: bool = False  # values are Hounsfield units: the CT presets apply
    technical: dict[str, str] = field(default_factory=dict)

    @property
    def decoded_size(self) -> tuple[int, int]:
        if self.image is not None:
            return self.image.size
        assert self.values is not None
        return (self.values.shape[1], self.values.shape[0])


def sniff(head: bytes) -> str | None:
    """The format from the first 132 bytes, whatever the file's extension says."""
    if head.startswith(PNG_MAGIC):
        return "png"
    if head.startswith(JPEG_MAGIC):
        return "jpeg"
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    return None


def decode(path: str | Path, *, min_size: int | None = None, max_pixels: int | None = None):
    """Decode the first frame of `path`. With `min_size`, codecs that can decode at a reduced
    resolution cheaply (JPEG draft, JPEG 2000 levels) stop at the smallest resolution whose long
    side is still >= min_size. Raises Unreadable."""
    limit = max_pixels or DEFAULT_MAX_PIXELS
    try:
        with open(path, "rb") as handle:
            head = handle.read(132)
    except FileNotFoundError:
        raise Unreadable("file not found") from None
    except OSError as error:
        raise Unreadable(
            f"cannot read the file ({error.strerror or type(error).__name__})"
        ) from None
    kind = sniff(head)
    if kind is None:
        if not head:
            raise Unreadable("empty file")
        if Path(path).suffix.lower() in (".dcm", ".dicom"):
            raise Unreadable("not a DICOM file (no DICM prefix after the 128-byte preamble)")
        raise Unreadable("not a PNG, JPEG or DICOM file")
    if kind == "dicom":
        return _decode_dicom(path, min_size=min_size, limit=limit)
    return _decode_raster(path, kind, min_size=min_size, limit=limit)


def _check_pixels(width: int, height: int, limit: int) -> None:
    if width <= 0 or height <= 0:
        raise Unreadable("image has no pixels")
    if width * height > limit:
        raise Unreadable(
            f"image too large ({width} x {height} pixels, limit {limit:,}): refused as a "
            "possible decompression bomb"
        )


def _open_pillow(source, formats: list[str], limit: int) -> PILImage.Image:
    """Pillow restricted to the expected formats, with its bomb warning turned into an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", PILImage.DecompressionBombWarning)
        try:
            picture = PILImage.open(source, formats=formats)
        except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
            raise Unreadable("image too large: refused as a possible decompression bomb") from None
        except PILImage.UnidentifiedImageError:
            raise Unreadable(f"not a valid {'/'.join(formats)} file") from None
        except (OSError, SyntaxError, ValueError) as error:
            raise Unreadable(f"corrupt {'/'.join(formats)} header ({_short(error)})") from None
    _check_pixels(*picture.size, limit)
    return picture


def _load(picture: PILImage.Image, what: str) -> None:
    try:
        picture.load()
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        text = str(error)
        if "truncated" in text:
            raise Unreadable(f"truncated {what} file") from None
        raise Unreadable(f"corrupt {what} data ({_short(error)})") from None


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:120]


def _decode_raster(path, kind: str, *, min_size: int | None, limit: int) -> Decoded:
    fmt = "PNG" if kind == "png" else "JPEG"
    picture = _open_pillow(path, [fmt], limit)
    size = picture.size
    if kind == "jpeg" and min_size:
        # JPEG can decode at 1/2, 1/4, 1/8 scale; draft keeps the result >= the requested size.
        scale = max(size) / min_size
        if scale > 1:
            picture.draft("L", (math.ceil(size[0] / scale), math.ceil(size[1] / scale)))
    _load(picture, fmt)
    if picture.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(picture, dtype=np.float32)
        bits = 16
        return Decoded(
            kind=kind, size=size, values=values, bits=bits, technical=_raster_tags(size, bits)
        )
    if picture.mode != "L":
        picture = picture.convert("L")  # RGB or palette exports of a grayscale radiograph
    return Decoded(kind=kind, size=size, image=picture, technical=_raster_tags(size, 8))


def _raster_tags(size: tuple[int, int], bits: int) -> dict[str, str]:
    return {"Columns": str(size[0]), "Rows": str(size[1]), "BitsStored": str(bits)}


def _decode_dicom(path, *, min_size: int | None, limit: int) -> Decoded:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError as error:
        raise Unreadable(f"not a valid DICOM file ({_short(error)})") from None
    except (EOFError, OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise Unreadable(f"corrupt or truncated DICOM file ({_short(error)})") from None
    if "PixelData" not in ds:
        raise Unreadable("DICOM file has no pixel data")
    try:
        rows, columns = int(ds.Rows), int(ds.Columns)
        frames = int(ds.get("NumberOfFrames") or 1)
        samples = int(ds.get("SamplesPerPixel") or 1)
    except (AttributeError, TypeError, ValueError):
        raise Unreadable("DICOM file lacks a valid Rows/Columns") from None
    _check_pixels(columns, rows, limit)
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if syntax is None:
        raise Unreadable("DICOM file has no transfer syntax")
    photometric = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    if samples != 1 or photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise Unreadable(
            f"not a grayscale radiograph (photometric interpretation {photometric or 'missing'})"
        )

    pixels, reduced = None, 0
    if str(syntax) in J2K_TRANSFER_SYNTAXES and min_size:
        pixels, reduced = _decode_j2k_reduced(ds, frames, (columns, rows), min_size)
    if pixels is None:
        pixels = _decode_dicom_pixels(ds, syntax)
    if pixels.ndim != 2:
        raise Unreadable(f"unexpected pixel array shape {pixels.shape}")

    from pydicom.pixels import apply_modality_lut

    try:
        values = np.asarray(apply_modality_lut(pixels, ds), dtype=np.float32)
    except (ValueError, TypeError, AttributeError, IndexError) as error:
        raise Unreadable(f"invalid modality LUT ({_short(error)})") from None

    decoded = Decoded(
        kind="dicom",
        size=(columns, rows),
        values=values,
        bits=int(ds.get("BitsStored") or ds.get("BitsAllocated") or 16),
        invert=photometric == "MONOCHROME1",
        ct=str(ds.get("Modality", "")).upper() == "CT"
        or str(ds.get("RescaleType", "")).upper() == "HU",
        technical=_technical_tags(ds, syntax),
    )
    _dicom_window(ds, decoded)
    return decoded


def _decode_dicom_pixels(ds, syntax) -> np.ndarray:
    from pydicom.pixels import pixel_array

    try:
        # index=0: only the first frame of a multi-frame file is decoded
        return pixel_array(ds, index=0, raw=False)
    except NotImplementedError:
        raise Unreadable(
            f"unsupported DICOM transfer syntax {syntax} ({_syntax_name(syntax)})"
        ) from None
    except RuntimeError as error:
        text = str(error)
        if (
            "transfer syntax" in text.lower()
            or "plugin" in text.lower()
            or "no pixel data decoders" in text.lower()
        ):
            raise Unreadable(
                f"unsupported DICOM transfer syntax {syntax} ({_syntax_name(syntax)})"
            ) from None
        raise Unreadable(f"corrupt DICOM pixel data ({_short(error)})") from None
    except (
        ValueError,
        EOFError,
        OSError,
        KeyError,
        AttributeError,
        TypeError,
        IndexError,
    ) as error:
        text = str(error).lower()
        if any(word in text for word in ("truncat", "not enough", "less than expected")):
            raise Unreadable("truncated DICOM pixel data") from None
        raise Unreadable(f"corrupt DICOM pixel data ({_short(error)})") from None


def _syntax_name(syntax) -> str:
    name = getattr(syntax, "name", "") or ""
    return name if name and name != str(syntax) else "unknown"


def _decode_j2k_reduced(ds, frames: int, size: tuple[int, int], min_size: int):
    """First frame of a JPEG 2000 DICOM decoded by Pillow at a reduced resolution level.
    Returns (pixels, level) or (None, 0) to let pydicom decode it at full resolution."""
    level = 0
    while level < J2K_MAX_REDUCE and max(size) / 2 ** (level + 1) >= min_size:
        level += 1
    if level == 0:
        return None, 0
    from pydicom.encaps import generate_frames

    try:
        codestream = next(generate_frames(ds.PixelData, number_of_frames=frames))
    except (StopIteration, ValueError, KeyError, TypeError):
        return None, 0
    precision, signed = _j2k_precision(codestream)
    if precision is None or signed or precision > 16:
        return None, 0
    try:
        picture = PILImage.open(BytesIO(codestream), formats=["JPEG2000"])
        picture.reduce = level
        picture.load()
    except (OSError, SyntaxError, ValueError):
        return None, 0
    pixels = np.asarray(picture)
    if picture.mode.startswith("I;16") and precision < 16:
        # Pillow scales the samples up to 16 bits; back to the stored precision
        pixels = pixels >> (16 - precision)
    return pixels.astype(np.uint16 if precision > 8 else np.uint8, copy=False), level


def _j2k_precision(codestream: bytes) -> tuple[int | None, bool]:
    """Bit precision and signedness of component 0, from the SIZ marker segment."""
    at = codestream.find(b"\xff\x51", 0, 256)
    if at < 0 or len(codestream) < at + 41:
        return None, False
    ssiz = codestream[at + 40]
    return (ssiz & 0x7F) + 1, bool(ssiz & 0x80)


def _dicom_window(ds, decoded: Decoded) -> None:
    """The file's own display: a VOI LUT sequence, else the first window centre/width."""
    voi = ds.get("VOILUTSequence")
    if voi:
        try:
            item = voi[0]
            descriptor = [int(v) for v in item.LUTDescriptor]
        except (AttributeError, IndexError, TypeError, ValueError):
            descriptor = None
        if descriptor:
            try:
                from pydicom.pixels import apply_voi_lut

                # Build the table once over every possible input value; render() looks it up.
                first = descriptor[1]
                count = descriptor[0] or 65536
                inputs = np.arange(first, first + count, dtype=np.int64)
                table = np.asarray(
                    apply_voi_lut(inputs.astype(np.float64), ds, index=0, prefer_lut=True)
                )
                low, high = float(table.min()), float(table.max())
                scale = 255.0 / (high - low) if high > low else 0.0
                decoded.voi_lut = np.clip((table - low) * scale, 0, 255).astype(np.uint8)
                decoded.voi_first = first
                return
            except (ValueError, TypeError, AttributeError, IndexError, KeyError):
                pass  # fall through to the window or the percentile fallback
    centers, widths = ds.get("WindowCenter"), ds.get("WindowWidth")
    if centers is None or widths is None:
        return
    center = centers[0] if _is_sequence(centers) else centers
    width = widths[0] if _is_sequence(widths) else widths
    function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").strip().upper()
    try:
        decoded.window = Window(float(center), float(width), function)
    except (TypeError, ValueError):
        decoded.window = None  # a malformed header window: the percentile fallback applies


def _is_sequence(value) -> bool:
    return isinstance(value, list | tuple) or type(value).__name__ == "MultiValue"


def _technical_tags(ds, syntax) -> dict[str, str]:
    tags = {"TransferSyntax": _syntax_name(syntax)}
    for keyword in TECHNICAL_TAGS:
        value = ds.get(keyword)
        if value is None or value == "":
            continue
        text = "\\".join(str(v) for v in value) if _is_sequence(value) else str(value)
        tags[keyword] = text[:64]
    return tags


# --- windows --------------------------------------------------------------------------------

PRESETS = ("default", "lung", "mediastinum", "bone")
# CT in Hounsfield units: the usual (centre, width) of each preset.
CT_PRESETS = {"lung": (-600.0, 1500.0), "mediastinum": (50.0, 350.0), "bone": (400.0, 1800.0)}
# A projection radiograph has no absolute units, so its presets are drawn from the image's own
# histogram, in display order (0 = darkest, 100 = brightest after MONOCHROME1 inversion):
# lung spreads the dark (aerated) range, mediastinum the dense soft tissue, bone the densest.
RADIOGRAPH_PRESETS = {"lung": (1.0, 60.0), "mediastinum": (35.0, 99.5), "bone": (55.0, 99.95)}
PERCENTILE_WINDOW = (0.5, 99.5)


def _sample(values: np.ndarray, target: int = 262_144) -> np.ndarray:
    step = max(1, int(math.sqrt(values.size / target)))
    return values[::step, ::step]


def _percentile_window(values: np.ndarray, low: float, high: float) -> Window:
    lo, hi = np.percentile(_sample(values), [low, high])
    lo, hi = float(lo), float(hi)
    if hi <= lo:
        hi = lo + 1.0
    return Window(center=(lo + hi) / 2, width=hi - lo, function="LINEAR_EXACT")


def preset_window(decoded: Decoded, preset: str) -> Window | None:
    """The window of a named preset, in modality units; None for the file's own LUT."""
    if preset not in PRESETS:
        raise ValueError(f"unknown window preset {preset!r}; choose from {', '.join(PRESETS)}")
    if preset == "default":
        if decoded.voi_lut is not None:
            return None
        if decoded.window is not None:
            return decoded.window
        if decoded.values is None:
            return None  # plain 8-bit: shown as stored
        return _percentile_window(decoded.values, *PERCENTILE_WINDOW)
    if decoded.ct:
        return Window(*CT_PRESETS[preset])
    values = decoded.values if decoded.values is not None else np.asarray(decoded.image, np.float32)
    low, high = RADIOGRAPH_PRESETS[preset]
    if decoded.invert:  # display order runs against the stored values
        low, high = 100.0 - high, 100.0 - low
    return _percentile_window(values, low, high)


def value_range(decoded: Decoded) -> tuple[float, float]:
    """The 0.1-99.9 percentile range of the values: the span free adjustment moves over."""
    values = decoded.values if decoded.values is not None else np.asarray(decoded.image, np.float32)
    lo, hi = np.percentile(_sample(values), [0.1, 99.9])
    return float(lo), float(max(hi, lo + 1.0))


# --- rendering ------------------------------------------------------------------------------


def fit(size: tuple[int, int], long_side: int | None) -> tuple[int, int]:
    """(width, height) scaled so the long side is at most long_side, aspect ratio kept."""
    width, height = size
    if not long_side or max(width, height) <= long_side:
        return width, height
    scale = long_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def render(decoded: Decoded, *, long_side: int | None, window: Window | None = None,
           preset: str = "default") -> PILImage.Image:  # fmt: skip
    """An 8-bit grayscale image, long side <= long_side (None: the original size), with the
    given window (else the preset's); air dark, bone bright."""
    target = fit(decoded.size, long_side)
    if decoded.image is not None:  # 8-bit: resize in 8 bits, window through a 256-entry table
        picture = decoded.image
        if picture.size != target:
            picture = picture.resize(target, PILImage.Resampling.LANCZOS, reducing_gap=2.0)
        chosen = window or (preset_window(decoded, preset) if preset != "default" else None)
        if chosen is not None:
            table = chosen.to_uint8(np.arange(256, dtype=np.float32))
            picture = picture.point(table.tolist())
        return picture
    assert decoded.values is not None
    chosen = window or preset_window(decoded, preset)
    values = decoded.values
    if (values.shape[1], values.shape[0]) != target:
        # Scale at full bit depth (32-bit float), window afterwards.
        floating = PILImage.fromarray(values, mode="F")
        floating = floating.resize(target, PILImage.Resampling.LANCZOS, reducing_gap=2.0)
        values = np.asarray(floating)
    if chosen is None:  # the file's VOI LUT table
        assert decoded.voi_lut is not None
        index = np.clip(np.rint(values) - decoded.voi_first, 0, len(decoded.voi_lut) - 1)
        pixels = decoded.voi_lut[index.astype(np.int64)]
    else:
        pixels = chosen.to_uint8(values)
    if decoded.invert:
        pixels = 255 - pixels
    return PILImage.fromarray(pixels, mode="L")


def encode(picture: PILImage.Image, fmt: str, quality: int) -> bytes:
    """JPEG, WebP or PNG bytes of an 8-bit grayscale image."""
    buffer = BytesIO()
    if fmt == "jpeg":
        picture.save(buffer, format="JPEG", quality=quality, optimize=False)
    elif fmt == "webp":
        picture.save(buffer, format="WEBP", quality=quality, method=2)
    elif fmt == "png":
        picture.save(buffer, format="PNG", compress_level=3)
    else:
        raise ValueError(f"unknown rendition format {fmt!r}")
    return buffer.getvalue()

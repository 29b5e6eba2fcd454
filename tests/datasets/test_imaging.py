"""Decoding and rendering (datasets/imaging.py): every format, the DICOM display pipeline checked
against pydicom's own functions, and every kind of bad input. No database."""

import struct
import zlib
from io import BytesIO

import numpy as np
import pydicom
import pytest
from PIL import Image as PILImage
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut, apply_voi_lut, apply_windowing

from datasets.imaging import (
    Unreadable,
    Window,
    decode,
    fit,
    preset_window,
    render,
)
from tests.conftest import SHARED_DATA

RADIOGRAPHS = {
    "uncompressed": SHARED_DATA / "RG1_UNCI.dcm",
    "j2k-lossless": SHARED_DATA / "RG1_J2KR.dcm",
    "j2k-lossy": SHARED_DATA / "RG1_J2KI.dcm",
}


def pixels(picture) -> np.ndarray:
    return np.asarray(picture, dtype=np.float64)


def regions(array):
    """Mean grey of both lungs and of the spine/mediastinum of the NEMA PA radiograph."""
    h, w = array.shape
    rows = slice(int(h * 0.2), int(h * 0.5))
    lungs = np.concatenate(
        [
            array[rows, int(w * 0.2) : int(w * 0.4)].ravel(),
            array[rows, int(w * 0.6) : int(w * 0.78)].ravel(),
        ]
    )
    spine = array[rows, int(w * 0.46) : int(w * 0.54)]
    return lungs.mean(), spine.mean()


# --- the real radiograph ----------------------------------------------------------------------


@pytest.mark.parametrize("syntax", RADIOGRAPHS)
def test_the_real_radiograph_shows_dark_lungs_and_a_bright_spine(syntax):
    decoded = decode(RADIOGRAPHS[syntax], min_size=256)
    tile = render(decoded, long_side=256)
    assert decoded.invert  # MONOCHROME1
    assert tile.size == fit((1841, 1955), 256) == (241, 256)
    lungs, spine = regions(pixels(tile))
    assert spine - lungs > 50, (lungs, spine)


def test_the_three_transfer_syntaxes_render_the_same_picture():
    tiles = {
        name: pixels(render(decode(path, min_size=256), long_side=256))
        for name, path in RADIOGRAPHS.items()
    }
    viewers = {
        name: pixels(render(decode(path, min_size=1024), long_side=1024))
        for name, path in RADIOGRAPHS.items()
    }
    for renditions in (tiles, viewers):
        reference = renditions["uncompressed"]
        for name in ("j2k-lossless", "j2k-lossy"):
            difference = np.abs(renditions[name] - reference)
            assert difference.mean() < 1.0, name
            assert np.percentile(difference, 99.9) <= 6, name
            assert np.corrcoef(renditions[name].ravel(), reference.ravel())[0, 1] > 0.995


def test_jpeg_2000_is_decoded_at_a_reduced_resolution_for_a_tile_only():
    lossless = RADIOGRAPHS["j2k-lossless"]
    assert decode(lossless, min_size=256).decoded_size == (921, 978)
    full = decode(lossless)
    assert full.decoded_size == (1841, 1955)
    # lossless: the reduced decode is the full image at half resolution, bit for bit comparable
    reference = pydicom.dcmread(lossless).pixel_array.astype(np.float32)
    assert np.array_equal(full.values, reference)


def test_the_header_window_is_applied_as_pydicom_applies_it():
    ds = pydicom.dcmread(RADIOGRAPHS["uncompressed"])
    decoded = decode(RADIOGRAPHS["uncompressed"])
    assert decoded.window == Window(15000.0, 30000.0, "LINEAR")
    ours = 255 - pixels(render(decoded, long_side=None))  # undo the MONOCHROME1 inversion
    # pydicom windows into the stored range (0..2**15-1): scale it to 0..255 independently
    theirs = apply_windowing(ds.pixel_array.astype(np.float64), ds) / (2**15 - 1) * 255
    assert np.abs(ours - theirs).max() <= 1.0


# --- the DICOM display pipeline on pydicom's files --------------------------------------------


def test_the_modality_lut_is_applied_before_the_window():
    path = get_testdata_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    decoded = decode(path)
    expected = apply_modality_lut(ds.pixel_array, ds)
    assert float(ds.RescaleIntercept) != 0 or float(ds.RescaleSlope) != 1
    assert np.allclose(decoded.values, expected)
    assert decoded.ct  # Hounsfield units: the CT presets apply
    assert preset_window(decoded, "lung") == Window(-600.0, 1500.0)


def test_without_a_window_the_robust_percentile_window_is_used():
    path = get_testdata_file("CT_small.dcm")
    decoded = decode(path)
    assert decoded.window is None and decoded.voi_lut is None
    picture = pixels(render(decoded, long_side=None))
    low, high = np.percentile(decoded.values, [0.5, 99.5])
    values = decoded.values
    assert (picture[values <= low] == 0).all()
    assert (picture[values >= high] == 255).all()
    inside = (values > low + 0.01 * (high - low)) & (values < high - 0.01 * (high - low))
    assert ((picture[inside] > 0) & (picture[inside] < 255)).all()


def test_a_voi_lut_sequence_is_applied_when_present(tmp_path):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    stored = ds.pixel_array
    first, count = int(stored.min()), int(stored.max() - stored.min() + 1)
    # a deliberately non-linear table: the square root of the position in the range
    table = (np.sqrt(np.arange(count) / (count - 1)) * 4095).astype(np.uint16)
    item = pydicom.Dataset()
    item.LUTDescriptor = [count, first, 12]
    item.add_new(0x00283006, "US", table.tolist())  # LUTData
    ds.VOILUTSequence = pydicom.Sequence([item])
    del ds.RescaleSlope, ds.RescaleIntercept  # VOI LUT inputs are the stored values here
    ds.WindowCenter, ds.WindowWidth = 0, 1  # a window too: the LUT takes precedence
    path = tmp_path / "voi.dcm"
    ds.save_as(path)
    ours = pixels(render(decode(path), long_side=None))
    theirs = apply_voi_lut(stored, pydicom.dcmread(path), prefer_lut=True).astype(np.float64)
    theirs = (theirs - theirs.min()) / (theirs.max() - theirs.min()) * 255
    assert np.abs(ours - theirs).max() <= 1.0


def test_monochrome1_is_inverted_so_that_air_is_dark(tmp_path):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    normal = tmp_path / "m2.dcm"
    ds.save_as(normal)
    ds.PhotometricInterpretation = "MONOCHROME1"
    inverted = tmp_path / "m1.dcm"
    ds.save_as(inverted)
    a = pixels(render(decode(normal), long_side=None))
    b = pixels(render(decode(inverted), long_side=None))
    assert np.array_equal(a, 255 - b)


def test_only_the_first_frame_of_a_multi_frame_file_is_shown():
    path = get_testdata_file("rtdose.dcm")
    ds = pydicom.dcmread(path)
    assert int(ds.NumberOfFrames) > 1
    decoded = decode(path)
    assert np.allclose(decoded.values, ds.pixel_array[0])


@pytest.mark.parametrize(
    "name", ["MR_small_RLE.dcm", "JPEG2000.dcm", "693_J2KI.dcm", "image_dfl.dcm"]
)
def test_compressed_dicom_decodes_like_pydicom(name):
    path = get_testdata_file(name)
    ds = pydicom.dcmread(path)
    decoded = decode(path)
    reference = apply_modality_lut(ds.pixel_array, ds)
    reference = reference[0] if reference.ndim == 3 else reference
    assert np.allclose(decoded.values, reference)


def test_presets_of_a_radiograph_follow_its_own_histogram():
    decoded = decode(RADIOGRAPHS["uncompressed"], min_size=256)
    lung = render(decoded, long_side=256, preset="lung")
    mediastinum = render(decoded, long_side=256, preset="mediastinum")
    lungs_l, spine_l = regions(pixels(lung))
    lungs_m, spine_m = regions(pixels(mediastinum))
    # lung window: lung detail in the middle greys, the mediastinum burnt out white
    assert 40 < lungs_l < 215 and spine_l > 240
    # mediastinum window: lungs black, the mediastinum in the greys
    assert lungs_m < 20 and 40 < spine_m < 215


def test_an_explicit_window_overrides_the_header():
    decoded = decode(RADIOGRAPHS["uncompressed"], min_size=256)
    narrow = pixels(render(decoded, long_side=256, window=Window(20000, 2000)))
    default = pixels(render(decoded, long_side=256))
    assert not np.array_equal(narrow, default)
    values = np.asarray(
        PILImage.fromarray(decoded.values, "F").resize(
            (241, 256), PILImage.Resampling.LANCZOS, reducing_gap=2.0
        )
    )
    assert (narrow[values >= 21000] == 0).all()  # above the window: white, then inverted
    assert (narrow[values <= 19000] == 255).all()


# --- PNG and JPEG ------------------------------------------------------------------------------


def png_bytes(array: np.ndarray) -> bytes:
    buffer = BytesIO()
    PILImage.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def test_an_8_bit_png_is_scaled_keeping_its_aspect_ratio(tmp_path):
    rng = np.random.default_rng(3)
    array = rng.integers(0, 256, (300, 400), dtype=np.uint8)
    path = tmp_path / "a.png"
    path.write_bytes(png_bytes(array))
    decoded = decode(path)
    tile = render(decoded, long_side=256)
    assert decoded.bits == 8 and tile.mode == "L"
    assert tile.size == (256, 192)
    original = render(decoded, long_side=None)
    assert np.array_equal(np.asarray(original), array)  # no window: shown as stored


def test_a_16_bit_png_keeps_its_full_bit_depth(tmp_path):
    gradient = np.tile(np.linspace(1000, 61000, 512).astype(np.uint16), (64, 1))
    path = tmp_path / "b.png"
    path.write_bytes(png_bytes(gradient))
    decoded = decode(path)
    assert decoded.bits == 16
    assert np.array_equal(decoded.values, gradient.astype(np.float32))
    row = pixels(render(decoded, long_side=None))[0]
    assert (np.diff(row) >= 0).all() and row[0] == 0 and row[-1] == 255
    # 512 distinct 16-bit values over the 8-bit range: no banding into a few steps
    assert len(np.unique(row)) > 200


def test_a_jpeg_is_decoded_at_reduced_size_for_a_tile(tmp_path):
    array = np.tile(np.linspace(0, 255, 2048).astype(np.uint8), (1536, 1))
    path = tmp_path / "c.jpg"
    PILImage.fromarray(array).save(path, format="JPEG", quality=95)
    decoded = decode(path, min_size=256)
    assert 256 <= max(decoded.decoded_size) < 2048  # JPEG draft did the shrinking
    tile = render(decoded, long_side=256)
    assert tile.size == (256, 192)
    assert abs(pixels(tile)[:, 128].mean() - 128) < 4


def test_the_file_content_decides_the_format_not_the_extension(tmp_path):
    path = tmp_path / "really-a-png.jpg"
    path.write_bytes(png_bytes(np.full((10, 20), 77, np.uint8)))
    decoded = decode(path)
    assert decoded.kind == "png" and decoded.size == (20, 10)


# --- bad input ---------------------------------------------------------------------------------


def unreadable_reason(path) -> str:
    with pytest.raises(Unreadable) as caught:
        render(decode(path, max_pixels=50_000_000), long_side=256)
    return str(caught.value)


def test_a_truncated_png_is_unreadable(tmp_path):
    data = png_bytes(np.random.default_rng(1).integers(0, 256, (512, 512), dtype=np.uint8))
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    assert "truncated" in unreadable_reason(path)


def test_a_truncated_jpeg_is_unreadable(tmp_path):
    path = tmp_path / "cut.jpg"
    buffer = BytesIO()
    PILImage.fromarray(np.random.default_rng(2).integers(0, 256, (512, 512), dtype=np.uint8)).save(
        buffer, format="JPEG"
    )
    path.write_bytes(buffer.getvalue()[:3000])
    assert "truncated" in unreadable_reason(path)


def test_a_text_file_with_an_image_extension_is_unreadable(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("Patient notes, not an image\n" * 20)
    assert unreadable_reason(path) == "not a PNG, JPEG or DICOM file"


def test_an_empty_file_is_unreadable(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    assert unreadable_reason(path) == "empty file"


def test_a_png_with_a_corrupt_chunk_is_unreadable(tmp_path):
    data = bytearray(png_bytes(np.random.default_rng(4).integers(0, 256, (64, 64), dtype=np.uint8)))
    data[60:70] = b"\x00" * 10  # inside the image data: its CRC no longer matches
    path = tmp_path / "bad.png"
    path.write_bytes(bytes(data))
    assert "corrupt" in unreadable_reason(path) or "truncated" in unreadable_reason(path)


def bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header announcing width x height 8-bit grey pixels, with one tiny IDAT."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 100))
        + chunk(b"IEND", b"")
    )


def test_a_decompression_bomb_png_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_png(60_000, 60_000))  # 3.6 gigapixels in a 100-byte file
    assert "too large" in unreadable_reason(path)
    path.write_bytes(bomb_png(10_000, 6_000))  # over our limit, under Pillow's own
    assert "decompression bomb" in unreadable_reason(path)


def test_a_dicom_announcing_too_many_pixels_is_refused(tmp_path):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.Rows, ds.Columns = 60_000, 60_000
    path = tmp_path / "bomb.dcm"
    ds.save_as(path)
    assert "too large" in unreadable_reason(path)


def test_an_unknown_transfer_syntax_is_unreadable(tmp_path):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.file_meta.TransferSyntaxUID = "1.2.826.0.1.3680043.9999.1"
    ds.PixelData = ds.PixelData  # keep the bytes; only the syntax is unknown
    path = tmp_path / "unknown.dcm"
    ds.save_as(path, enforce_file_format=True)
    reason = unreadable_reason(path)
    assert "unsupported DICOM transfer syntax 1.2.826.0.1.3680043.9999.1" in reason


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("MR_truncated.dcm", "truncated DICOM pixel data"),
        ("rtplan_truncated.dcm", "DICOM file has no pixel data"),
        ("reportsi.dcm", "DICOM file has no pixel data"),
        ("badVR.dcm", "DICOM file lacks a valid Rows/Columns"),
        ("no_meta.dcm", "not a DICOM file (no DICM prefix after the 128-byte preamble)"),
        ("SC_rgb_rle_2frame.dcm", "not a grayscale radiograph (photometric interpretation RGB)"),
    ],
)
def test_pydicoms_broken_test_files_are_unreadable_with_a_reason(name, expected):
    assert unreadable_reason(get_testdata_file(name)) == expected


def test_a_truncated_copy_of_the_real_radiograph_is_unreadable(tmp_path):
    data = RADIOGRAPHS["uncompressed"].read_bytes()
    path = tmp_path / "cut.dcm"
    path.write_bytes(data[: len(data) - 100_000])
    assert "truncated" in unreadable_reason(path)


def test_a_corrupt_jpeg_2000_stream_is_unreadable(tmp_path):
    data = bytearray(RADIOGRAPHS["j2k-lossy"].read_bytes())
    middle = len(data) // 2
    data[middle : middle + 20000] = bytes(20000)  # zeros over the code blocks, size unchanged
    path = tmp_path / "broken-j2k.dcm"
    path.write_bytes(bytes(data))
    try:
        decoded = decode(path)  # OpenJPEG may decode damaged code blocks as noise...
    except Unreadable as error:
        assert "corrupt" in str(error) or "truncated" in str(error)  # ...or refuse them
    else:
        assert decoded.values.shape == (1955, 1841)


def test_a_missing_file_is_unreadable():
    with pytest.raises(Unreadable, match="file not found"):
        decode("/nonexistent/file.png")

"""The demo dataset: real NIH ChestX-ray14 label rows with generated placeholder radiographs.

The slice (`demo/nih_demo_slice.csv.gz`, 2,848 real rows, every label with at least 227 images)
keeps the real label structure; the pictures are synthetic so that the demo ships no patient
images. Each placeholder says DEMO and its image key.
"""

import csv
import gzip
from pathlib import Path

import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw

SLICE = Path(__file__).parent / "demo" / "nih_demo_slice.csv.gz"
SIZE = 512
PER_FOLDER = 1000  # like the official download's images_001/ ... images_012/


def slice_keys() -> list[str]:
    with gzip.open(SLICE, "rt", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        return [row[0] for row in reader]


def _base_chest() -> np.ndarray:
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / SIZE
    image = np.full((SIZE, SIZE), 30, np.float32)
    body = ((x - 0.5) / 0.46) ** 2 + ((y - 0.55) / 0.52) ** 2 < 1
    image[body] = 150
    for cx in (0.31, 0.69):  # lungs: dark, air
        lung = ((x - cx) / 0.15) ** 2 + ((y - 0.5) / 0.3) ** 2 < 1
        image[lung] = 55
    image[(np.abs(x - 0.5) < 0.07) & (y > 0.12)] = 205  # mediastinum and spine: bright
    heart = ((x - 0.55) / 0.13) ** 2 + ((y - 0.66) / 0.11) ** 2 < 1
    image[heart] = 185
    for k in range(7):  # ribs
        image[body & (np.abs(y - (0.27 + 0.07 * k) - 0.08 * np.abs(x - 0.5)) < 0.006)] += 35
    return image


def _smooth_noise(rng: np.random.Generator) -> np.ndarray:
    coarse = PILImage.fromarray(rng.normal(0, 12, (16, 16)).astype(np.float32), mode="F")
    return np.asarray(coarse.resize((SIZE, SIZE), PILImage.Resampling.BICUBIC))


def write_placeholders(root: Path, keys: list[str], progress=None) -> int:
    """Write a placeholder PNG per key under root/images_NNN/ (skips existing files)."""
    base = _base_chest()
    rng = np.random.default_rng(2017)
    # Smooth mottling rather than pixel noise: noisy PNGs take 5x longer to encode.
    noises = [_smooth_noise(rng) for _ in range(4)]
    written = 0
    for index, key in enumerate(keys):
        target = root / f"images_{index // PER_FOLDER + 1:03d}" / key
        if progress:
            progress(1)
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        noise = np.roll(noises[index % 4], index * 7, axis=1)
        pixels = np.clip(base * (0.85 + 0.25 * ((index * 37) % 100) / 100) + noise, 0, 255)
        picture = PILImage.fromarray(pixels.astype(np.uint8), mode="L")
        ImageDraw.Draw(picture).text((12, SIZE - 24), f"DEMO {key}", fill=255)
        picture.save(target, compress_level=1)
        written += 1
    return written

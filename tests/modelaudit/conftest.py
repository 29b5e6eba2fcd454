"""A synthetic dataset with known structure: 300 images, Pneumothorax on every third one, and a
chest drain on most Pneumothorax images and a few others. The "drain model" scores images by
the drain, not by the finding: the chest-drain question of the original ChestX-ray14 audit."""

import csv
from dataclasses import dataclass

import numpy as np
import pytest

from datasets.models import Dataset, Image, ImageLabel, Label
from datasets.predictions import upload_predictions


@dataclass
class Synthetic:
    dataset: Dataset
    pneumothorax: Label
    effusion: Label
    images: list[Image]
    truth: np.ndarray  # Pneumothorax positive
    drain: np.ndarray  # a chest drain is visible (what readers will tag)
    scores: np.ndarray  # the drain model's Pneumothorax score


def build_synthetic(n=300, seed=3) -> Synthetic:
    rng = np.random.default_rng(seed)
    dataset = Dataset.objects.create(name="Synthetic", slug="synthetic", format="generic")
    pneumothorax = Label.objects.create(dataset=dataset, name="Pneumothorax", aliases=["PTX"])
    effusion = Label.objects.create(dataset=dataset, name="Effusion")
    images = Image.objects.bulk_create(
        Image(dataset=dataset, key=f"img_{i:04d}.png", path=f"img_{i:04d}.png",
              patient_id=f"p{i}", view_position="PA")
        for i in range(n)
    )  # fmt: skip
    truth = (np.arange(n) % 3 == 0).astype(int)
    drain = np.where(truth == 1, rng.random(n) < 0.6, rng.random(n) < 0.08).astype(int)
    scores = np.round(0.7 * drain + 0.3 * rng.random(n), 4)
    ImageLabel.objects.bulk_create(
        [
            ImageLabel(image=image, label=pneumothorax)
            for image, t in zip(images, truth, strict=True)
            if t
        ]
        + [ImageLabel(image=image, label=effusion) for image in images[1::4]]
    )
    return Synthetic(dataset, pneumothorax, effusion, images, truth, drain, scores)


@pytest.fixture
def synthetic(db):
    return build_synthetic()


def write_wide(path, synthetic: Synthetic, effusion=None):
    rng = np.random.default_rng(9)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "Pneumothorax", "Effusion"])
        for image, score in zip(synthetic.images, synthetic.scores, strict=True):
            writer.writerow([image.key, repr(float(score)), f"{rng.random():.4f}"])
    return path


@pytest.fixture
def drain_run(synthetic, tmp_path):
    """The drain model's predictions, uploaded."""
    path = write_wide(tmp_path / "drain_model.csv", synthetic)
    return upload_predictions(dataset=synthetic.dataset, name="drain model", path=path).run

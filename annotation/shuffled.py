"""The shuffled-labels control: an audit whose images carry randomly permuted labels.

The random-label check of a whole pipeline (Zhang et al. 2017's randomisation test, applied to
an audit): each image receives the complete label set of another image, by a seeded
permutation, and the audit draws from those permuted labels as usual. Readers who look find
most tiles wrong; the expected accuracy is the share of drawn images that truly carry the label
(shown beside the readers' accuracy in the controls report). Accuracy well above it means the
readers, or the pipeline, are not looking at the images.

Rule: images sorted by key; `random.Random(f"{seed}:shuffled-labels").shuffle` of their indices;
image i gets the positive labels of image perm[i].
"""

import random

from datasets.models import Image, ImageLabel


def permutation(n: int, seed: int) -> list[int]:
    order = list(range(n))
    random.Random(f"{seed}:shuffled-labels").shuffle(order)
    return order


def permuted_carriers(
    dataset_id: int, label_ids: set[int], seed: int
) -> dict[int, dict[int, tuple[str, str, str]]]:
    """label id -> {image id: (key, patient, view)} under the permuted labels; the same shape
    as annotation.services._carriers, so the draw that follows is the ordinary one."""
    images = sorted(
        Image.objects.filter(dataset_id=dataset_id).values_list(
            "pk", "key", "patient_id", "view_position"
        ),
        key=lambda row: row[1],
    )
    positives: dict[int, set[int]] = {}
    for image_id, label_id in ImageLabel.objects.filter(
        image__dataset_id=dataset_id, value=ImageLabel.Value.POSITIVE, label_id__in=label_ids
    ).values_list("image_id", "label_id"):
        positives.setdefault(image_id, set()).add(label_id)
    order = permutation(len(images), seed)
    result: dict[int, dict[int, tuple[str, str, str]]] = {}
    for (image_id, key, patient, view), source in zip(images, order, strict=True):
        for label_id in positives.get(images[source][0], ()):
            result.setdefault(label_id, {})[image_id] = (key, patient, view)
    return result

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
from collections.abc import Callable

from datasets.models import Image, ImageLabel


def permutation(n: int, seed: int) -> list[int]:
    order = list(range(n))
    random.Random(f"{seed}:shuffled-labels").shuffle(order)
    return order


def permuted_carriers(
    dataset_id: int, label_ids: set[int], seed: int, view: str = ""
) -> Callable[[int], list[tuple[str, int, str]]]:
    """label id -> rows (key, image id, patient) of the images carrying it under the permuted
    labels, as a function: the shape of annotation.services._carriers, so the draw that
    follows is the ordinary one."""
    images = sorted(
        Image.objects.filter(dataset_id=dataset_id).values_list(
            "key", "pk", "patient_id", "view_position"
        )
    )
    positives: dict[int, set[int]] = {}
    for image_id, label_id in ImageLabel.objects.filter(
        image__dataset_id=dataset_id, value=ImageLabel.Value.POSITIVE, label_id__in=label_ids
    ).values_list("image_id", "label_id"):
        positives.setdefault(image_id, set()).add(label_id)
    order = permutation(len(images), seed)
    grouped: dict[int, list[tuple[str, int, str]]] = {label_id: [] for label_id in label_ids}
    for (key, image_id, patient, image_view), source in zip(images, order, strict=True):
        if view and image_view != view:
            continue
        for label_id in positives.get(images[source][1], ()):
            grouped[label_id].append((key, image_id, patient))
    return lambda label_id: list(grouped[label_id])


def shuffled_check(audit) -> list[dict]:
    """Per label of a shuffled-labels control: the readers' consensus accuracy (green or
    orange over read tiles) beside the accuracy expected from readers who look (the share of
    read tiles whose image truly carries the label), both with Wilson 95% intervals, and a
    flag when the two intervals do not overlap."""
    from reports.stats import proportion_ci

    from .consensus import consensus_verdicts
    from .models import Sample, Verdict

    consensus = consensus_verdicts(audit)
    truly = set(
        ImageLabel.objects.filter(
            image__samples__audit=audit, value=ImageLabel.Value.POSITIVE
        ).values_list("image_id", "label_id")
    )
    rows = []
    for label in audit.labels.order_by("name"):
        own = {m.pk for m in label.members.all()} or {label.pk}
        read = accepted = carrying = 0
        for pk, image_id in Sample.objects.filter(
            audit=audit, label=label, is_decoy=False
        ).values_list("pk", "image_id"):
            verdict = consensus[pk].verdict if pk in consensus else ""
            if not verdict:
                continue
            read += 1
            accepted += verdict in (Verdict.GREEN, Verdict.ORANGE)
            carrying += any((image_id, label_id) in truly for label_id in own)
        accuracy = proportion_ci(accepted, read) if read else (float("nan"), float("nan"))
        expected = proportion_ci(carrying, read) if read else (float("nan"), float("nan"))
        rows.append(
            {
                "label": label,
                "read": read,
                "accuracy": accepted / read if read else float("nan"),
                "accuracy_ci": accuracy,
                "expected": carrying / read if read else float("nan"),
                "expected_ci": expected,
                "flagged": bool(read and (accuracy[0] > expected[1] or accuracy[1] < expected[0])),
            }
        )
    return rows

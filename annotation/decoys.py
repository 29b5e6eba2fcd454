"""Decoys: a sanity control mixed into label-review grids.

A decoy is a tile drawn from an image that does NOT carry the label, shown exactly like the
others (same template, same API fields, a position drawn among the real tiles). Readers who
look mark it red; the share of decoys marked red is the reader's vigilance. Decoys never count
toward accuracy (reports filter `is_decoy=False`).

The documented rule, per label, for a decoy fraction f (0 <= f <= 0.5):
1. k = round(n · f / (1 - f)) decoys for the label's n real tiles, so decoys are a share f
   of the label's tiles.
2. Candidates: the dataset's images with neither a positive nor an uncertain value for the
   label (or any member of a merged label), with the audit's view filter; drawn with the same
   seeded `sampling.draw` under the name "<label>:decoys" (so decoys do not disturb the real
   draw, and one image per patient holds when the audit asks for it).
3. Their positions: `random.Random(f"{seed}:{label}:decoy-slots").sample(range(n + k), k)`;
   the real tiles keep their order in the remaining positions.
"""

import random
from dataclasses import dataclass

from django.db.models import Q

from datasets.models import Image, ImageLabel, Label

from . import sampling

MAX_DECOY_FRACTION = 0.5


@dataclass(frozen=True, slots=True)
class Planned:
    """A tile to write: the image, and what the reader is never told (its cell or decoy-ness)."""

    image_id: int
    cell: str = ""
    is_decoy: bool = False


def decoy_count(real: int, fraction: float) -> int:
    if not 0 <= fraction <= MAX_DECOY_FRACTION:
        raise ValueError(
            f"decoy fraction must be between 0 and {MAX_DECOY_FRACTION}, not {fraction}"
        )
    return round(real * fraction / (1 - fraction)) if fraction else 0


def interleave(real: list, decoys: list, *, seed: int, label: str) -> list[Planned]:
    """Real tiles in their order with decoys at seeded positions (pure; see the module doc)."""
    total = len(real) + len(decoys)
    slots = set(random.Random(f"{seed}:{label}:decoy-slots").sample(range(total), len(decoys)))
    real_iter, decoy_iter = iter(real), iter(decoys)
    return [
        Planned(next(decoy_iter).image_id, is_decoy=True)
        if position in slots
        else Planned(next(real_iter).image_id)
        for position in range(total)
    ]


def add_decoys(audit, labels: list[Label], drawn: dict[int, list]) -> dict[int, list]:
    """The audit's draw with decoys mixed in (unchanged when its decoy fraction is 0)."""
    if not audit.decoy_fraction:
        return drawn
    everyone = [
        sampling.Candidate(pk, key, patient, view, frozenset())
        for pk, key, patient, view in Image.objects.filter(dataset_id=audit.dataset_id)
        .values_list("pk", "key", "patient_id", "view_position")
        .iterator(chunk_size=20000)
    ]
    result: dict[int, list] = {}
    for label in labels:
        own = [m.pk for m in label.members.all()] if label.kind == Label.Kind.MERGED else [label.pk]
        excluded = set(
            ImageLabel.objects.filter(
                Q(value=ImageLabel.Value.POSITIVE) | Q(value=ImageLabel.Value.UNCERTAIN),
                label_id__in=own,
            ).values_list("image_id", flat=True)
        )
        real = drawn[label.pk]
        wanted = decoy_count(len(real), audit.decoy_fraction)
        pool = [candidate for candidate in everyone if candidate.image_id not in excluded]
        rules = sampling.Rules(
            per_label=wanted, seed=audit.seed, one_per_patient=audit.one_per_patient,
            view=audit.view_filter,
        )  # fmt: skip
        decoys = sampling.draw(pool, label=f"{label.name}:decoys", rules=rules) if wanted else []
        result[label.pk] = interleave(real, decoys, seed=audit.seed, label=label.name)
    return result


@dataclass(frozen=True)
class Vigilance:
    """A reader's decoys: how many they marked, how many red, the share with its Wilson 95%
    interval (NaN when they marked none)."""

    reader: str
    marked: int
    red: int
    low: float
    high: float

    @property
    def share(self) -> float:
        return self.red / self.marked if self.marked else float("nan")


def reader_vigilance(audit) -> list[Vigilance]:
    """Per reader of the audit (by name), the share of the decoys they marked that they marked
    red. A decoy left unmarked does not count."""
    from reports.stats import proportion_ci

    from .models import Mark, Membership, Verdict

    counts: dict[str, list[int]] = {
        name: [0, 0]
        for name in Membership.objects.filter(audit=audit, role=Membership.Role.READER)
        .values_list("user__username", flat=True)
        .order_by("user__username")
    }
    rows = (
        Mark.objects.filter(sample__audit=audit, sample__is_decoy=True)
        .exclude(verdict="")
        .values_list("reader__username", "verdict")
    )
    for name, verdict in rows:
        tally = counts.setdefault(name, [0, 0])
        tally[0] += 1
        tally[1] += verdict == Verdict.RED
    result = []
    for name, (marked, red) in counts.items():
        low, high = proportion_ci(red, marked) if marked else (float("nan"), float("nan"))
        result.append(Vigilance(name, marked, red, low, high))
    return result

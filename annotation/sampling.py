"""The seeded draw of a sample set: which images of a label readers will see, in which order.

Pure Python (no Django), so a researcher can recompute an audit's sample from the label file in a
notebook and get the same images in the same order.

The documented rule, per label:
1. Candidates: the images carrying the label (for a merged label: any of its members),
   optionally only those with the requested view position, optionally only those whose
   positive labels all belong to this label (its sole label; for a merged label, members only).
2. Stable order: candidates sorted by image key (the dataset's own image name), so the order
   does not depend on database, import order or row ids.
3. Shuffle with `random.Random(f"{seed}:{label}")` (Python's string seeding is stable across
   runs and platforms), so each label's draw depends only on the seed and that label.
4. Walk the shuffled list, skipping an image whose patient already has one in this label's
   sample (when one image per patient applies; an image without a patient id is its own
   patient), until `per_label` images are taken (None: all of them).
"""

import random
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Candidate:
    """One image carrying the label: its id, key, patient, view and all its positive labels."""

    image_id: int
    key: str
    patient: str
    view: str
    labels: frozenset[str]


@dataclass(frozen=True, slots=True)
class Rules:
    per_label: int | None = 126
    seed: int = 7
    one_per_patient: bool = True
    sole_label_only: bool = False
    view: str = ""


def draw(
    candidates: Iterable[Candidate], *, label: str, members: Iterable[str] = (), rules: Rules
) -> list[Candidate]:
    """The label's sample in reading order. `members`: the member labels of a merged label."""
    own = frozenset(members) or frozenset({label})
    eligible = [
        candidate
        for candidate in candidates
        if (not rules.view or candidate.view == rules.view)
        and (not rules.sole_label_only or candidate.labels <= own)
    ]
    eligible.sort(key=lambda candidate: candidate.key)
    random.Random(f"{rules.seed}:{label}").shuffle(eligible)
    limit = len(eligible) if rules.per_label is None else rules.per_label
    taken: list[Candidate] = []
    patients: set[str] = set()
    for candidate in eligible:
        if len(taken) >= limit:
            break
        if rules.one_per_patient:
            patient = candidate.patient or f"image:{candidate.key}"
            if patient in patients:
                continue
            patients.add(patient)
        taken.append(candidate)
    return taken

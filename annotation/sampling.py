"""The seeded draw of a sample set: which images of a label readers will see, in which order.

Pure Python (no Django), so a researcher can recompute an audit's sample from the label file in a
notebook and get the same images in the same order.

The documented rule, per label:
1. Candidates: the images carrying the label (for a merged label: any of its members),
   optionally only those with the requested view position, optionally only those whose
   positive labels all belong to this label (its sole label; for a merged label, members only).
2. Stable order: candidates sorted by image key (the dataset's own image name), so the order
   does not depend on database, import order or row ids.
3. Shuffle with `random.Random(f"{seed}:{label}").shuffle(candidates)` (Python's string seeding
   is stable across runs and platforms), so each label's draw depends only on the seed and that
   label, and read the shuffled list **from its end**.
4. Walk that order, skipping an image whose patient already has one in this label's sample (when
   one image per patient applies; an image without a patient id is its own patient), until
   `per_label` images are taken (None: all of them).

In a notebook: `keys.sort(); random.Random(f"7:{label}").shuffle(keys); keys.reverse()`, then
walk. Why from the end: Python's shuffle settles the last position first, so the end of the
shuffled list can be produced lazily; taking 126 of 60,000 images costs 126 steps, not a
shuffle of 60,000 (and a larger `per_label` only extends the same sample).
"""

import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


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


def reading_order(n: int, *, seed: int, label: str) -> Iterator[int]:
    """Indices 0..n-1 in the order `random.Random(f"{seed}:{label}").shuffle` leaves them,
    read from the end, produced lazily (a sparse Fisher-Yates on the same random numbers)."""
    rng = random.Random(f"{seed}:{label}")
    moved: dict[int, int] = {}  # position -> the index now there, where it differs
    for i in range(n - 1, 0, -1):
        # shuffle() does: j = randbelow(i + 1); swap x[i], x[j]; x[i] is then final.
        j = rng.randrange(i + 1)  # randrange(k) is randbelow(k): the streams agree
        chosen = moved.get(j, j)
        if j != i:
            moved[j] = moved.get(i, i)
        yield chosen
    if n:
        yield moved.get(0, 0)


def pick(
    ordered: Sequence[T],
    *,
    label: str,
    rules: Rules,
    patient: Callable[[T], str],
) -> list[T]:
    """Steps 3-4 of the rule on candidates already filtered and sorted by key (step 1-2)."""
    limit = len(ordered) if rules.per_label is None else rules.per_label
    taken: list[T] = []
    patients: set[str] = set()
    if limit <= 0:
        return taken
    for index in reading_order(len(ordered), seed=rules.seed, label=label):
        candidate = ordered[index]
        if rules.one_per_patient:
            who = patient(candidate)
            if who in patients:
                continue
            patients.add(who)
        taken.append(candidate)
        if len(taken) >= limit:
            break
    return taken


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
    return pick(
        eligible,
        label=label,
        rules=rules,
        patient=lambda candidate: candidate.patient or f"image:{candidate.key}",
    )

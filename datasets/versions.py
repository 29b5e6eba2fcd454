"""Two versions of a dataset side by side (an original and its relabeled re-import): the
positive labels per class in each, and how many were removed or added, matching images by key."""

from dataclasses import dataclass

from .models import Dataset, ImageLabel


@dataclass
class LabelChange:
    name: str
    before: int
    after: int
    removed: int
    added: int


@dataclass
class Comparison:
    base: Dataset
    other: Dataset
    images_base: int
    images_other: int
    common: int
    labels: list[LabelChange]

    @property
    def removed(self) -> int:
        return sum(item.removed for item in self.labels)

    @property
    def added(self) -> int:
        return sum(item.added for item in self.labels)


def _positives(dataset: Dataset) -> dict[str, set[str]]:
    """label name -> keys of the images carrying it (positive), streamed from the database."""
    found: dict[str, set[str]] = {}
    rows = ImageLabel.objects.filter(
        image__dataset=dataset, value=ImageLabel.Value.POSITIVE
    ).values_list("label__name", "image__key")
    for name, key in rows.iterator(chunk_size=20000):
        found.setdefault(name, set()).add(key)
    return found


def compare(base: Dataset, other: Dataset) -> Comparison:
    """Per label: positives in each, removed (in base, not in other) and added, over the images
    both hold (an image only one of them has is not a change of label)."""
    keys_base = set(base.images.values_list("key", flat=True).iterator(chunk_size=20000))
    keys_other = set(other.images.values_list("key", flat=True).iterator(chunk_size=20000))
    common = keys_base & keys_other
    before, after = _positives(base), _positives(other)
    labels = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name, set()) & common, after.get(name, set()) & common
        labels.append(
            LabelChange(
                name=name,
                before=len(before.get(name, ())),
                after=len(after.get(name, ())),
                removed=len(old - new),
                added=len(new - old),
            )
        )
    return Comparison(
        base=base,
        other=other,
        images_base=len(keys_base),
        images_other=len(keys_other),
        common=len(common),
        labels=labels,
    )

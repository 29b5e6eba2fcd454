"""The consensus verdict of a sample: the adjudicated one if any, else the readers' majority.

A tie between the most frequent verdicts is orange (doubtful): when readers split evenly the
label is, by definition, in doubt. Unmarked readers do not vote.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from annotation.models import Adjudication, Audit, Mark, Sample, Verdict


@dataclass(frozen=True)
class Consensus:
    verdict: str  # green / orange / red, or "" when nobody marked the sample
    source: str  # adjudicated | majority | tie | unmarked
    votes: dict[str, int] = field(default_factory=dict)


def consensus_of(verdicts: Iterable[str], adjudicated: str | None = None) -> Consensus:
    votes = Counter(v for v in verdicts if v)
    if adjudicated:
        return Consensus(adjudicated, "adjudicated", dict(votes))
    if not votes:
        return Consensus("", "unmarked", {})
    ranked = votes.most_common()
    top = ranked[0][1]
    leaders = [verdict for verdict, count in ranked if count == top]
    if len(leaders) > 1:
        return Consensus(Verdict.ORANGE.value, "tie", dict(votes))
    return Consensus(leaders[0], "majority", dict(votes))


def consensus_verdicts(audit: Audit, samples: Iterable[int] | None = None) -> dict[int, Consensus]:
    """Consensus per sample id of the audit (every sample, or only those given) (three queries, whatever the size)."""
    sample_ids = Sample.objects.filter(audit=audit)
    marks = Mark.objects.filter(sample__audit=audit).exclude(verdict="")
    adjudications = Adjudication.objects.filter(sample__audit=audit)
    if samples is not None:
        wanted = list(samples)
        sample_ids = sample_ids.filter(id__in=wanted)
        marks = marks.filter(sample_id__in=wanted)
        adjudications = adjudications.filter(sample_id__in=wanted)
    verdicts: dict[int, list[str]] = {
        sample_id: [] for sample_id in sample_ids.values_list("id", flat=True)
    }
    for sample_id, verdict in marks.values_list("sample_id", "verdict"):
        verdicts[sample_id].append(verdict)
    adjudicated = dict(adjudications.values_list("sample_id", "verdict"))
    return {
        sample_id: consensus_of(given, adjudicated.get(sample_id))
        for sample_id, given in verdicts.items()
    }

"""Aggregation of an audit into an immutable Snapshot, and its debounced scheduling.

* `request_aggregation(audit_id)`: cheap, safe to call on every mark. After the caller's
  transaction commits it records that marks changed; with a broker it queues one
  `reports.tasks.aggregate_audit` run per debounce window (the first request of the window
  claims `AggregationState.scheduled_for` with a conditional UPDATE; the others find it taken).
  In the embedded mode (eager Celery, no broker) it only records the request: running several
  seconds of statistics inside a reader's mark request would stall the grid, so the next view
  of a dashboard or report recomputes instead (`snapshot_for_view`).
* `aggregate(audit)`: read the marks, compute (reports.compute), write a Snapshot. Idempotent:
  when the latest snapshot was computed from the same inputs by the same code it is returned
  and nothing is written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import subprocess
import time
import tomllib
from datetime import timedelta
from functools import cache
from pathlib import Path

import django
import numpy
import scipy
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from annotation.models import Adjudication, Audit, GridVisit, Mark, MarkChange, Membership, Sample

from . import compute, figures, presenters
from .models import AggregationState, Snapshot

log = logging.getLogger(__name__)

# Bump when what a snapshot holds changes shape, so older snapshots are not taken as current.
SCHEMA_VERSION = 1
_SOURCES = ("stats.py", "compute.py", "aggregation.py", "figures.py", "presenters.py")


def debounce_seconds() -> int:
    return int(getattr(settings, "REPORTS_DEBOUNCE_SECONDS", 10))


def parameters() -> compute.Parameters:
    return compute.Parameters(n_boot=int(getattr(settings, "REPORTS_BOOTSTRAP_RESAMPLES", 2000)))


# -- versions ----------------------------------------------------------------------------------


@cache
def code_version() -> str:
    """Package version + a hash of the statistics and aggregation source: two snapshots with the
    same code version were computed by the same formulas, with or without git."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for name in _SOURCES:
        digest.update((root / name).read_bytes())
    try:
        with open(root.parent / "pyproject.toml", "rb") as handle:
            version = tomllib.load(handle)["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        version = "unknown"
    return f"{version}+{digest.hexdigest()[:12]}.s{SCHEMA_VERSION}"


@cache
def _git_commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def versions() -> dict[str, str]:
    return {
        "label_audit": code_version(),
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "django": django.get_version(),
    }


# -- reading the audit -------------------------------------------------------------------------


def audited_samples(audit: Audit):
    """The samples whose verdicts count toward accuracy and agreement.

    Decoys never count (modelaudit): they are images NOT carrying the label, mixed in to
    measure vigilance (annotation/decoys.py). In a model review, only the cells whose dataset
    label is positive (TP, FN) read as "is the label right?"; the FP and TN tiles (green there
    means the label is missing) are reported by the model report (reports/model_audit.py).
    """
    samples = Sample.objects.filter(audit=audit, is_decoy=False)
    if audit.kind == Audit.Kind.MODEL_REVIEW:
        samples = samples.filter(cell__in=[Sample.Cell.TP, Sample.Cell.FN])
    return samples


def _reader_name(user) -> str:
    return user.get_full_name() or user.get_username()


def load(audit: Audit) -> compute.AuditData:
    from annotation.consensus import consensus_verdicts

    labels = [
        compute.LabelInfo(label.pk, label.name, label.reference_accuracy, label.reference_source)
        for label in audit.labels.order_by("name")
    ]
    samples: dict[int, list[int]] = {}
    for sample_id, label_id in (
        audited_samples(audit).order_by("label_id", "position").values_list("id", "label_id")
    ):
        samples.setdefault(label_id, []).append(sample_id)
    wanted = {sample for ids in samples.values() for sample in ids}
    marks = Mark.objects.filter(sample__audit=audit).exclude(verdict="")
    verdicts: dict[tuple[int, int], str] = {}
    keys: dict[int, tuple[int, int]] = {}
    for mark_id, sample, reader, verdict in marks.values_list(
        "id", "sample_id", "reader_id", "verdict"
    ):
        if sample in wanted:
            verdicts[(sample, reader)] = verdict
            keys[mark_id] = (sample, reader)
    mark_tags: dict[tuple[int, int], set[int]] = {}
    tagged = Mark.tags.through.objects.filter(mark__sample__audit=audit)
    for mark_id, tag_id in tagged.values_list("mark_id", "tag_id"):
        if mark_id in keys:
            mark_tags.setdefault(keys[mark_id], set()).add(tag_id)
    reader_ids = set(
        Membership.objects.filter(audit=audit, role=Membership.Role.READER).values_list(
            "user_id", flat=True
        )
    ) | {reader for _sample, reader in verdicts}
    users = sorted(
        get_user_model().objects.filter(pk__in=reader_ids), key=lambda u: u.get_username()
    )
    consensus = {
        sample: (result.verdict, result.source)
        for sample, result in consensus_verdicts(audit).items()
        if sample in wanted
    }
    return compute.AuditData(
        labels=labels,
        readers=[compute.ReaderInfo(user.pk, _reader_name(user)) for user in users],
        samples=samples,
        verdicts=verdicts,
        consensus=consensus,
        tags=list(audit.tags.order_by("order", "name").values_list("id", "name")),
        mark_tags={key: frozenset(tags) for key, tags in mark_tags.items()},
        grid_seconds=list(
            GridVisit.objects.filter(audit=audit).values_list(
                "reader_id", "label_id", "grid", "seconds"
            )
        ),
        grid_size=audit.grid_size,
    )


def input_digest(data: compute.AuditData, p: compute.Parameters) -> str:
    """sha256 over everything a snapshot is computed from: the same digest, the same figures."""
    payload = {
        "code": code_version(),
        "parameters": p.as_dict(),
        "labels": [[x.id, x.name, x.reference, x.reference_source] for x in data.labels],
        "readers": [[r.id, r.name] for r in data.readers],
        "samples": sorted((label, ids) for label, ids in data.samples.items()),
        "verdicts": sorted([s, r, v] for (s, r), v in data.verdicts.items()),
        "consensus": sorted([s, v, src] for s, (v, src) in data.consensus.items()),
        "tags": data.tags,
        "mark_tags": sorted([s, r, sorted(t)] for (s, r), t in data.mark_tags.items()),
        "time": sorted(data.grid_seconds),
    }
    return hashlib.sha256(json.dumps(payload, default=str).encode()).hexdigest()


def _fingerprint(audit: Audit) -> dict[str, int | None]:
    changes = MarkChange.objects.filter(sample__audit=audit).aggregate(last=Max("id"))
    return {
        "last_change_id": changes["last"],
        "change_count": MarkChange.objects.filter(sample__audit=audit).count(),
        "adjudication_count": Adjudication.objects.filter(sample__audit=audit).count(),
    }


# -- figures: drawn once, stored in the snapshot -----------------------------------------------


def draw_figures(results: dict) -> dict[str, str]:
    forest = [
        {
            "name": label["name"],
            "n": label["consensus"]["n"],
            "value": label["consensus"]["accuracy"],
            "low": label["consensus"]["accuracy_wilson"][0],
            "high": label["consensus"]["accuracy_wilson"][1],
            "claim": label["reference"],
            "flag": label["consensus"]["claim_outside_wilson"],
        }
        for label in results["labels"]
    ]
    readers = results["readers"]
    index = {reader["id"]: i for i, reader in enumerate(readers)}
    matrix: list[list[float | None]] = [[None] * len(readers) for _ in readers]
    for pair in results["pooled"]["pairs"]:
        value = pair.get("kappa", {}).get("value")
        i, j = index[pair["a"]], index[pair["b"]]
        matrix[i][j] = matrix[j][i] = value
    per_reader = [
        {
            "name": row["name"],
            "n": row["n"],
            "value": row["accuracy"],
            "low": row["accuracy_wilson"][0],
            "high": row["accuracy_wilson"][1],
        }
        for row in results["reader_summary"]
    ]
    return {
        "forest": figures.forest_plot(forest, "Consensus accuracy by label (95% Wilson CI)"),
        "heatmap": figures.heatmap(
            [reader["name"] for reader in readers],
            matrix,
            "Cohen's kappa per reader pair (all labels pooled)",
        ),
        "readers": figures.reader_bars(per_reader),
    }


# -- the run -----------------------------------------------------------------------------------


def aggregate(
    audit: Audit, *, trigger: str = Snapshot.Trigger.MARKS, requested_by=None, fingerprint=None
) -> Snapshot:
    """Compute the audit's figures into a new Snapshot, or return the latest when nothing it was
    computed from changed (same marks, adjudications, claims, parameters and code)."""
    started = time.perf_counter()
    # Read the fingerprint before the marks: a change landing meanwhile makes the snapshot stale.
    fingerprint = fingerprint or _fingerprint(audit)
    data = load(audit)
    p = parameters()
    digest = input_digest(data, p)
    latest = Snapshot.objects.filter(audit=audit).only("id", "input_digest").first()
    if latest is not None and latest.input_digest == digest:
        return latest
    results, matrices = compute.compute(data, p)
    results["audit"] = {
        "id": audit.pk,
        "name": audit.name,
        "dataset": audit.dataset.name,
        "blinded": audit.blinded,
        "status": audit.status,
        "grid_size": audit.grid_size,
    }
    results["versions"] = versions()
    dashboard = presenters.build_dashboard(results, draw_figures(results))
    with transaction.atomic():
        # Two runs at once (a debounced one and a manual one): the second sees the first's row.
        AggregationState.objects.get_or_create(audit=audit)
        AggregationState.objects.select_for_update().filter(audit=audit).first()
        latest = Snapshot.objects.filter(audit=audit).only("id", "input_digest").first()
        if latest is not None and latest.input_digest == digest:
            return latest
        return Snapshot.objects.create(
            audit=audit,
            trigger=trigger,
            requested_by=requested_by,
            mark_count=len(data.verdicts),
            input_digest=digest,
            code_version=code_version(),
            parameters=p.as_dict(),
            duration_ms=int((time.perf_counter() - started) * 1000),
            results=results,
            dashboard=dashboard,
            matrices=matrices,
            last_change_id=fingerprint["last_change_id"],
            change_count=fingerprint["change_count"] or 0,
            adjudication_count=fingerprint["adjudication_count"] or 0,
        )


def run(audit_id: int, *, trigger: str = Snapshot.Trigger.MARKS, requested_by_id=None):
    """The task body: release the debounce claim, aggregate, record the outcome."""
    audit = Audit.objects.select_related("dataset").filter(pk=audit_id).first()
    if audit is None:  # deleted since
        return None
    state, _ = AggregationState.objects.get_or_create(audit=audit)
    started = timezone.now()
    # Released before reading marks: a mark arriving during the run queues the next run.
    AggregationState.objects.filter(pk=state.pk).update(scheduled_for=None, started_at=started)
    fingerprint = _fingerprint(audit)
    requested_by = None
    if requested_by_id:
        requested_by = get_user_model().objects.filter(pk=requested_by_id).first()
    try:
        snapshot = aggregate(
            audit, trigger=trigger, requested_by=requested_by, fingerprint=fingerprint
        )
    except Exception as error:
        AggregationState.objects.filter(pk=state.pk).update(
            finished_at=timezone.now(), last_error=f"{type(error).__name__}: {error}"
        )
        raise
    AggregationState.objects.filter(pk=state.pk).update(
        finished_at=timezone.now(),
        last_error="",
        checked_change_id=fingerprint["last_change_id"],
        checked_at=started,
    )
    return snapshot


# -- scheduling --------------------------------------------------------------------------------


def eager() -> bool:
    return bool(settings.CELERY_TASK_ALWAYS_EAGER)


def request_aggregation(audit_id: int) -> None:
    """Say that an audit's marks (or claims) changed. Cheap; call it on every mark.

    Runs after the caller's transaction commits (at once outside one), so the state row is
    never locked inside a reader's mark transaction. See the module docstring for the modes.
    """
    transaction.on_commit(lambda: _request_now(audit_id))


def on_marks_changed(sender, *, audit_id: int, **kwargs) -> None:
    """Receiver of annotation's marks-changed signal (sent after each committed mark change)."""
    request_aggregation(audit_id)


def requeue_missed() -> int:
    """Beat: queue again the requests that never reached a worker (the broker was down when
    they came, or the queued run was lost), so a change made during a Redis outage is
    aggregated once Redis is back. Returns how many audits were queued."""
    if eager():
        return 0
    expired = timezone.now() - timedelta(seconds=debounce_seconds()) - timedelta(minutes=10)
    waiting = (
        AggregationState.objects.filter(requested_at__isnull=False)
        .filter(Q(started_at__isnull=True) | Q(started_at__lt=F("requested_at")))
        .filter(Q(scheduled_for__isnull=True) | Q(scheduled_for__lte=expired))
        .values_list("audit_id", flat=True)
    )
    return sum(_request_now(audit_id) for audit_id in waiting)


def _request_now(audit_id: int) -> bool:
    now = timezone.now()
    if not Audit.objects.filter(pk=audit_id).exists():
        return False
    state, _ = AggregationState.objects.get_or_create(audit_id=audit_id)
    AggregationState.objects.filter(pk=state.pk).update(requested_at=now)
    if eager():
        return False
    window = timedelta(seconds=debounce_seconds())
    # A claim older than window + 10 min belongs to a run that was lost (broker restart...).
    expired = now - window - timedelta(minutes=10)
    claimed = (
        AggregationState.objects.filter(pk=state.pk)
        .exclude(scheduled_for__gt=expired)
        .update(scheduled_for=now + window)
    )
    if not claimed:
        return False
    from .tasks import aggregate_audit

    try:
        aggregate_audit.apply_async((audit_id,), countdown=window.total_seconds())
    except Exception:  # the broker is down: marking must go on; the next mark retries
        log.exception("could not queue the aggregation of audit %s", audit_id)
        AggregationState.objects.filter(pk=state.pk).update(scheduled_for=None)
        return False
    return True


def recompute_now(audit: Audit, *, user=None) -> Snapshot | None:
    """The "recompute" button: with a broker, queue a run at once (returns None); in the
    embedded mode, compute here and return the snapshot."""
    from .tasks import aggregate_audit

    kwargs = {"trigger": Snapshot.Trigger.MANUAL, "requested_by_id": getattr(user, "pk", None)}
    if eager():
        return run(audit.pk, **kwargs)
    AggregationState.objects.get_or_create(audit=audit)
    AggregationState.objects.filter(audit=audit).update(requested_at=timezone.now())
    aggregate_audit.apply_async((audit.pk,), kwargs=kwargs)
    return None

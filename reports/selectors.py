"""Reads of snapshots for the dashboards, downloads and API."""

from __future__ import annotations

from dataclasses import dataclass

from annotation.models import Adjudication, Audit, MarkChange

from . import aggregation
from .models import AggregationState, Snapshot


def _snapshots(audit: Audit, results: bool, matrices: bool):
    deferred = [
        name for name, wanted in (("results", results), ("matrices", matrices)) if not wanted
    ]
    return Snapshot.objects.filter(audit=audit).defer(*deferred)


def latest_snapshot(
    audit: Audit, *, results: bool = False, matrices: bool = False
) -> Snapshot | None:
    """The newest snapshot; by default only what the pages read (the dashboard field)."""
    return _snapshots(audit, results, matrices).first()


def snapshot_by_id(
    audit: Audit, snapshot_id: int, *, results: bool = True, matrices: bool = False
) -> Snapshot:
    return _snapshots(audit, results, matrices).get(pk=snapshot_id)


def is_stale(
    audit: Audit, snapshot: Snapshot | None, state: AggregationState | None = None
) -> bool:
    """Whether marks, adjudications or claims changed after the last run read them.

    Index range reads only: history rows above the last id read, adjudications decided since,
    and the request time recorded by request_aggregation (claims edited...).
    """
    if snapshot is None:
        return True
    if state is None:
        state = AggregationState.objects.filter(audit=audit).first()
    if state is not None and state.checked_at is not None:
        last_id, checked_at = state.checked_change_id, state.checked_at
    else:
        last_id, checked_at = snapshot.last_change_id, snapshot.created_at
    newer = MarkChange.objects.filter(sample__audit=audit)
    if last_id is not None:
        newer = newer.filter(pk__gt=last_id)
    if newer.exists():
        return True
    if Adjudication.objects.filter(sample__audit=audit, decided_at__gt=checked_at).exists():
        return True
    return bool(state and state.requested_at and state.requested_at > checked_at)


@dataclass
class ReportState:
    snapshot: Snapshot | None
    stale: bool
    queued: bool  # a run is scheduled or running (broker mode)
    error: str


def report_state(audit: Audit, *, compute_if_stale: bool = True) -> ReportState:
    """The snapshot to show. Embedded mode (no broker): a missing or stale snapshot is
    recomputed here, as marks only flag it (see reports.aggregation). With a broker: the latest
    snapshot as it is, and whether a run is on its way."""
    snapshot = latest_snapshot(audit)
    state = AggregationState.objects.filter(audit=audit).first()
    stale = is_stale(audit, snapshot, state)
    if stale and compute_if_stale and aggregation.eager():
        aggregation.run(audit.pk, trigger=Snapshot.Trigger.VIEW)
        snapshot, stale = latest_snapshot(audit), False
        state = AggregationState.objects.filter(audit=audit).first()
    queued = bool(
        state
        and (
            state.scheduled_for
            or (
                state.started_at and (not state.finished_at or state.finished_at < state.started_at)
            )
        )
    )
    if stale and not queued and not aggregation.eager():
        # Nothing on its way (marks not wired to request_aggregation, a lost run): ask for one.
        aggregation.request_aggregation(audit.pk)
        queued = True
    return ReportState(snapshot, stale, queued, state.last_error if state else "")


def snapshot_history(audit: Audit, limit: int = 10) -> list[Snapshot]:
    """The latest snapshots, metadata only (each stays downloadable: snapshots are immutable)."""
    fields = ("id", "created_at", "trigger", "mark_count", "code_version", "duration_ms")
    return list(Snapshot.objects.filter(audit=audit).only(*fields)[:limit])

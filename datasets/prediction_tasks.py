"""The Celery task importing a web upload of predictions (config/celery.py discovers it)."""

from celery import shared_task


@shared_task
def import_predictions(run_id: int) -> int:
    """Import a queued model run; safe to run twice (the run is claimed). Returns its scores."""
    from .predictions import import_queued

    run = import_queued(run_id)
    return run.predictions_count if run else 0

import logging

from celery import shared_task
from django.conf import settings

logger = logging.getLogger(__name__)

# A transient failure (missing mount, full disk) is retried this many times, backing off;
# an unreadable file is recorded on the image and never retried.
WARM_MAX_RETRIES = 3


@shared_task(bind=True, max_retries=WARM_MAX_RETRIES, acks_late=True)
def warm_thumbnails(self, image_ids: list[int]) -> dict:
    """Render and cache the grid tiles (IMAGE_WARM_SIZES) of these images. Safe to run twice:
    existing renditions are kept. Reports progress as task state PROGRESS {done, total}.
    Run eagerly (no broker) it does not retry: it would only block the caller."""
    from .renditions import warm

    def progress(done: int, total: int) -> None:
        if self.request.id and not self.request.is_eager:
            self.update_state(state="PROGRESS", meta={"done": done, "total": total})

    result = warm(image_ids, progress=progress)
    logger.info(
        "warm_thumbnails: %s rendered, %s unreadable, %s to retry (attempt %s)",
        result.rendered, result.unreadable, len(result.retry or []), self.request.retries + 1,
    )  # fmt: skip
    if result.retry and not self.request.is_eager and self.request.retries < self.max_retries:
        raise self.retry(args=[result.retry], countdown=30 * 2**self.request.retries)
    return {
        "rendered": result.rendered,
        "unreadable": result.unreadable,
        "failed": len(result.retry or []),
    }


def warm_in_chunks(image_ids: list[int], *, key: str) -> int:
    """Queue warm_thumbnails over chunks of IMAGE_WARM_CHUNK ids, so several workers share a big
    sample set and a retry redoes one chunk, not all. Through the outbox (chunk n under
    `key:n`): a broker that is down now gets the chunks later, and a chunk still waiting is not
    queued twice. Returns the number of chunks."""
    from annotation.outbox import enqueue_after_commit

    size = max(1, settings.IMAGE_WARM_CHUNK)
    ids = sorted(set(image_ids))
    chunks = [ids[start : start + size] for start in range(0, len(ids), size)]
    for number, chunk in enumerate(chunks):
        enqueue_after_commit(warm_thumbnails.name, {"image_ids": chunk}, f"{key}:{number}")
    return len(chunks)

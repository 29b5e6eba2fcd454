"""python manage.py audit_report --audit ID --format csv|json|html --out FILE"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Audit
from reports import aggregation, exports, selectors
from reports.models import Snapshot


class Command(BaseCommand):
    help = "Write an audit's report (the latest snapshot, recomputed first if marks changed)."

    def add_arguments(self, parser):
        parser.add_argument("--audit", type=int, required=True, help="Audit id.")
        parser.add_argument("--format", choices=["csv", "json", "html"], default="csv")
        parser.add_argument("--out", required=True, help="File to write; - for standard output.")
        parser.add_argument(
            "--snapshot", type=int, help="Write this snapshot instead of the latest."
        )

    def handle(self, *args, audit, format, out, snapshot, **options):
        found = Audit.objects.select_related("dataset").filter(pk=audit).first()
        if found is None:
            raise CommandError(f"no audit with id {audit}")
        if snapshot is not None:
            try:
                chosen = selectors.snapshot_by_id(found, snapshot, matrices=True)
            except Snapshot.DoesNotExist:
                raise CommandError(f"audit {audit} has no snapshot {snapshot}") from None
        else:
            current = selectors.latest_snapshot(found)
            if selectors.is_stale(found, current):
                self.stderr.write("Marks changed since the last snapshot: recomputing...")
                aggregation.run(found.pk, trigger=Snapshot.Trigger.COMMAND)
            chosen = selectors.latest_snapshot(found, results=True, matrices=True)
        content, _ = exports.render(chosen, format)
        if out == "-":
            self.stdout.write(content)
        else:
            Path(out).write_text(content, encoding="utf-8")
            self.stderr.write(f"Wrote {format} report of snapshot {chosen.pk} to {out}")

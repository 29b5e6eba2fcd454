from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotation.models import Audit
from datasets.models import Dataset
from datasets.relabeled import RULES, ExportError, export_relabeled


class Command(BaseCommand):
    help = (
        "Write the relabeled label file of one audit (or of every audit of a dataset): the "
        "dataset's own format with red verdicts removed, plus provenance columns."
    )

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--audit", type=int, help="Audit id: only its verdicts count.")
        which.add_argument("--dataset", help="Dataset slug: the verdicts of all its audits.")
        parser.add_argument("--rule", choices=RULES, default="consensus")
        parser.add_argument("--out", required=True, type=Path, help="The file to write (.csv).")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        audit = None
        if options["audit"] is not None:
            audit = Audit.objects.select_related("dataset").filter(pk=options["audit"]).first()
            if audit is None:
                raise CommandError(f"no audit with id {options['audit']}")
            dataset = audit.dataset
        else:
            dataset = Dataset.objects.filter(slug=options["dataset"]).first()
            if dataset is None:
                raise CommandError(f"no dataset with slug {options['dataset']!r}")
        out: Path = options["out"]
        if not out.parent.is_dir():
            raise CommandError(f"{out.parent}: no such folder")
        source = Path(dataset.label_file) if dataset.label_file else None
        bar = tqdm(
            total=source.stat().st_size if source and source.is_file() else None,
            unit="B", unit_scale=True, desc=f"relabeling {dataset.name}",
            disable=options["no_progress"], file=self.stderr._out,
        )  # fmt: skip
        with bar:
            try:
                summary = export_relabeled(
                    dataset=dataset,
                    rule=options["rule"],
                    out=out,
                    audit=audit,
                    progress=lambda done: bar.update(done - bar.n),
                )
            except ExportError as error:
                raise CommandError(f"nothing written: {error}") from None
        scope = f"audit {audit.pk} ({audit.name})" if audit else f"every audit of {dataset.name}"
        self.stdout.write(self.style.SUCCESS(f"Wrote {out} (rule {options['rule']}, {scope})"))
        self.stdout.write(f"  rows:     {summary.rows:,}")
        self.stdout.write(f"  reviewed: {summary.reviewed:,}")
        self.stdout.write(f"  changed:  {summary.changed:,}")
        for name, count in sorted(summary.removed.items()):
            self.stdout.write(f"    {name} removed from {count:,}")
        if summary.missing:
            self.stdout.write(
                self.style.WARNING(
                    f"  {summary.missing:,} reviewed image(s) are not in {dataset.label_file}"
                )
            )

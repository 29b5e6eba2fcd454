from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from datasets.importers import LabelFileError
from datasets.models import Dataset
from datasets.predictions import FORMATS, upload_predictions


class Command(BaseCommand):
    help = "Upload a model's predictions for a dataset (CSV: image,label,score or one column per label)."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, help="Dataset slug.")
        parser.add_argument("--name", required=True, help="Name of the model run (new).")
        parser.add_argument(
            "--file", required=True, type=Path, help="Predictions (.csv or .csv.gz)."
        )
        parser.add_argument("--layout", choices=FORMATS, default="auto")
        parser.add_argument("--description", default="")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        dataset = Dataset.objects.filter(slug=options["dataset"]).first()
        if dataset is None:
            raise CommandError(f"no dataset with slug {options['dataset']!r}")
        bar = tqdm(
            total=path.stat().st_size, unit="B", unit_scale=True, desc=f"reading {path.name}",
            disable=options["no_progress"], file=self.stderr._out,
        )  # fmt: skip
        with bar:
            try:
                summary = upload_predictions(
                    dataset=dataset,
                    name=options["name"],
                    path=path,
                    fmt=options["layout"],
                    description=options["description"],
                    progress=lambda done: bar.update(done - bar.n),
                )
            except (LabelFileError, ValueError) as exc:
                raise CommandError(f"nothing imported: {exc}") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Model run {summary.run.name} (id {summary.run.pk}): {summary.predictions:,} "
                f"scores ({summary.layout} layout) on {summary.images:,} images, "
                f"labels {', '.join(summary.labels)}"
            )
        )

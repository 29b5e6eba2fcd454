"""python manage.py import_reference_accuracy --dataset SLUG FILE.csv"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from datasets.models import Dataset
from reports.references import ReferenceError, import_reference_csv


class Command(BaseCommand):
    help = "Set the paper's claimed accuracy per label from a CSV: label,accuracy[,source]."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, help="Dataset slug.")
        parser.add_argument("file", type=Path)

    def handle(self, *args, dataset, file, **options):
        found = Dataset.objects.filter(slug=dataset).first()
        if found is None:
            raise CommandError(f"no dataset with slug {dataset!r}")
        try:
            with open(file, "rb") as handle:
                changed = import_reference_csv(dataset=found, handle=handle, name=str(file))
        except OSError as error:
            raise CommandError(f"{file}: {error.strerror}") from None
        except ReferenceError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Claimed accuracy changed for {changed} label(s) of {found.name}.")

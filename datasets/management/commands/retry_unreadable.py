"""Forget why images were unreadable (after the files were fixed), so they are tried again."""

from django.core.management.base import BaseCommand, CommandError

from datasets.models import Dataset, Image
from datasets.renditions import clear_unreadable


class Command(BaseCommand):
    help = "Clear Image.unreadable_reason for a dataset's images, so they are decoded again."

    def add_arguments(self, parser):
        parser.add_argument("dataset", help="the dataset's slug")
        parser.add_argument("--reason", default="", help="only images whose reason contains this")

    def handle(self, *args, **options):
        dataset = Dataset.objects.filter(slug=options["dataset"]).first()
        if dataset is None:
            raise CommandError(f"no dataset with slug {options['dataset']!r}")
        images = Image.objects.filter(dataset=dataset)
        if options["reason"]:
            images = images.filter(unreadable_reason__contains=options["reason"])
        count = clear_unreadable(images)
        self.stdout.write(f"{dataset.slug}: {count} image(s) will be tried again")

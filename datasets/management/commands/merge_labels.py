from django.core.management.base import BaseCommand, CommandError

from datasets.models import Dataset
from datasets.services import merge_labels


class Command(BaseCommand):
    help = "Define a merged label (e.g. Opacity) whose images are those of any of its members."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, help="Dataset slug.")
        parser.add_argument("--name", required=True)
        parser.add_argument("--members", required=True, help="Comma-separated member label names.")

    def handle(self, *args, **options):
        try:
            dataset = Dataset.objects.get(slug=options["dataset"])
        except Dataset.DoesNotExist:
            raise CommandError(f"no dataset with slug {options['dataset']!r}") from None
        members = [name.strip() for name in options["members"].split(",") if name.strip()]
        try:
            label = merge_labels(dataset=dataset, name=options["name"], members=members)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        count = label.images().count()
        self.stdout.write(
            self.style.SUCCESS(
                f"{label.name} = {' | '.join(m.name for m in label.members.all())}: {count:,} images"
            )
        )

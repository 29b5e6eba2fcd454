from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from annotation.services import AuditError, create_audit
from datasets.models import Dataset


class Command(BaseCommand):
    help = "Create an audit of a dataset's labels and build its sample set; prints the audit id."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, help="The dataset's slug.")
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--labels", default="all", help='"all", or label names (or aliases) separated by ","'
        )
        parser.add_argument(
            "--per-label", default="126", help='Images per label, or "all" (default 126)'
        )
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--grid-size", type=int, default=18)
        parser.add_argument(
            "--no-patient-limit",
            action="store_true",
            help="Allow several images of one patient per label.",
        )
        parser.add_argument(
            "--sole-label", action="store_true", help="Only images whose sole label is this one."
        )
        parser.add_argument("--view", choices=["PA", "AP"], default="")
        parser.add_argument(
            "--not-blinded", action="store_true", help="Readers may see one another's marks."
        )
        parser.add_argument("--readers", default="", help="Usernames separated by ','")

    def handle(self, *args, **options):
        dataset = Dataset.objects.filter(slug=options["dataset"]).first()
        if dataset is None:
            known = ", ".join(Dataset.objects.values_list("slug", flat=True)) or "none"
            raise CommandError(f"no dataset with slug {options['dataset']!r} (known: {known})")
        per_label = _per_label(options["per_label"])
        labels = None if options["labels"].strip() == "all" else _labels(dataset, options["labels"])
        readers = _readers(options["readers"])
        try:
            with transaction.atomic():
                audit = create_audit(
                    dataset=dataset,
                    name=options["name"],
                    labels=labels,
                    per_label=per_label,
                    grid_size=options["grid_size"],
                    seed=options["seed"],
                    one_per_patient=not options["no_patient_limit"],
                    sole_label_only=options["sole_label"],
                    view_filter=options["view"],
                    blinded=not options["not_blinded"],
                    readers=readers,
                )
        except AuditError as error:
            raise CommandError(str(error)) from None
        audit.refresh_from_db()
        self.stderr.write(
            f"Audit {audit.name!r}: {audit.labels.count()} labels, "
            f"{audit.samples.count()} samples, {audit.get_status_display()}."
        )
        self.stdout.write(str(audit.pk))


def _per_label(value: str) -> int | None:
    if value.strip().lower() == "all":
        return None
    try:
        number = int(value)
    except ValueError:
        raise CommandError(f'--per-label must be a number or "all", not {value!r}') from None
    if number < 1:
        raise CommandError(f"--per-label must be at least 1, not {number}")
    return number


def _labels(dataset: Dataset, value: str):
    by_name = {}
    for label in dataset.labels.all():
        for spelling in (label.name, *label.aliases):
            by_name.setdefault(spelling.lower(), label)
    names = [name.strip() for name in value.split(",") if name.strip()]
    missing = [name for name in names if name.lower() not in by_name]
    if missing:
        known = ", ".join(dataset.labels.values_list("name", flat=True))
        raise CommandError(f"unknown label(s) {', '.join(missing)} (known: {known})")
    return list(dict.fromkeys(by_name[name.lower()] for name in names))


def _readers(value: str):
    names = [name.strip() for name in value.split(",") if name.strip()]
    users = list(get_user_model().objects.filter(username__in=names))
    missing = sorted(set(names) - {user.username for user in users})
    if missing:
        raise CommandError(f"unknown user(s) {', '.join(missing)}")
    return users

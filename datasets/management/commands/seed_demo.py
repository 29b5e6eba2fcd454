from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from datasets import demo
from datasets.services import import_dataset, merge_labels

DEMO_NAME = "NIH ChestX-ray14 (demo)"
PASSWORD = "labelaudit-demo"
DEMO_AUDIT = "Demo audit: every label"
USERS = (("admin", True), ("reader1", False), ("reader2", False))


class Command(BaseCommand):
    help = "Seed the demo: real NIH label rows with placeholder pictures, an admin and two readers."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Seed even with DEBUG off.")
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000/", help="Where the server will listen."
        )

    def handle(self, *args, **options):
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "seed_demo creates accounts with a known password: only with DEBUG on (or --force)"
            )
        root = settings.DATASET_ROOTS[0] / "nih-demo"
        root.mkdir(parents=True, exist_ok=True)
        keys = demo.slice_keys()
        with tqdm(total=len(keys), desc="placeholder radiographs", file=self.stderr._out) as bar:
            demo.write_placeholders(root, keys, progress=bar.update)
        summary = import_dataset(name=DEMO_NAME, fmt="chestxray14", labels=demo.SLICE, images=root)
        dataset = summary.dataset
        if not dataset.labels.filter(name="Opacity").exists():
            merge_labels(dataset=dataset, name="Opacity",
                         members=["Atelectasis", "Consolidation", "Infiltration", "Pneumonia"])  # fmt: skip
        self._users()
        audit = self._audit(dataset)
        self.stdout.write(self.style.SUCCESS(
            f"Demo dataset {dataset.name}: {summary.images:,} images of {summary.patients:,} patients "
            f"(real NIH labels, placeholder pictures)."
        ))  # fmt: skip
        self.stdout.write(
            f"Demo audit {audit.name!r}: {audit.samples.count():,} tiles, readers reader1 and reader2."
        )
        self.stdout.write(f"Log in at {options['url']} as:")
        for username, is_admin in USERS:
            role = "admin" if is_admin else "reader"
            self.stdout.write(f"  {username:<8} password {PASSWORD}   ({role})")

    def _users(self):
        User = get_user_model()
        for username, is_admin in USERS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"is_staff": is_admin, "is_superuser": is_admin}
            )
            if created:
                user.set_password(PASSWORD)
                user.save()

    def _audit(self, dataset):
        """A ready audit of every label (Opacity included), 36 images (2 grids) per label."""
        from annotation.models import Audit
        from annotation.services import build_sample_set, create_audit

        readers = list(get_user_model().objects.filter(username__in=["reader1", "reader2"]))
        audit = Audit.objects.filter(dataset=dataset, name=DEMO_AUDIT).first()
        if audit is None:
            audit = create_audit(
                dataset=dataset, name=DEMO_AUDIT, per_label=36, readers=readers, build=False
            )
        if audit.status != Audit.Status.READY:
            build_sample_set(audit=audit)
        return audit

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from datasets.importers import FORMATS, GenericOptions, LabelFileError
from datasets.paths import PathRefused
from datasets.services import import_dataset


class Command(BaseCommand):
    help = "Import a dataset's label file (and register its images by path; nothing is copied)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="Dataset name (created if new).")
        parser.add_argument("--format", required=True, choices=FORMATS)
        parser.add_argument(
            "--labels", required=True, type=Path, help="Label file (.csv or .csv.gz)."
        )
        parser.add_argument(
            "--images", type=Path, help="Folder the images live under (inside DATASET_ROOTS)."
        )
        generic = parser.add_argument_group("generic format")
        generic.add_argument("--path-column", default="path")
        generic.add_argument("--labels-column", help="One column holding separated label names.")
        generic.add_argument("--separator", default="|")
        generic.add_argument(
            "--label-columns", help="Comma-separated names of one-per-label columns."
        )
        generic.add_argument("--patient-column")
        generic.add_argument("--view-column")
        generic.add_argument("--sex-column")
        generic.add_argument("--age-column")
        parser.add_argument(
            "--no-progress", action="store_true", help="Do not draw a progress bar."
        )

    def handle(self, *args, **options):
        labels: Path = options["labels"]
        if not labels.is_file():
            raise CommandError(f"{labels}: no such file")
        generic_options = GenericOptions(
            path_column=options["path_column"],
            labels_column=options["labels_column"],
            separator=options["separator"],
            label_columns=tuple(
                name.strip() for name in (options["label_columns"] or "").split(",") if name.strip()
            ),
            patient_column=options["patient_column"],
            view_column=options["view_column"],
            sex_column=options["sex_column"],
            age_column=options["age_column"],
        )
        bar = tqdm(
            total=labels.stat().st_size, unit="B", unit_scale=True, desc=f"reading {labels.name}",
            disable=options["no_progress"], file=self.stderr._out,
        )  # fmt: skip
        with bar:
            try:
                summary = import_dataset(
                    name=options["name"],
                    fmt=options["format"],
                    labels=labels,
                    images=options["images"],
                    generic_options=generic_options,
                    progress=lambda done: bar.update(done - bar.n),
                    stage=lambda text: self._stage(bar, text, options["no_progress"]),
                )
            except (LabelFileError, PathRefused, ValueError) as exc:
                raise CommandError(f"nothing imported: {exc}") from None
        self._print_summary(summary)

    def _stage(self, bar, text: str, quiet: bool) -> None:
        """After the file is read the bar is full: say what the import does next."""
        if not quiet:
            bar.set_postfix_str(text, refresh=True)

    def _print_summary(self, summary):
        out = self.stdout
        out.write(
            self.style.SUCCESS(f"Imported {summary.dataset.name} (slug {summary.dataset.slug})")
        )
        out.write(f"  images:   {summary.images:,} ({summary.new_images:,} new)")
        out.write(f"  patients: {summary.patients:,}")
        out.write(f"  images whose file was not found: {summary.not_found:,}")
        if summary.ambiguous:
            out.write(f"  file names found more than once (first used): {len(summary.ambiguous):,}")
        out.write("  labels:")
        for name, count in summary.label_counts.items():
            out.write(f"    {name:<28} {count:>8,}")

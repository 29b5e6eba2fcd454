from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotation.models import Audit
from annotation.reads import FORMATS, ReadsError, import_reads, parse_mapping
from datasets.importers import LabelFileError


class Command(BaseCommand):
    help = (
        "Import reference reads (an expert panel's labels, another group's reads) into an audit "
        "as a named reader, so they enter every statistic like any reader."
    )

    def add_arguments(self, parser):
        parser.add_argument("--audit", type=int, required=True, help="Audit id.")
        parser.add_argument(
            "--reader", required=True, help="Name of the reader (a user nobody logs in as)."
        )
        parser.add_argument("--file", type=Path, required=True, help="The reads (.csv or .csv.gz).")
        parser.add_argument(
            "--format",
            required=True,
            choices=FORMATS,
            help="verdicts: image,label,verdict rows; presence: one YES/NO column per finding.",
        )
        parser.add_argument("--image-column", help="The column naming the image.")
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar='"Their name=Our label"',
            help="Their label name for one of the audit's labels (repeatable).",
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        audit = Audit.objects.filter(pk=options["audit"]).first()
        if audit is None:
            raise CommandError(f"no audit with id {options['audit']}")
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        quiet = options["no_progress"]
        reading = tqdm(
            total=path.stat().st_size, unit="B", unit_scale=True, desc=f"reading {path.name}",
            disable=quiet, file=self.stderr._out,
        )  # fmt: skip
        writing = tqdm(desc="writing marks", unit=" marks", disable=quiet, file=self.stderr._out)
        try:
            with reading, writing:
                summary = import_reads(
                    audit=audit,
                    reader_name=options["reader"],
                    path=path,
                    fmt=options["format"],
                    image_column=options["image_column"],
                    mapping=parse_mapping(options["map"]),
                    progress=lambda done: reading.update(done - reading.n),
                    write_progress=lambda done: writing.update(done - writing.n),
                )
        except (LabelFileError, ReadsError) as error:
            raise CommandError(f"nothing imported: {error}") from None
        out = self.stdout
        new = " (new reader)" if summary.created_reader else ""
        out.write(self.style.SUCCESS(f"Imported reads of {summary.reader}{new} into {audit.name}"))
        out.write(f"  rows in the file:   {summary.rows:,}")
        out.write(f"  reads of samples:   {summary.reads:,} of {summary.samples:,} samples")
        out.write(f"  marks changed:      {summary.changed:,}")
        out.write(f"  images not in the audit: {summary.unknown_images:,}")
        out.write(
            f"  reads of an audit image for a label it was not drawn for: {summary.not_sampled:,}"
        )
        if summary.unknown_labels:
            listed = ", ".join(
                f"{name} ({n:,})" for name, n in sorted(summary.unknown_labels.items())
            )
            out.write(f"  labels the audit does not have: {listed}")
        if summary.ignored_columns:
            out.write(f"  columns ignored (not findings): {', '.join(summary.ignored_columns)}")

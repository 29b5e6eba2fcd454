from django import forms

from datasets.models import Dataset, Label

from .models import Audit, Verdict
from .services import DEFAULT_TAGS, AuditError, check_tags


class MarkForm(forms.Form):
    """A tile's change. A field left out of the request leaves that part of the mark unchanged:
    `tags` count only with `tags_sent`, `note` only when present."""

    idempotency_key = forms.CharField(max_length=64)
    verdict = forms.ChoiceField(choices=[("", "clear"), *Verdict.choices], required=False)
    tags = forms.TypedMultipleChoiceField(coerce=int, required=False)
    tags_sent = forms.BooleanField(required=False)
    note = forms.CharField(required=False, max_length=2000, strip=True)

    def __init__(self, *args, tag_ids=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tags"].choices = [(pk, pk) for pk in tag_ids]

    def changes(self) -> dict:
        data = self.cleaned_data
        changes = {"idempotency_key": data["idempotency_key"]}
        if "verdict" in self.data:
            changes["verdict"] = data["verdict"]
        if data["tags_sent"]:
            changes["tags"] = data["tags"]
        if "note" in self.data:
            changes["note"] = data["note"]
        return changes


class AuditForm(forms.Form):
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.none())
    name = forms.CharField(max_length=200)
    labels = forms.ModelMultipleChoiceField(
        queryset=Label.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every label of the dataset.",
    )
    per_label = forms.IntegerField(
        min_value=1,
        required=False,
        initial=126,
        help_text="Images per label; empty: every image of the label. 126 = 7 grids of 18.",
    )
    grid_size = forms.IntegerField(min_value=1, max_value=60, initial=18)
    seed = forms.IntegerField(initial=7)
    one_per_patient = forms.BooleanField(
        required=False, initial=True, label="At most one image per patient per label"
    )
    sole_label_only = forms.BooleanField(
        required=False, label="Only images whose sole label is the audited one"
    )
    view_filter = forms.ChoiceField(choices=Audit.View.choices, required=False, label="View")
    blinded = forms.BooleanField(
        required=False, initial=True, label="Blinded: readers never see one another's marks"
    )
    # modelaudit: sanity controls. Model reviews are created from a model run's page.
    kind = forms.ChoiceField(
        choices=[(k, Audit.Kind(k).label) for k in (Audit.Kind.LABEL_REVIEW, Audit.Kind.SHUFFLED)],
        initial=Audit.Kind.LABEL_REVIEW,
        required=False,  # forms posted without it are label reviews
        help_text="A shuffled-labels control draws images whose labels were randomly permuted: "
        "the random-label check of the whole pipeline.",
    )
    decoy_percent = forms.FloatField(
        required=False, min_value=0, max_value=50, initial=0, label="Decoys (% of tiles)",
        help_text="Tiles from images NOT carrying the label, shown like the others, to measure "
        "each reader's vigilance; never counted in accuracy. 0: off; 5 is a good choice.",
    )  # fmt: skip
    readers = forms.CharField(
        required=False, help_text="Usernames separated by commas (more can be added later)."
    )
    tags = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        initial="\n".join(f"{name} = {key}" for name, key in DEFAULT_TAGS),
        label="Tags",
        help_text="What else readers may note on a tile, one per line: name = shortcut key.",
    )

    def __init__(self, *args, datasets, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dataset"].queryset = datasets
        self.fields["labels"].queryset = Label.objects.filter(dataset__in=datasets).select_related(
            "dataset"
        )
        self.fields["labels"].label_from_instance = lambda label: f"{label.dataset.slug}: {label}"

    def clean_tags(self) -> list[tuple[str, str]]:
        tags = []
        for number, line in enumerate(self.cleaned_data["tags"].splitlines(), start=1):
            if not line.strip():
                continue
            name, _, key = line.rpartition("=") if "=" in line else (line, "", "")
            name, key = name.strip(), key.strip()
            if not name:
                raise forms.ValidationError(f"line {number}: a tag needs a name before '='")
            tags.append((name, key))
        try:
            check_tags(tags)
        except AuditError as error:
            raise forms.ValidationError(str(error)) from None
        return tags

    def clean(self):
        data = super().clean()
        dataset, labels = data.get("dataset"), data.get("labels")
        if dataset and labels:
            strangers = [label.name for label in labels if label.dataset_id != dataset.pk]
            if strangers:
                self.add_error("labels", f"not labels of {dataset}: {', '.join(strangers)}")
        return data

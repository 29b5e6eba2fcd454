from django import forms

from annotation.models import Audit
from datasets.predictions import FORMATS


class PredictionsUploadForm(forms.Form):
    name = forms.CharField(
        max_length=200, help_text="A name for this model run, new in the dataset."
    )
    file = forms.FileField(
        help_text="CSV (or .csv.gz): image,label,score rows, or an image column and one column per label."
    )
    layout = forms.ChoiceField(choices=[(f, f) for f in FORMATS], initial="auto")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class ModelReviewForm(forms.Form):
    """A model-review audit of a run; one optional threshold field per label of the run."""

    name = forms.CharField(max_length=200)
    labels = forms.ModelMultipleChoiceField(
        queryset=None, required=False, widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every label of the run.",
    )  # fmt: skip
    per_cell = forms.IntegerField(
        min_value=1, initial=18, label="Images per cell per label",
        help_text="Drawn from each of TP, FP, FN and TN.",
    )  # fmt: skip
    grid_size = forms.IntegerField(min_value=1, max_value=60, initial=18)
    seed = forms.IntegerField(initial=7)
    one_per_patient = forms.BooleanField(required=False, initial=True)
    view_filter = forms.ChoiceField(choices=Audit.View.choices, required=False, label="View")
    blinded = forms.BooleanField(required=False, initial=True)
    readers = forms.CharField(required=False, help_text="Usernames separated by commas.")

    def __init__(self, *args, run, **kwargs):
        super().__init__(*args, **kwargs)
        self.run_labels = list(run.labels.order_by("name"))
        self.fields["labels"].queryset = run.labels.order_by("name")
        for label in self.run_labels:
            self.fields[f"threshold_{label.pk}"] = forms.FloatField(
                required=False, label=f"Threshold for {label.name}",
                help_text="Empty: the one maximising Youden's J.",
            )  # fmt: skip

    def thresholds(self) -> dict[int, float | None]:
        return {
            label.pk: self.cleaned_data.get(f"threshold_{label.pk}") for label in self.run_labels
        }

from django import forms

from .references import ReferenceError, parse_accuracy


class ReferenceForm(forms.Form):
    label_id = forms.IntegerField(widget=forms.HiddenInput)
    accuracy = forms.CharField(
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"size": 7, "placeholder": "0.85 or 85%"}),
    )
    source = forms.CharField(
        required=False, max_length=500, widget=forms.TextInput(attrs={"size": 50})
    )

    def clean_accuracy(self):
        try:
            return parse_accuracy(self.cleaned_data["accuracy"])
        except ReferenceError as error:
            raise forms.ValidationError(str(error)) from None


class _ReferenceFormSet(forms.BaseFormSet):
    def values(self):
        return [
            (
                form.cleaned_data["label_id"],
                form.cleaned_data["accuracy"],
                form.cleaned_data["source"],
            )
            for form in self.forms
        ]


ReferenceFormSet = forms.formset_factory(ReferenceForm, formset=_ReferenceFormSet, extra=0)


def reference_formset(labels, data=None):
    initial = [
        {
            "label_id": label.pk,
            "accuracy": "" if label.reference_accuracy is None else f"{label.reference_accuracy:g}",
            "source": label.reference_source,
        }
        for label in labels
    ]
    return ReferenceFormSet(data=data, initial=initial, prefix="ref")


class ReferenceCsvForm(forms.Form):
    file = forms.FileField(help_text="label,accuracy[,source] with a header row; 0.85 or 85%.")

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render

from .models import Dataset
from .services import summarise


@login_required
def dataset_detail(request, slug):
    dataset = get_object_or_404(Dataset, slug=slug)
    return render(
        request, "datasets/detail.html", {"dataset": dataset, "summary": summarise(dataset)}
    )

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from datasets.models import Dataset


@login_required
def home(request):
    return render(request, "home.html", {"datasets": Dataset.objects.all()})

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from annotation.access import visible_datasets
from annotation.selectors import reading_home


@login_required
def home(request):
    return render(
        request,
        "home.html",
        {"datasets": visible_datasets(request.user), **reading_home(request.user)},
    )

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from config import views
from config.health import healthz

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("", include("datasets.urls")),
    path("", include("annotation.urls")),
    path("", include("reports.urls")),
    path("", include("reports.model_urls")),  # modelaudit: model audits, strata, controls
    path("", include("annotation.people_urls")),
    path("api/", include("config.api_urls")),
]

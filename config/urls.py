from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from config import health
from config.views import favicon

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("favicon.ico", favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("cases.api.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
]

# JSON for unknown paths under /api/, Django's page elsewhere.
handler404 = "cases.api.views.not_found"
# templates/403.html, and one log line per refusal instead of Django's traceback.
handler403 = "cases.error_pages.permission_denied"

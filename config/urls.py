from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from config import health
from config.views import favicon

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("favicon.ico", favicon, name="favicon"),
    # Staff 2FA pages and the WebAuthn ceremony (cases/two_factor_views.py), before the admin.
    path(
        "admin/two-factor/webauthn/",
        include("django_otp_webauthn.urls", namespace="otp_webauthn"),
    ),
    path("admin/two-factor/", include("cases.two_factor_views")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("cases.api.urls")),
    path("portal/", include("cases.portal")),
    # Single sign-on (OpenID Connect); answers 404 unless configured (cases.sso).
    path("sso/", include("mozilla_django_oidc.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
]

# JSON for unknown paths under /api/, Django's page elsewhere.
handler404 = "cases.api.views.not_found"
# templates/403.html, and one log line per refusal instead of Django's traceback.
handler403 = "cases.error_pages.permission_denied"

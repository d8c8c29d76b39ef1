"""The audit views mounted as the case admin will mount them (before the admin's own URLs)."""

from django.contrib import admin
from django.urls import include, path

from cases.audit_views import audit_event_admin_urls, case_admin_urls

urlpatterns = [
    path("admin/cases/case/", include(case_admin_urls(admin.site))),
    path("admin/cases/auditevent/", include(audit_event_admin_urls(admin.site))),
    path("admin/", admin.site.urls),
]

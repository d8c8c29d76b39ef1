"""Building blocks shared by the admin modules (admin.py imports the others, so they live here)."""

from django.contrib import admin


class ReadOnlyInline(admin.TabularInline):
    """A table on the case page that only shows rows: services and workers write them."""

    extra = 0
    can_delete = False
    classes = ["pd-readonly"]  # admin.css hides the per-row captions these tables don't need

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

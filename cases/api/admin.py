"""Admin for API clients and webhook deliveries.

Clients are created, edited and revoked through `cases.api.clients` (audited); a new key and
webhook secret are shown once, in a message, and never again. Deliveries are read-only apart
from the re-send action.
"""

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from cases import webhooks
from cases.api import clients
from cases.audit import Actor
from cases.choices import ApiScope
from cases.models import ApiClient, WebhookDelivery


class ApiClientForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=ApiScope.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    webhook_url = forms.URLField(
        label="Webhook URL", max_length=500, required=False, assume_scheme="https",
        help_text=ApiClient._meta.get_field("webhook_url").help_text,
    )

    class Meta:
        model = ApiClient
        fields = ["name", "scopes", "webhook_url", "is_active"]


def _show_once(request: HttpRequest, what: str, value: str) -> None:
    messages.warning(
        request,
        format_html("{} for this client (shown once, copy it now): <code>{}</code>", what, value),
    )


# The foundation registered a read-only placeholder; this admin replaces it.
if admin.site.is_registered(ApiClient):
    admin.site.unregister(ApiClient)


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    form = ApiClientForm
    list_display = ["name", "key_prefix", "scope_list", "is_active", "revoked_at",
                    "webhook_url", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "key_prefix"]
    readonly_fields = ["key_prefix", "revoked_at", "created_at"]
    actions = ["revoke", "new_key", "new_webhook_secret"]

    def get_fields(self, request: HttpRequest, obj: ApiClient | None = None) -> list[str]:
        editable = ["name", "scopes", "webhook_url", "is_active"]
        return editable if obj is None else [*editable, *self.readonly_fields]

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # its cases and audit events refer to it: revoke instead

    @admin.display(description="Scopes")
    def scope_list(self, client: ApiClient) -> str:
        return ", ".join(client.scopes) or "—"

    def save_model(self, request: HttpRequest, obj: ApiClient, form, change: bool) -> None:
        actor = Actor.for_user(request.user)
        if change:
            clients.update_client(obj, form.changed_data, actor=actor)
            return
        credentials = clients.create_client(obj, actor=actor)
        _show_once(request, "API key", credentials.key)
        _show_once(request, "Webhook signing secret", credentials.webhook_secret)

    @admin.action(description="Revoke the selected clients' keys (permanent)",
                  permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiClient]) -> None:
        actor = Actor.for_user(request.user)
        revoked = sum(clients.revoke_client(client, actor=actor) for client in queryset)
        self.message_user(request, f"Revoked {revoked} client(s).", messages.SUCCESS)

    @admin.action(description="Issue a new key (the old one stops working)",
                  permissions=["change"])
    def new_key(self, request: HttpRequest, queryset: QuerySet[ApiClient]) -> None:
        for client in queryset:
            key = clients.rotate_key(client, actor=Actor.for_user(request.user))
            _show_once(request, f"New API key of {client.name}", key)

    @admin.action(description="Issue a new webhook signing secret", permissions=["change"])
    def new_webhook_secret(self, request: HttpRequest, queryset: QuerySet[ApiClient]) -> None:
        for client in queryset:
            secret = clients.rotate_webhook_secret(client, actor=Actor.for_user(request.user))
            _show_once(request, f"New webhook signing secret of {client.name}", secret)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "event", "client", "case_link", "status", "attempts",
                    "last_status_code", "next_attempt_at", "delivered_at"]
    list_filter = ["status", "event", "client"]
    search_fields = ["case__reference", "uuid"]
    list_select_related = ["client", "case"]
    fields = ["uuid", "client", "case_link", "event", "payload", "status", "attempts",
              "last_status_code", "last_error", "last_attempt_at", "next_attempt_at",
              "delivered_at", "created_at"]
    readonly_fields = fields
    actions = ["resend"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("cases.change_webhookdelivery")

    @admin.display(description="Case", ordering="case__reference")
    def case_link(self, delivery: WebhookDelivery) -> SafeString | str:
        if delivery.case_id is None:
            return "—"
        url = reverse("admin:cases_case_change", args=[delivery.case_id])
        return format_html('<a href="{}">{}</a>', url, delivery.case.reference)

    @admin.action(description="Re-send the selected deliveries", permissions=["resend"])
    def resend(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        for delivery in queryset:
            webhooks.resend(delivery, actor=Actor.for_user(request.user))
        self.message_user(request, f"Queued {len(queryset)} delivery(ies) again.",
                          messages.SUCCESS)

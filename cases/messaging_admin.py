"""The officers' side of messages: templates (edit, preview), the outbox, the case page section
and the case list filter. Writes go through `cases.messaging`."""

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from cases import messaging, security
from cases.admin_base import ReadOnlyInline
from cases.audit import Actor
from cases.choices import MessageStatus
from cases.models import Case, Message, MessageTemplate
from cases.templatetags.case_admin import acknowledgement_badge, message_status_badge


class MessageFilter(admin.SimpleListFilter):
    """Cases whose acknowledgement the law asks for and has not gone out, or whose mail failed."""

    title = "messages to the subject"
    parameter_name = "messages"

    def lookups(self, request, model_admin):
        return [
            ("ack_awaiting", "Acknowledgement not sent"),
            ("ack_overdue", "Acknowledgement overdue"),
            ("failed", "A message failed"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "ack_awaiting":
            return queryset.awaiting_acknowledgement()
        if self.value() == "ack_overdue":
            return queryset.acknowledgement_overdue()
        if self.value() == "failed":
            return queryset.with_failed_messages()
        return queryset


def acknowledgement_text(case: Case) -> SafeString | str:
    """The case page's line about the acknowledgement."""
    if case.acknowledged_at:
        return f"Acknowledged on {timezone.localtime(case.acknowledged_at):%Y-%m-%d %H:%M}."
    if case.acknowledge_by:
        return format_html("Not yet sent. {}", acknowledgement_badge(case))
    return "Not sent; this law sets no deadline to acknowledge receipt."


class MessageInline(ReadOnlyInline):
    """The case page's messages: what was sent, when, and why not."""

    model = Message
    verbose_name_plural = "messages to the subject"
    fields = ["message_link", "status_pill", "attempts", "queued_at", "sent_at", "last_error"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("recipient", "subject", "body")

    @admin.display(description="Message")
    def message_link(self, message: Message) -> SafeString:
        url = reverse("admin:cases_message_change", args=[message.pk])
        return format_html('<a href="{}">{}</a>', url, message)

    @admin.display(description="Status")
    def status_pill(self, message: Message) -> SafeString:
        return message_status_badge(message)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """The outbox: every message, read-only; a failed one can be sent again."""

    list_display = ["__str__", "case_link", "status_pill", "attempts", "queued_at", "sent_at",
                    "last_error"]
    list_filter = ["status", "kind"]
    search_fields = ["case__reference"]
    search_help_text = "Case reference."
    list_select_related = ["case"]
    actions = ["send_again"]
    fields = ["case_link", "kind", "status_pill", "recipient", "subject", "body_text",
              "body_sha256", "attempts", "last_error", "next_attempt_at", "queued_at", "sent_at"]
    readonly_fields = fields

    class Media:
        css = {"all": ["cases/admin.css"]}

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        # The list shows no text: leave it encrypted (and undecrypted) there.
        return queryset if request.resolver_match.url_name.endswith("_change") else (
            queryset.defer("recipient", "subject", "body")
        )

    def get_fields(self, request, obj=None):
        # The address and the text name the subject: a role that may not see contact data (an
        # auditor, unless AUDITOR_SEES_CONTACT_DATA) gets the record without them.
        if security.may_see_contact_data(request.user):
            return self.fields
        hidden = {"recipient", "subject", "body_text"}
        fields = [name for name in self.fields if name not in hidden]
        return [*fields[:3], "text_withheld", *fields[3:]]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    @admin.display(description="Recipient and text")
    def text_withheld(self, message: Message) -> str:
        return "Withheld: your role does not see the subject's contact data (the SHA-256 below " \
            "identifies the text)."

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_resend_permission(self, request) -> bool:
        return request.user.has_perm("cases.change_message")

    @admin.display(description="Case", ordering="case__reference")
    def case_link(self, message: Message) -> SafeString:
        url = reverse("admin:cases_case_change", args=[message.case_id])
        return format_html('<a href="{}">{}</a>', url, message.case.reference)

    @admin.display(description="Status", ordering="status")
    def status_pill(self, message: Message) -> SafeString:
        return message_status_badge(message)

    @admin.display(description="Body")
    def body_text(self, message: Message) -> SafeString:
        return format_html('<pre class="pd-message-text">{}</pre>', message.body)

    @admin.action(description="Send the selected failed messages again", permissions=["resend"])
    def send_again(self, request, queryset):
        actor = Actor.for_user(request.user)
        done = 0
        for message in queryset.filter(status=MessageStatus.FAILED):
            messaging.resend(message, actor=actor)
            done += 1
        self.message_user(request, f"{done} message(s) queued again.", messages.SUCCESS)


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    """One template per kind of message; officers edit the wording and preview it on a case."""

    list_display = ["__str__", "subject", "updated_at"]
    fields = ["kind", "subject", "body", "placeholders"]
    readonly_fields = ["kind", "placeholders"]

    def has_add_permission(self, request) -> bool:
        return False  # one per kind, shipped with the product

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Placeholders")
    def placeholders(self, template: MessageTemplate) -> SafeString:
        rows = format_html_join(
            "", "<li><code>{{{}}}</code>: {}</li>", messaging.PLACEHOLDERS.items()
        )
        return format_html(
            "<ul>{}</ul><p>Any other name in braces is refused. {{link}} exists only in "
            "verification and response messages, {{reason}} only in extension notices and "
            "rejections.</p>", rows,
        )

    def save_model(self, request, obj, form, change) -> None:
        messaging.save_template(obj, actor=Actor.for_user(request.user), fields=form.changed_data)

    def get_urls(self):
        preview = path("<path:object_id>/preview/", self.admin_site.admin_view(self.preview_view),
                       name="cases_messagetemplate_preview")
        return [preview, *super().get_urls()]

    def preview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The saved template rendered for a case the officer names by reference."""
        template = self.get_object(request, unquote(object_id))
        if template is None:
            raise Http404("No such template.")
        if not self.has_view_permission(request, template):
            raise PermissionDenied
        reference = request.GET.get("case", "").strip()
        rendered, problem = None, ""
        if reference:
            case = Case.objects.filter(reference=reference).first()
            if case is None:
                problem = f"No case with reference {reference}."
            else:
                rendered, problem = _preview(template, case)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": template,
            "title": f"Preview: {template}",
            "reference": reference,
            "rendered": rendered,
            "problem": problem,
            "example_reference": Case.objects.order_by("-id").values_list(
                "reference", flat=True).first(),
        }
        return TemplateResponse(request, "admin/cases/messagetemplate/preview.html", context)


def _preview(template: MessageTemplate, case: Case) -> tuple[tuple[str, str] | None, str]:
    # A link is made when the message is sent; the preview shows where it will point.
    example = {"link": f"{settings.PUBLIC_BASE_URL}/portal/…(made when sent)"}
    extra = {k: v for k, v in example.items() if f"{{{k}}}" in template.body + template.subject}
    try:
        return messaging.render(template, case, extra), ""
    except ValidationError as exc:
        return None, " ".join(exc.messages)

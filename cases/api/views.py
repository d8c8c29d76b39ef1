"""The ticketing system's endpoints under /api/v1/. Views parse, check scopes and call services.

A client sees the cases it opened; the `cases:all` scope widens that to every case. A case the
client may not see answers 404, exactly like one that does not exist.
"""

from collections.abc import Callable
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.defaults import page_not_found
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from cases import responses, services
from cases.api import intake
from cases.api.permissions import HasActionScope
from cases.api.serializers import (
    VALIDATION_ERROR_SCHEMA,
    AuditEventSerializer,
    CaseCreateSerializer,
    CaseFilterSerializer,
    CaseSerializer,
    ErrorSerializer,
)
from cases.audit import Actor
from cases.choices import ApiScope
from cases.models import ApiClient, AuditEvent, Case, Message, ResultFile, VendorJob
from cases.pagination import EstimatedCountPaginator

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 255
MAX_ID = 2**63  # bigint: a larger id cannot exist, and some databases refuse to compare it
NO_CASE = "No such case among the cases this API client can see."
NO_RESULT = "This case has no result file with that id."


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


COMMON_ERRORS = {
    401: _error("No key, a wrong key, or a revoked or suspended client."),
    403: _error("The key lacks the scope this operation needs (named in `detail`)."),
    429: _error("Too many requests from this client; see the `Retry-After` header."),
}
NOT_FOUND = {404: _error("No such case, or not one this client may see.")}
BAD_REQUEST = {400: OpenApiResponse(VALIDATION_ERROR_SCHEMA, description="A message per field.")}
CASE_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The case's id.")
RESULT_ID = OpenApiParameter("result_id", int, OpenApiParameter.PATH,
                             description="The result's id, from the case's `results`.")
IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
    OpenApiParameter.HEADER,
    description="Optional. A repeat with the same key replays the first response (status and "
    "body, with `Idempotent-Replayed: true`); the same key with a different body is a 409. "
    "Responses to invalid bodies (400) are not stored.",
)


# What the API shows of a case's related rows, in the order it shows them.
SHOWN_RELATED: dict[str, Callable[[], QuerySet]] = {
    "jobs": lambda: VendorJob.objects.order_by("vendor", "action", "id"),
    "results": lambda: ResultFile.objects.order_by("id"),
    # Only what the API shows: the encrypted text is never read (nor decrypted).
    "messages": lambda: Message.objects.only(
        "id", "case_id", "kind", "status", "sent_at", "queued_at"
    ).order_by("queued_at", "id"),
}


def attach_shown_related(cases: list[Case]) -> None:
    """A page's jobs, results and messages, one query each, put where `case.jobs.all()` finds
    them. `prefetch_related` does the same but builds a filtered queryset for every case and
    relation, which on a page of 50 cost more than the three queries; here each case gets plain
    lists, so these instances serve reading (serializing), not further querying."""
    by_id = {case.pk: case for case in cases}
    for case in cases:
        case._prefetched_objects_cache = {name: [] for name in SHOWN_RELATED}
    if not by_id:
        return
    for name, rows in SHOWN_RELATED.items():
        queryset = rows()
        to_case = queryset.model._meta.get_field("case")
        for row in queryset.filter(case_id__in=by_id):
            case = by_id[row.case_id]
            to_case.set_cached_value(row, case)
            case._prefetched_objects_cache[name].append(row)


class CasePagination(PageNumberPagination):
    """Pages of 50 (up to 200). `count` is exact, except for a whole table of more than
    ADMIN_COUNT_ESTIMATE_ABOVE cases on PostgreSQL, where it is the planner's estimate (an
    exact COUNT there reads every row) and `count_is_estimate` says so. Page by `next`."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    django_paginator_class = EstimatedCountPaginator

    def get_paginated_response(self, data: Any) -> Response:
        response = super().get_paginated_response(data)
        response.data = {"count": response.data.pop("count"),
                         "count_is_estimate": self.page.paginator.estimated, **response.data}
        return response

    def get_paginated_response_schema(self, schema: dict) -> dict:
        paginated = super().get_paginated_response_schema(schema)
        paginated["properties"] = {
            "count": paginated["properties"]["count"],
            "count_is_estimate": {
                "type": "boolean", "example": False,
                "description": "true when `count` is the database's estimate (a whole table of "
                               "more than ADMIN_COUNT_ESTIMATE_ABOVE cases on PostgreSQL)"},
            **{k: v for k, v in paginated["properties"].items() if k != "count"},
        }
        paginated["required"] = [*paginated.get("required", []), "count_is_estimate"]
        return paginated


class IgnoreAcceptHeader(BaseContentNegotiation):
    """A file download answers with the file whatever the client says it accepts."""

    def select_parser(self, request: Request, parsers: list) -> Any:
        return parsers[0]

    def select_renderer(self, request: Request, renderers: list,
                        format_suffix: str | None = None) -> tuple[Any, str]:
        return renderers[0], renderers[0].media_type


class CaseViewSet(viewsets.GenericViewSet):
    # Any path segment reaches the view, so a malformed id gets the API's JSON 404.
    lookup_value_regex = "[^/]+"
    serializer_class = CaseSerializer
    pagination_class = CasePagination
    permission_classes = [IsAuthenticated, HasActionScope]
    metadata_class = None  # no OPTIONS introspection: the OpenAPI schema documents the API
    required_scopes = {
        "list": ApiScope.CASES_READ,
        "retrieve": ApiScope.CASES_READ,
        "events": ApiScope.CASES_READ,
        "create": ApiScope.CASES_WRITE,
        "submit": ApiScope.CASES_WRITE,
        "download": ApiScope.RESULTS_READ,
    }

    @property
    def client(self) -> ApiClient:
        return self.request.auth

    def visible_cases(self) -> QuerySet[Case]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no client
            return Case.objects.none()
        cases = Case.objects.all()
        if not self.client.has_scope(ApiScope.CASES_ALL):
            cases = cases.filter(api_client=self.client)
        return cases

    def get_object(self) -> Case:
        return _get_or_404(self.get_queryset(), self.kwargs["pk"], NO_CASE)

    def get_queryset(self) -> QuerySet[Case]:
        # A fixed number of queries whatever the page size: jobs, results and messages in three.
        return self.cases_only().prefetch_related(
            *(Prefetch(name, queryset=rows()) for name, rows in SHOWN_RELATED.items())
        )

    def cases_only(self) -> QuerySet[Case]:
        return responses.with_response_state(self.visible_cases()).order_by("id")

    @extend_schema(
        summary="List cases",
        parameters=[CaseFilterSerializer],
        responses={200: CaseSerializer(many=True), **BAD_REQUEST, **COMMON_ERRORS,
                   404: _error("No such page.")},
        description="The client's cases, oldest first (a stable order by id), 50 a page by "
        "default. Requires `cases:read`.",
    )
    def list(self, request: Request) -> Response:
        filters = CaseFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        page = self.paginate_queryset(_filtered(self.cases_only(), filters.validated_data))
        attach_shown_related(page)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        summary="Read a case",
        parameters=[CASE_ID],
        responses={200: CaseSerializer, **NOT_FOUND, **COMMON_ERRORS},
        description="Status, deadline, vendor jobs and results. Requires `cases:read`.",
    )
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        summary="Open a case from a ticket",
        request=CaseCreateSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            201: CaseSerializer,
            200: OpenApiResponse(CaseSerializer, description="The same `external_ref` again "
                                 "with the same body: the existing case, nothing created."),
            **BAD_REQUEST,
            409: _error("The `external_ref` or `Idempotency-Key` was used with another body."),
            **COMMON_ERRORS,
        },
        description="Requires `cases:write`. `verification` says how the subject's identity is "
        "checked: `{\"method\": \"email_link\"}` emails the subject a link to "
        "`/portal/verify/<token>/` and the case waits in `new` until they press Confirm; any "
        "other method (with its `note`) records that it was checked. `submit: true` sends the "
        "case to the vendors without an officer's review: at once (without `verification` the "
        "caller vouches: `ticketing_system`), or, with `email_link`, when the subject confirms. "
        "Subject, identities and the note are stored encrypted and are never returned.",
    )
    def create(self, request: Request) -> HttpResponse:
        key = _idempotency_key(request)
        body = CaseCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        outcome = intake.open_case(
            self.client, body.validated_data, idempotency_key=key, render=self._render
        )
        response = HttpResponse(outcome.body, status=outcome.status,
                                content_type="application/json")
        if outcome.case_id:
            response["Location"] = request.build_absolute_uri(
                reverse("api:case-detail", args=[outcome.case_id])
            )
        if outcome.replayed:
            response["Idempotent-Replayed"] = "true"
        return response

    def _render(self, case: Case) -> bytes:
        # A case intake has just written whole (intake.as_written) needs no re-read.
        if not getattr(case, "rendered_as_written", False):
            case = self.get_queryset().get(pk=case.pk)
        return JSONRenderer().render(self.get_serializer(case).data)

    @extend_schema(
        summary="Send a case to the vendors now",
        parameters=[CASE_ID],
        request=None,
        responses={200: CaseSerializer, **NOT_FOUND,
                   409: _error("Nothing is left to send (the case is completed, closed or "
                               "rejected, or every job was sent already), or its status does not "
                               "allow it (e.g. on hold); `detail` says why. Nothing changes."),
                   **COMMON_ERRORS},
        description="Plans the vendor jobs and queues them; a resubmission adds only missing "
        "jobs and queues those still waiting. A `new` case is first recorded as verified by "
        "the caller (`ticketing_system`), except one waiting for the subject to confirm an "
        "email link (409). A failed job is sent again by an officer (Retry), "
        "not by resubmitting. Requires `cases:write`.",
    )
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: str) -> Response:
        case = services.vouch_and_submit(self.get_object(), actor=Actor.for_client(self.client))
        return Response(self.get_serializer(self.get_queryset().get(pk=case.pk)).data)

    @extend_schema(
        summary="The case's audit trail",
        parameters=[CASE_ID],
        responses={200: AuditEventSerializer(many=True), **NOT_FOUND, **COMMON_ERRORS},
        description="Every recorded event of the case, in order (ids and codes, no personal "
        "data). Paginated like the case list. Requires `cases:read`.",
    )
    @action(detail=True, methods=["get"], serializer_class=AuditEventSerializer)
    def events(self, request: Request, pk: str) -> Response:
        case = _get_or_404(self.visible_cases(), pk, NO_CASE)
        page = self.paginate_queryset(AuditEvent.objects.filter(case=case).order_by("seq"))
        return self.get_paginated_response(AuditEventSerializer(page, many=True).data)

    @extend_schema(
        summary="Download a result file",
        parameters=[CASE_ID, RESULT_ID],
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description=(
                "The file, streamed, as an attachment. Check it against `sha256`.")),
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            **NOT_FOUND, **COMMON_ERRORS,
        },
        description="Every download is recorded in the case's audit trail with this client as "
        "the actor. Requires `results:read`.",
    )
    @action(detail=True, methods=["get"], url_path=r"results/(?P<result_id>[^/]+)/download",
            content_negotiation_class=IgnoreAcceptHeader)
    def download(self, request: Request, pk: str, result_id: str) -> FileResponse:
        case = _get_or_404(self.visible_cases(), pk, NO_CASE)
        result = _get_or_404(case.results.all(), result_id, NO_RESULT)
        try:
            handle = result.file.open("rb")
        except (FileNotFoundError, ValueError):
            raise Http404("The file is no longer stored (purged after its retention).") from None
        services.record_result_download(result, actor=Actor.for_client(self.client))
        content_type = "application/zip" if result.name.endswith(".zip") else (
            "application/octet-stream"
        )
        return FileResponse(handle, as_attachment=True, filename=result.name,
                            content_type=content_type)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's 404 handler: JSON under /api/ (clients parse it), the usual page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)


def _filtered(cases: QuerySet[Case], filters: dict) -> QuerySet[Case]:
    for field in ("status", "regulation", "external_ref"):
        if filters.get(field):
            cases = cases.filter(**{field: filters[field]})
    overdue = filters.get("overdue")
    if overdue is True:
        cases = cases.filter(pk__in=Case.objects.overdue().values("pk"))
    elif overdue is False:
        cases = cases.exclude(pk__in=Case.objects.overdue().values("pk"))
    return cases


def _get_or_404(queryset: QuerySet, value: str, message: str):
    """The row with path id `value`; anything else (not a number, out of bigint range, absent or
    not visible to this client) is a 404 that says what was not found."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    found = queryset.filter(pk=number).first() if 0 < number < MAX_ID else None
    if found is None:
        raise NotFound(message)
    return found


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise serializers.ValidationError(
            {IDEMPOTENCY_HEADER: [f"Use at most {MAX_IDEMPOTENCY_KEY} characters."]}
        )
    return key or None


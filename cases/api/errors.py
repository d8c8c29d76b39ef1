"""How domain errors read over HTTP: a service's ValidationError is a 400 per field, a refused
workflow move (TransitionError) and an idempotency clash are 409, all as JSON."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from cases.models import TransitionError


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the case."
    default_code = "conflict"


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "message_dict") else {
            "non_field_errors": exc.messages
        }
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, TransitionError):
        exc = Conflict(str(exc))
    return drf_exception_handler(exc, context)

"""The staff 2FA pages under /admin/two-factor/: enrol and manage devices, and verify at sign-in.

`TwoFactorMiddleware` lets these pages through, so each guards itself: a user who has a device
but has not used it in this session may only verify (else a stolen password could enrol the
thief's own app). The WebAuthn ceremony endpoints are django-otp-webauthn's views, mounted
under the same prefix (config/urls.py), with the browser side in its own static script.
"""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from cases import two_factor
from cases.audit import Actor
from cases.security import has_second_factor, is_strongly_authenticated


class CodeForm(forms.Form):
    token = forms.CharField(
        label="Code",
        max_length=32,
        strip=True,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}
        ),
    )


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("admin:index")


def _page(request: HttpRequest, template: str, title: str, **context) -> HttpResponse:
    context = {**admin.site.each_context(request), "title": title, **context}
    return render(request, f"two_factor/{template}", context)


def _must_verify_first(request: HttpRequest) -> HttpResponse | None:
    if has_second_factor(request.user) and not is_strongly_authenticated(request):
        return HttpResponseRedirect(reverse("two_factor:verify"))
    return None


@never_cache
@staff_member_required
def index_view(request: HttpRequest) -> HttpResponse:
    if response := _must_verify_first(request):
        return response
    user = request.user
    return _page(
        request,
        "index.html",
        "Two-factor authentication",
        apps=TOTPDevice.objects.devices_for_user(user, confirmed=True).order_by("pk"),
        keys=WebAuthnCredential.objects.devices_for_user(user, confirmed=True).order_by("pk"),
        recovery_left=two_factor.recovery_codes_left(user),
        enrolled=has_second_factor(user),
        require_2fa=settings.REQUIRE_2FA,
        next_url=_next_url(request),
    )


@never_cache
@staff_member_required
def totp_view(request: HttpRequest) -> HttpResponse:
    if response := _must_verify_first(request):
        return response
    enrolment = two_factor.pending_totp(request.user)
    form = CodeForm(request.POST or None)
    if form.is_valid():
        actor = Actor.for_user(request.user)
        if two_factor.confirm_totp(enrolment.device, form.cleaned_data["token"], actor=actor):
            if not is_strongly_authenticated(request):
                request.session.cycle_key()
                otp_login(request, enrolment.device)
            messages.success(request, "Authenticator app added.")
            if two_factor.recovery_codes_left(request.user) == 0:
                return _recovery_codes_page(request)
            return HttpResponseRedirect(reverse("two_factor:index"))
        form.add_error(
            "token",
            "That code is not right. Check the app's clock and try again; after a wrong code "
            "each try waits a little longer.",
        )
    return _page(request, "totp.html", "Add an authenticator app", enrolment=enrolment, form=form)


def _recovery_codes_page(request: HttpRequest) -> HttpResponse:
    codes = two_factor.regenerate_recovery_codes(request.user, actor=Actor.for_user(request.user))
    return _page(request, "recovery_codes.html", "Recovery codes", codes=codes)


@never_cache
@staff_member_required
@require_POST
def recovery_codes_view(request: HttpRequest) -> HttpResponse:
    if response := _must_verify_first(request):
        return response
    if not has_second_factor(request.user):
        messages.error(request, "Add an authenticator app or a security key first.")
        return HttpResponseRedirect(reverse("two_factor:index"))
    return _recovery_codes_page(request)


@never_cache
@staff_member_required
@require_POST
def remove_view(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    if response := _must_verify_first(request):
        return response
    model = two_factor.DEVICE_KINDS.get(kind)
    if model is None:
        raise Http404
    device = get_object_or_404(model, pk=pk, user=request.user)
    two_factor.remove_device(device, actor=Actor.for_user(request.user))
    messages.success(request, "Removed.")
    return HttpResponseRedirect(reverse("two_factor:index"))


@never_cache
@staff_member_required
def verify_view(request: HttpRequest) -> HttpResponse:
    next_url = _next_url(request)
    if not has_second_factor(request.user):
        return HttpResponseRedirect(reverse("two_factor:index"))
    if is_strongly_authenticated(request):
        return HttpResponseRedirect(next_url)
    form = CodeForm(request.POST or None)
    if form.is_valid():
        actor = Actor.for_user(request.user)
        device = two_factor.verify_code(request.user, form.cleaned_data["token"], actor=actor)
        if device is not None:
            request.session.cycle_key()
            otp_login(request, device)
            return HttpResponseRedirect(next_url)
        form.add_error(
            "token",
            "That code is not right, or was used already. After several wrong codes each try "
            "waits longer.",
        )
    has_key = WebAuthnCredential.objects.devices_for_user(request.user, confirmed=True).exists()
    return _page(
        request, "verify.html", "Second factor", form=form, next_url=next_url, has_key=has_key
    )


app_name = "two_factor"
urlpatterns = [
    path("", index_view, name="index"),
    path("verify/", verify_view, name="verify"),
    path("app/", totp_view, name="totp"),
    path("recovery-codes/", recovery_codes_view, name="recovery_codes"),
    path("<slug:kind>/<int:pk>/remove/", remove_view, name="remove"),
]

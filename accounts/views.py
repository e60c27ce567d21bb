from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from settings_portal.htmx import is_fragment, render_confirm, render_in_modal
from settings_portal.http import client_ip
from settings_portal.inline_edit import inline_edit_view
from settings_portal.tips import SESSION_FLAG

from . import ratelimit, services
from .forms import CloudAccessForm, HiddenArgsForm, PreferenceToggleForm, SignInForm, UsernameForm
from .models import CloudAccess, User
from .services import PREFERENCE_FIELDS

PREFERENCE_LABELS = {
    "show_hidden_projects": (
        "Show Hidden Projects",
        "Show ClearML infrastructure projects alongside your own projects.",
    ),
    "hide_examples": (
        "Don't show ClearML examples",
        "Hide the preloaded ClearML example content (project, pipeline, dataset, etc.).",
    ),
    "disable_hidpi_override": (
        "Disable HiDPI browser scale override",
        "The portal adapts its scale on high-density screens. Disable for the default desktop scale.",
    ),
    "hide_pro_tips": ("Don't show pro tips periodically", "Stop showing usage tips on sign-in."),
    "block_scripts": (
        "Block running user's scripts in the browser",
        "Serve your pages under a stricter Content-Security-Policy: no embedded frames, media or "
        "third-party images. Debug samples and embedded report resources will not display.",
    ),
    "share_telemetry": (
        "Share anonymous telemetry",
        "Self-hosted only. Off by default; nothing is sent unless you turn this on.",
    ),
}


class SignInView(auth_views.LoginView):
    """Sign-in with a limit on failed attempts per address and login."""

    form_class = SignInForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        # A fresh install is closed (no sign-up) until an operator creates an administrator.
        context["no_admin_yet"] = not User.objects.filter(is_staff=True, is_active=True).exists()
        return context

    def post(self, request, *args, **kwargs):
        self.rate_subject = ratelimit.subject(request.POST.get("username", ""))
        if ratelimit.is_limited(client_ip(request), self.rate_subject):
            form = self.get_form()
            form.rate_limited = True
            form.is_valid()  # only to show the error: the password is not checked
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        ratelimit.record_failure(client_ip(self.request), self.rate_subject)
        return self.render_to_response(self.get_context_data(form=form), status=422)

    def form_valid(self, form):
        ratelimit.reset(client_ip(self.request), self.rate_subject)
        response = super().form_valid(form)
        self.request.session[SESSION_FLAG] = True
        return response


class PasswordResetView(auth_views.PasswordResetView):
    """Password reset whose emailed link is built on PORTAL_BASE_URL, never on the Host header."""

    template_name = "accounts/password_reset.html"
    email_template_name = "accounts/email/password_reset.txt"
    subject_template_name = "accounts/email/password_reset_subject.txt"

    def form_valid(self, form):
        self.extra_email_context = {"base_url": settings.PORTAL_BASE_URL}
        return super().form_valid(form)


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("accounts:login")
    return redirect("accounts:profile")


@login_required
@vary_on_headers("HX-Request")
def profile(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/profile.html")


@login_required
@require_http_methods(["GET", "POST"])
def profile_username(request: HttpRequest) -> HttpResponse:
    """Inline username edit: GET ?edit=1 gives the input, POST saves (htmx or a plain form)."""
    return inline_edit_view(
        request,
        key="username-field",
        form=UsernameForm,
        initial={"username": request.user.username},
        save=lambda data: services.user_change_username(user=request.user, username=data["username"]),
        fragment="accounts/profile.html#username-field",
        context=dict,
        page=lambda status, **inline: render(request, "accounts/profile.html", inline, status=status),
        saved_url=reverse("accounts:profile"),
        saved_message="Username saved.",
        reset=lambda: request.user.refresh_from_db(fields=["username"]),
    )


def _configuration_context(request: HttpRequest, **extra) -> dict:
    prefs = services.preferences_get(user=request.user)
    toggles = [
        {
            "field": field,
            "label": PREFERENCE_LABELS[field][0],
            "help": PREFERENCE_LABELS[field][1],
            "value": getattr(prefs, field),
        }
        for field in PREFERENCE_FIELDS
        if field != "share_telemetry"
    ]
    return {
        "preferences": prefs,
        "toggles": toggles,
        "telemetry": {
            "field": "share_telemetry",
            "label": PREFERENCE_LABELS["share_telemetry"][0],
            "help": PREFERENCE_LABELS["share_telemetry"][1],
            "value": prefs.share_telemetry,
        },
        "cloud_entries": CloudAccess.objects.filter(user=request.user),
        **extra,
    }


@login_required
def configuration(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/configuration.html", _configuration_context(request))


@login_required
@require_POST
def preference_toggle(request: HttpRequest, field: str) -> HttpResponse:
    if field not in PREFERENCE_FIELDS:
        raise Http404("No such preference")
    form = PreferenceToggleForm(request.POST)
    form.is_valid()
    prefs = services.preferences_update(user=request.user, **{field: form.cleaned_data.get("value", False)})
    if is_fragment(request):
        toggle = {
            "field": field,
            "label": PREFERENCE_LABELS[field][0],
            "help": PREFERENCE_LABELS[field][1],
            "value": getattr(prefs, field),
            "saved": True,
        }
        response = render(request, "accounts/configuration.html#preference-toggle", {"toggle": toggle})
        if field in {"block_scripts", "disable_hidpi_override"}:
            # These change how the whole page is served: reload it.
            return HttpResponseClientRedirect(reverse("accounts:configuration"))
        return response
    messages.success(request, "Preference saved.")
    return redirect("accounts:configuration")


@login_required
@require_http_methods(["GET", "POST"])
def hidden_args_edit(request: HttpRequest) -> HttpResponse:
    prefs = services.preferences_get(user=request.user)
    template = "accounts/hidden_args_form.html"
    if request.method == "GET":
        form = HiddenArgsForm(initial={"names": "\n".join(prefs.hidden_container_args)})
        return render(
            request, template + ("#hidden-args-form" if is_fragment(request) else ""), {"form": form}
        )
    form = HiddenArgsForm(request.POST)
    if form.is_valid():
        try:
            names = services.parse_hidden_args(form.cleaned_data["names"])
            services.hidden_args_update(user=request.user, names=names)
        except ValidationError as exc:
            form.add_error("names", exc.message_dict.get("names", exc.messages))
    if not form.is_valid():
        return render_in_modal(
            request, template + ("#hidden-args-form" if is_fragment(request) else ""), {"form": form}
        )
    if is_fragment(request):
        return render(
            request,
            "accounts/configuration.html#hidden-args",
            _configuration_context(request, hidden_args_saved=True),
        )
    messages.success(request, "Hidden container arguments saved.")
    return redirect("accounts:configuration")


@login_required
@require_http_methods(["GET", "POST"])
def cloud_access_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    entry = get_object_or_404(CloudAccess, pk=pk, user=request.user) if pk is not None else None
    template = "accounts/cloud_access_form.html"
    fragment = template + "#cloud-access-form" if is_fragment(request) else template
    if request.method == "GET":
        return render(request, fragment, {"form": CloudAccessForm(instance=entry), "entry": entry})
    form = CloudAccessForm(request.POST, instance=entry or CloudAccess(user=request.user))
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.cloud_access_save(
                user=request.user,
                entry=entry,
                bucket=data["bucket"],
                key=data["key"],
                secret=data["secret"],
                region=data["region"],
                endpoint=data["endpoint"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
    if not form.is_valid():
        return render_in_modal(request, fragment, {"form": form, "entry": entry})
    if is_fragment(request):
        return render(request, "accounts/configuration.html#cloud-access", _configuration_context(request))
    messages.success(request, "Storage access saved.")
    return redirect("accounts:configuration")


@login_required
@require_http_methods(["GET", "POST"])
def cloud_access_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete a storage access entry, after a confirmation (GET shows it)."""
    entry = get_object_or_404(CloudAccess, pk=pk, user=request.user)
    if request.method == "GET":
        return render_confirm(
            request,
            title="Delete storage access",
            text=f"Delete the access entry for {entry.bucket}?",
            action=reverse("accounts:cloud-access-delete", args=[entry.pk]),
            button="Delete",
            cancel=reverse("accounts:configuration"),
            target="#cloud-access",
        )
    services.cloud_access_delete(user=request.user, entry=entry)
    if is_fragment(request):
        return render(request, "accounts/configuration.html#cloud-access", _configuration_context(request))
    messages.success(request, "Storage access deleted.")
    return redirect("accounts:configuration")

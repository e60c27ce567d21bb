"""Identity Providers (administrators) and SSO sign-in (public)."""

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.forms import BooleanField
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import reswap, retarget, trigger_client_event

from settings_portal.htmx import is_fragment, render_in_modal
from settings_portal.http import client_ip
from settings_portal.middleware import BASE_POLICY, build_policy
from settings_portal.tips import SESSION_FLAG
from workspaces.models import Role
from workspaces.scoping import WorkspaceRequest, workspace_view
from workspaces.selectors import membership_find

from . import oidc, saml, selectors, services
from .forms import OPENSSL_HINT, ConnectionForm, connection_id_from, discovery_fill, providers_for
from .models import PROVIDER_LABELS, IdentityConnection, Protocol
from .net import UnsafeURL, check_url

LIST = "identity/connection_list.html"
FORM = "identity/connection_form.html"
CONFIRM = "identity/connection_delete.html"


def _connection(request: WorkspaceRequest, pk) -> IdentityConnection:
    return get_object_or_404(IdentityConnection.objects.for_workspace(request.workspace), pk=pk)


def _changed(request: WorkspaceRequest) -> HttpResponse:
    """After a change: the fresh table (htmx, dialog closed) or back to the page."""
    if is_fragment(request):
        context = {"connections": selectors.connection_list(workspace=request.workspace)}
        response = render(request, f"{LIST}#connection-table", context)
        retarget(response, "#connection-table")
        reswap(response, "outerHTML")
        return trigger_client_event(response, "closeModal")
    return redirect("identity:connection-list", request.workspace.slug)


@workspace_view(role=Role.ADMIN)
@require_GET
@vary_on_headers("HX-Request")
def connection_list(request: WorkspaceRequest) -> HttpResponse:
    template = LIST + ("#connection-table" if is_fragment(request) else "")
    return render(request, template, {"connections": selectors.connection_list(workspace=request.workspace)})


def _form_response(request, context, status=200) -> HttpResponse:
    template = FORM + ("#connection-form" if is_fragment(request) else "")
    if status != 200:
        return render_in_modal(request, template, context, status=status)
    return render(request, template, context)


def _addresses(form: ConnectionForm, protocol: str, connection_id) -> dict:
    """What the administrator registers at the provider before saving: built on the WebApp URL
    the form holds now (the page's script rebuilds them as it is edited)."""
    if connection_id is None:
        return {}
    webapp_url = form["webapp_url"].value() if "webapp_url" in form.fields else ""
    try:
        base = _origin(webapp_url)
    except ValueError:
        base = settings.PORTAL_BASE_URL
    preview = IdentityConnection(pk=connection_id, protocol=protocol, webapp_url=base)
    if protocol == Protocol.OIDC:
        callback = oidc.callback_url(preview)
        return {"callback_url": callback, "callback_path": callback[len(preview.base_url) :]}
    acs, metadata = saml.acs_url(preview), saml.metadata_url(preview)
    return {
        "callback_url": acs,
        "callback_path": acs[len(preview.base_url) :],
        "metadata_url": metadata,
        "metadata_path": metadata[len(preview.base_url) :],
    }


def _origin(value) -> str:
    """The WebApp URL as typed, reduced to scheme://host[:port] for the preview."""
    parts = urlsplit(str(value or "").strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("not a URL")
    return f"{parts.scheme}://{parts.netloc}"


def _form_context(request, form, protocol, connection=None, **extra) -> dict:
    connection_id = connection.pk if connection else connection_id_from(form["connection_id"].value())
    return {
        "form": form,
        "protocol": protocol,
        "connection": connection,
        "provider_label": PROVIDER_LABELS.get(form["provider"].value(), "Custom"),
        "param_fields": [form[param.field_name] for param in form.params],
        "preset_note": form.preset.note,
        "openssl_hint": OPENSSL_HINT,
        **_addresses(form, protocol, connection_id),
        **extra,
    }


def _chooser(request, protocol: str, provider: str, error: str = "", status: int = 200) -> HttpResponse:
    """Step one: a protocol, then one of its providers (the list follows the protocol)."""
    protocol = protocol if protocol in Protocol.values else Protocol.OIDC
    providers = providers_for(protocol)
    context = {
        "choose": True,
        "protocol": protocol,
        "providers": providers,
        "provider": provider if provider in dict(providers) else providers[0][0],
        "error": error,
    }
    return _form_response(request, context, status=status)


def _discover(request, form_kwargs: dict, protocol: str, connection=None) -> HttpResponse:
    """Read from issuer: fill the endpoints from the discovery document and show the form again
    (htmx swaps only the endpoints, so what was typed elsewhere stays); nothing is saved."""
    posted = ConnectionForm(request.POST, **form_kwargs)  # fills the preset's {tokens} in
    values = {key: posted.data.get(key) for key in posted.data}
    for name, field in posted.fields.items():
        if isinstance(field, BooleanField):
            values[name] = name in posted.data
    message = ""
    if not values.get("issuer"):
        message = "Fill in the issuer URL first."
    else:
        try:
            check_url(values["issuer"])
            message = discovery_fill(values, only_blank=False)
        except UnsafeURL as exc:
            message = str(exc)
    form = ConnectionForm(initial=values, **form_kwargs)
    discovery = {
        "ok": not message,
        "message": message or "Endpoints read from the issuer: check them, then save.",
    }
    return _form_response(request, _form_context(request, form, protocol, connection, discovery=discovery))


@workspace_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
def connection_create(request: WorkspaceRequest) -> HttpResponse:
    protocol = request.POST.get("protocol") or request.GET.get("protocol", "")
    provider = request.POST.get("provider") or request.GET.get("provider", "")
    if protocol not in Protocol.values or "choose" in request.GET:
        return _chooser(request, protocol, provider)
    if provider not in dict(providers_for(protocol)):
        return _chooser(
            request,
            protocol,
            provider,
            error=f"Choose one of the {Protocol(protocol).label} providers.",
            status=422,
        )
    kwargs = {"protocol": protocol, "provider": provider, "workspace": request.workspace}
    if request.method == "POST" and "discover" in request.POST:
        return _discover(request, kwargs, protocol)
    saving = request.method == "POST" and "save" in request.POST
    form = ConnectionForm(request.POST if saving else None, request.FILES if saving else None, **kwargs)
    if saving:
        if form.is_valid():
            connection = services.connection_save(form=form, workspace=request.workspace, actor=request.user)
            messages.success(
                request,
                f"Connection {connection.name} created. Test it with Test Provider, then turn it on to show "
                "it on the sign-in page.",
            )
            return _changed(request)
        return _form_response(request, _form_context(request, form, protocol), status=422)
    return _form_response(request, _form_context(request, form, protocol))


@workspace_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
def connection_edit(request: WorkspaceRequest, pk) -> HttpResponse:
    connection = _connection(request, pk)
    kwargs = {"protocol": connection.protocol, "workspace": request.workspace, "instance": connection}
    if request.method == "POST" and "discover" in request.POST:
        return _discover(request, kwargs, connection.protocol, connection)
    form = ConnectionForm(
        request.POST if request.method == "POST" else None,
        request.FILES if request.method == "POST" else None,
        **kwargs,
    )
    if request.method == "POST":
        if form.is_valid():
            services.connection_save(form=form, workspace=request.workspace, actor=request.user)
            messages.success(request, f"Connection {connection.name} saved.")
            return _changed(request)
        return _form_response(
            request, _form_context(request, form, connection.protocol, connection), status=422
        )
    return _form_response(request, _form_context(request, form, connection.protocol, connection))


@workspace_view(role=Role.ADMIN)
@require_POST
def connection_toggle(request: WorkspaceRequest, pk) -> HttpResponse:
    connection = _connection(request, pk)
    enabled = request.POST.get("enabled") in ("on", "true", "1")
    services.connection_set_enabled(connection=connection, actor=request.user, enabled=enabled)
    return _changed(request)


@workspace_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
def connection_delete(request: WorkspaceRequest, pk) -> HttpResponse:
    connection = _connection(request, pk)
    if request.method == "POST":
        services.connection_delete(connection=connection, actor=request.user)
        messages.success(request, f"Connection {connection.name} deleted.")
        return _changed(request)
    template = CONFIRM + ("#confirm-form" if is_fragment(request) else "")
    return render(request, template, {"connection": connection})


@workspace_view(role=Role.ADMIN)
@require_GET
def connection_test(request: WorkspaceRequest, pk) -> HttpResponse:
    """Test Provider: a real round trip to the provider that shows what a sign-in would do."""
    connection = _connection(request, pk)
    if connection.protocol == Protocol.SAML:
        try:
            return _send_to_idp(request, saml.start(request.session, connection, test_by=request.user))
        except saml.SAMLError as exc:
            return _test_result(request, connection, error=str(exc))
    return redirect(oidc.start(request.session, connection, test_by=request.user))


# --- Sign-in ------------------------------------------------------------------------------------


def _safe_next(request, value: str) -> str:
    """A local path to go to after sign-in; anything else (other hosts, //host, schemes) is dropped."""
    local = value.startswith("/") and not value.startswith("//") and "\\" not in value
    if local and url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()}):
        return value
    return ""


@require_GET
def oidc_start(request, pk) -> HttpResponse:
    connection = get_object_or_404(
        IdentityConnection.objects.dangerously_all(), pk=pk, enabled=True, protocol=Protocol.OIDC
    )
    next_url = _safe_next(request, request.GET.get("next", ""))
    return redirect(oidc.start(request.session, connection, next_url=next_url))


def _refused(request, message: str, status: int = 400) -> HttpResponse:
    return render(request, "identity/sign_in_error.html", {"message": message}, status=status)


@require_GET
def oidc_callback(request, pk) -> HttpResponse:
    connection = get_object_or_404(
        IdentityConnection.objects.dangerously_all(), pk=pk, protocol=Protocol.OIDC
    )
    try:
        flow = oidc.take_flow(request.session, connection, request.GET.get("state", ""))
    except oidc.OIDCError as exc:
        return _refused(request, str(exc))
    testing = bool(flow["test_by"])
    if testing:
        if not _may_see_test(request, connection, flow["test_by"]):
            return _refused(request, "This test was started by someone else.", status=403)
    elif not connection.enabled:
        return _refused(request, "This sign-in option is turned off.")
    if request.GET.get("error"):
        return _refused(request, f"The identity provider refused: {request.GET['error'][:100]}")
    try:
        claims, token = oidc.finish(connection, flow, request.GET.get("code", ""))
    except oidc.OIDCError as exc:
        if testing:
            return _test_result(request, connection, error=str(exc))
        return _refused(request, str(exc))
    try:
        plan = services.sign_in_plan(connection=connection, claims=claims)
    except services.SignInRefused as exc:
        if testing:
            return _test_result(request, connection, claims=claims, error=str(exc))
        return _refused(request, str(exc), status=403)
    if testing:
        return _test_result(request, connection, claims=claims, plan=plan)
    try:
        user = services.sign_in_apply(connection=connection, plan=plan, ip_address=client_ip(request))
    except services.SignInRefused as exc:
        return _refused(request, str(exc), status=403)
    login(request, user, backend="accounts.backends.EmailOrUsernameBackend")
    oidc.remember_tokens(request.session, connection, token)
    request.session[SESSION_FLAG] = True
    request.session["workspace_id"] = str(connection.workspace_id)
    return redirect(flow["next"] or reverse("accounts:profile"))


def _may_see_test(request, connection: IdentityConnection, test_by: str) -> bool:
    """Only the administrator who started a Test Provider run sees its result."""
    return (
        request.user.is_authenticated
        and str(request.user.pk) == test_by
        and (membership := membership_find(workspace=connection.workspace, user=request.user)) is not None
        and membership.role >= Role.ADMIN
    )


def _test_result(request, connection, *, claims=None, plan=None, error="") -> HttpResponse:
    mapped = plan.mapped if plan else (services.map_claims(connection, claims) if claims else None)
    context = {
        "connection": connection,
        "claims": sorted((claims or {}).items()),
        "mapped": mapped,
        "plan": plan,
        "error": error,
        "workspace": connection.workspace,
    }
    return render(request, "identity/connection_test.html", context)


# --- SAML ---------------------------------------------------------------------------------------


def _saml_connection(pk, **extra) -> IdentityConnection:
    return get_object_or_404(
        IdentityConnection.objects.dangerously_all(), pk=pk, protocol=Protocol.SAML, **extra
    )


@require_GET
def saml_metadata(request, pk) -> HttpResponse:
    """The SP metadata an administrator gives their IdP (no secrets in it)."""
    connection = _saml_connection(pk)
    try:
        xml = saml.metadata(connection)
    except saml.SAMLError as exc:
        return _refused(request, str(exc))
    return HttpResponse(xml, content_type="application/samlmetadata+xml")


@require_GET
def saml_start(request, pk) -> HttpResponse:
    connection = _saml_connection(pk, enabled=True)
    try:
        begin = saml.start(
            request.session, connection, next_url=_safe_next(request, request.GET.get("next", ""))
        )
    except saml.SAMLError as exc:
        return _refused(request, str(exc))
    return _send_to_idp(request, begin)


def _send_to_idp(request, begin: saml.Start) -> HttpResponse:
    """A redirect (HTTP-Redirect binding) or a self-submitting form (HTTP-POST binding); the form's
    page lets forms go to the IdP and nowhere else."""
    if not begin.is_post:
        return redirect(begin.url)
    response = render(request, "identity/saml_post.html", {"begin": begin})
    parts = urlsplit(begin.url)
    policy = {**BASE_POLICY, "form-action": f"'self' {parts.scheme}://{parts.netloc}"}
    response["Content-Security-Policy"] = build_policy(policy)
    return response


@csrf_exempt  # the IdP's POST is cross-site by design; the response itself is signed and checked
@require_http_methods(["GET", "POST"])
def saml_acs(request, pk) -> HttpResponse:
    """POST: keep the response and continue on a same-site GET (the SameSite=Lax session cookie is
    not sent on the IdP's cross-site POST). GET: validate it with the session back."""
    connection = _saml_connection(pk)
    if request.method == "POST":
        try:
            key = saml.stash(request.POST.get("SAMLResponse", ""))
        except saml.SAMLError as exc:
            return _refused(request, str(exc))
        # RelayState is ignored: where to go next was stored in the session at the start.
        return redirect(f"{reverse('identity:saml-acs', args=[connection.pk])}?continue={key}")
    test_by = saml.pending(request.session, connection).get("test_by", "")
    if test_by and not _may_see_test(request, connection, test_by):
        return _refused(request, "This test was started by someone else.", status=403)
    if not test_by and not connection.enabled:
        return _refused(request, "This sign-in option is turned off.")
    claims = None
    try:
        claims, flow = saml.finish(request.session, connection, saml.unstash(request.GET.get("continue", "")))
        plan = services.sign_in_plan(connection=connection, claims=claims)
    except saml.SAMLError as exc:
        if test_by:
            return _test_result(request, connection, error=str(exc))
        return _refused(request, str(exc))
    except services.SignInRefused as exc:
        if test_by:
            return _test_result(request, connection, claims=claims, error=str(exc))
        return _refused(request, str(exc), status=403)
    if test_by:
        return _test_result(request, connection, claims=claims, plan=plan)
    next_url = flow.get("next", "")
    try:
        user = services.sign_in_apply(connection=connection, plan=plan, ip_address=client_ip(request))
    except services.SignInRefused as exc:
        return _refused(request, str(exc), status=403)
    login(request, user, backend="accounts.backends.EmailOrUsernameBackend")
    request.session[SESSION_FLAG] = True
    request.session["workspace_id"] = str(connection.workspace_id)
    return redirect(next_url or reverse("accounts:profile"))

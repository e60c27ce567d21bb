"""The SERVICE ACCOUNTS table, the editing panel (name, impersonation, groups, credentials) and delete."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import trigger_client_event

from settings_portal.caching import shows_secret_once
from settings_portal.forms import form_add_service_error
from settings_portal.htmx import (
    is_fragment,
    render_confirm,
    render_dialog_invalid,
    render_fragment_or_page,
    render_in_modal,
    render_shown_once,
    table_changed,
)
from workspaces import credentials as credential_services
from workspaces.forms import CredentialLabelForm
from workspaces.models import Credential, Role
from workspaces.scoping import WorkspaceRequest, workspace_view

from .. import selectors, services
from ..forms import ServiceAccountEditForm, ServiceAccountForm
from ..models import BuiltinGroup, ServiceAccount, UserGroup
from . import query_of

SERVICE_ACCOUNTS_PAGE_SIZE = 50
LIST = "access/service_account_list.html"
EDIT = "access/service_account_edit.html"
CHANGED = "service-accounts-changed"


def _service_account_context(request: WorkspaceRequest, query: str = "", page_number=None) -> dict:
    workspace = request.workspace
    page = Paginator(
        selectors.service_account_list(workspace=workspace, query=query), SERVICE_ACCOUNTS_PAGE_SIZE
    ).get_page(page_number)
    accounts = list(page.object_list)
    names = selectors.group_names_by_user(workspace=workspace, user_ids=[a.user_id for a in accounts])
    for account in accounts:
        account.groups = selectors.row_groups(role=account.role, names=names.get(account.user_id, []))
    return {"page": page, "accounts": accounts, "query": query}


@workspace_view(role=Role.ADMIN)
@require_GET
@vary_on_headers("HX-Request")
def service_account_list(request: WorkspaceRequest) -> HttpResponse:
    context = _service_account_context(request, query_of(request), request.GET.get("page"))
    return render_fragment_or_page(request, LIST, "service-account-table", context)


def _credentials_shown(request, *, account, credential, secret, title) -> HttpResponse:
    context = {
        "account": account,
        "credential": credential,
        "title": title,
        "configuration": credential_services.configuration_text(credential=credential, secret=secret),
        "jupyter": credential_services.jupyter_text(credential=credential, secret=secret),
    }
    return render_shown_once(
        request, "access/service_account_credentials.html", "credentials-shown", context, events=(CHANGED,)
    )


@shows_secret_once
@workspace_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
def service_account_create(request: WorkspaceRequest) -> HttpResponse:
    template = "access/service_account_form.html"
    if request.method == "GET":
        return render_fragment_or_page(
            request, template, "service-account-form", {"form": ServiceAccountForm()}
        )
    form = ServiceAccountForm(request.POST)
    created = None
    if form.is_valid():
        try:
            created = services.service_account_create(
                workspace=request.workspace,
                actor=request.user,
                name=form.cleaned_data["name"],
                allow_impersonation=form.cleaned_data["allow_impersonation"],
            )
        except ValidationError as exc:
            form_add_service_error(form, exc)
    if created is None:
        return render_dialog_invalid(request, template, "service-account-form", {"form": form})
    account, credential, secret = created
    return _credentials_shown(
        request,
        account=account,
        credential=credential,
        secret=secret,
        title=f"Service account {account.name}",
    )


def _account(request: WorkspaceRequest, pk: int) -> ServiceAccount:
    return get_object_or_404(
        ServiceAccount.objects.for_workspace(request.workspace).select_related("user"), pk=pk
    )


def _group_choices(workspace) -> list[tuple[int, str]]:
    groups = selectors.builtin_groups(workspace=workspace)
    users = groups[BuiltinGroup.USERS].pk
    return [
        (g.pk, g.name) for g in UserGroup.objects.for_workspace(workspace).exclude(pk=users).order_by("name")
    ]


def _account_groups(account: ServiceAccount) -> list[int]:
    groups = selectors.user_group_ids(workspace=account.workspace, user=account.user)
    users = selectors.builtin_groups(workspace=account.workspace)[BuiltinGroup.USERS].pk
    return sorted(groups - {users})


def _edit_context(account: ServiceAccount, form=None, saved: bool = False, label_form=None) -> dict:
    form = form or ServiceAccountEditForm(
        initial={
            "name": account.name,
            "allow_impersonation": account.allow_impersonation,
            "groups": _account_groups(account),
        },
        group_choices=_group_choices(account.workspace),
    )
    return {
        "account": account,
        "form": form,
        "credentials": selectors.service_account_credentials(account=account),
        "label_form": label_form or CredentialLabelForm(),
        "saved": saved,
    }


def _panel_changed(request: WorkspaceRequest, account: ServiceAccount, **context) -> HttpResponse:
    """The editing panel again (it stays open), and the table behind it refreshes."""
    response = render_in_modal(
        request, f"{EDIT}#service-account-panel", _edit_context(account, **context), status=200
    )
    return trigger_client_event(response, CHANGED)


@workspace_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def service_account_edit(request: WorkspaceRequest, pk: int) -> HttpResponse:
    """The editing panel: rename, impersonation, groups, its credentials."""
    account = _account(request, pk)
    if request.method == "GET":
        return render_fragment_or_page(request, EDIT, "service-account-panel", _edit_context(account))
    form = ServiceAccountEditForm(request.POST, group_choices=_group_choices(request.workspace))
    if form.is_valid():
        try:
            services.service_account_update(
                account=account,
                actor=request.user,
                name=form.cleaned_data["name"],
                allow_impersonation=form.cleaned_data["allow_impersonation"],
            )
            services.user_groups_set(
                workspace=request.workspace,
                actor=request.user,
                user=account.user,
                group_ids=form.cleaned_data["groups"],
            )
        except (ValidationError, PermissionDenied) as exc:
            form_add_service_error(form, exc)
    if not form.is_valid():
        account.refresh_from_db()
        return render_dialog_invalid(request, EDIT, "service-account-panel", _edit_context(account, form))
    if is_fragment(request):
        return _panel_changed(request, account, saved=True)
    messages.success(request, f"Service account {account.name} saved.")
    return redirect("access:service-account-edit", request.workspace.slug, account.pk)


@shows_secret_once
@workspace_view(role=Role.ADMIN)
@require_POST
def service_account_credential_create(request: WorkspaceRequest, pk: int) -> HttpResponse:
    account = _account(request, pk)
    form = CredentialLabelForm(request.POST)
    if form.is_valid():
        try:
            credential, secret = services.service_account_credential_create(
                account=account, actor=request.user, label=form.cleaned_data["label"]
            )
        except ValidationError as exc:
            form_add_service_error(form, exc)
    if not form.is_valid():
        return render_dialog_invalid(
            request, EDIT, "service-account-panel", _edit_context(account, label_form=form)
        )
    return _credentials_shown(
        request,
        account=account,
        credential=credential,
        secret=secret,
        title=f"New credentials for {account.name}",
    )


def _account_credential(request: WorkspaceRequest, account: ServiceAccount, credential_pk: int) -> Credential:
    return get_object_or_404(
        Credential.objects.for_workspace(request.workspace).active(), pk=credential_pk, user=account.user
    )


@workspace_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
def service_account_credential_revoke(request: WorkspaceRequest, pk: int, credential_pk: int) -> HttpResponse:
    """Revoke one of the account's credentials, after a confirmation (GET shows it)."""
    account = _account(request, pk)
    credential = _account_credential(request, account, credential_pk)
    edit_url = reverse("access:service-account-edit", args=[request.workspace.slug, account.pk])
    if request.method == "GET":
        return render_confirm(
            request,
            title="Revoke credentials",
            text=f"Revoke {credential.access_key}{f' ({credential.label})' if credential.label else ''} of "
            f"{account.name}? Agents using it fail at once. This cannot be undone.",
            action=reverse(
                "access:service-account-credential-revoke",
                args=[request.workspace.slug, account.pk, credential.pk],
            ),
            button="Revoke",
            cancel=edit_url,
        )
    services.service_account_credential_revoke(account=account, actor=request.user, credential=credential)
    if is_fragment(request):
        # The confirmation sits in the dialog where the panel was: the panel comes back, updated.
        return _panel_changed(request, account)
    messages.success(request, f"Credentials {credential.access_key} revoked.")
    return redirect(edit_url)


@workspace_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
def service_account_delete(request: WorkspaceRequest, pk: int) -> HttpResponse:
    account = _account(request, pk)
    list_url = reverse("access:service-account-list", args=[request.workspace.slug])
    if request.method == "GET":
        return render_confirm(
            request,
            title="Delete service account",
            text=f"Delete {account.name}? Its credentials are revoked and agents using them fail at once. "
            "What it logged stays.",
            action=reverse("access:service-account-delete", args=[request.workspace.slug, account.pk]),
            button="Delete",
            target="#service-account-table",
            cancel=list_url,
        )
    name = account.name
    services.service_account_delete(account=account, actor=request.user)
    return table_changed(
        request,
        LIST,
        "service-account-table",
        _service_account_context(request),
        page_url=list_url,
        message=f"Service account {name} deleted; its credentials are revoked.",
    )

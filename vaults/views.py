from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from settings_portal.htmx import is_fragment, render_confirm, render_dialog_invalid, render_fragment_or_page
from workspaces.models import Role
from workspaces.scoping import WorkspaceRequest, workspace_view

from . import selectors, services
from .forms import GroupVaultForm, ToggleForm, VaultContentForm
from .models import Vault, VaultFormat

CONTENT_TYPES = {
    VaultFormat.HOCON: "text/plain; charset=utf-8",
    VaultFormat.JSON: "application/json; charset=utf-8",
    VaultFormat.YAML: "application/yaml; charset=utf-8",
}


# -- the member's own vault ------------------------------------------------------------------


def _user_vault_context(request: WorkspaceRequest, **extra) -> dict:
    return {
        "workspace": request.workspace,
        "vault": selectors.user_vault_get(workspace=request.workspace, user=request.user),
        **extra,
    }


@workspace_view()
@require_GET
@vary_on_headers("HX-Request")
def user_vault(request: WorkspaceRequest) -> HttpResponse:
    if is_fragment(request):
        return render(request, "vaults/_user_vault.html", _user_vault_context(request))
    return render(request, "vaults/user_vault.html", _user_vault_context(request))


@workspace_view()
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def user_vault_edit(request: WorkspaceRequest) -> HttpResponse:
    """The editor: GET shows it (in the dialog, or as a page), POST saves the text."""
    vault = selectors.user_vault_get(workspace=request.workspace, user=request.user)
    template = "vaults/user_vault_form.html"
    if request.method == "GET":
        initial = {"format": vault.format, "content": vault.content} if vault else {}
        form = VaultContentForm(initial=initial)
        return render_fragment_or_page(request, template, "vault-editor", {"form": form})

    form = VaultContentForm(request.POST)
    if form.is_valid():
        try:
            services.user_vault_save(
                workspace=request.workspace,
                user=request.user,
                actor=request.user,
                fmt=form.cleaned_data["format"],
                content=form.cleaned_data["content"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
    if not form.is_valid():
        return render_dialog_invalid(request, template, "vault-editor", {"form": form})
    if is_fragment(request):
        return render(request, "vaults/_user_vault.html", _user_vault_context(request, saved=True))
    messages.success(request, "Vault saved.")
    return redirect("vaults:user-vault", request.workspace.slug)


@workspace_view()
@require_POST
def user_vault_toggle(request: WorkspaceRequest) -> HttpResponse:
    form = ToggleForm(request.POST)
    form.is_valid()
    enabled = form.cleaned_data.get("enabled", False)
    services.user_vault_set_enabled(
        workspace=request.workspace, user=request.user, actor=request.user, enabled=enabled
    )
    if is_fragment(request):
        return render(request, "vaults/_user_vault.html", _user_vault_context(request, saved=True))
    messages.success(request, "Vault enabled." if enabled else "Vault disabled.")
    return redirect("vaults:user-vault", request.workspace.slug)


@workspace_view()
@require_GET
def effective_config(request: WorkspaceRequest) -> HttpResponse:
    """The merged result of the vaults that apply to a member; admins may pick any member."""
    subject = request.user
    user_id = request.GET.get("user", "").strip()
    if user_id and user_id not in {str(request.user.pk), request.user.pk.hex}:
        if not request.membership.is_admin:
            raise PermissionDenied("Only administrators see other members' effective configuration.")
        subject = selectors.member_user_get(workspace=request.workspace, user_id=user_id)
        if subject is None:
            raise Http404("No such member")
    result = selectors.effective_configuration(workspace=request.workspace, user=subject, viewer=request.user)
    context = {
        "subject": subject,
        "result": result,
        "members": selectors.member_list(workspace=request.workspace)
        if request.membership.is_admin
        else None,
    }
    return render(request, "vaults/effective_config.html", context)


# -- administrator vaults ----------------------------------------------------------------


def _table_context(request: WorkspaceRequest, **extra) -> dict:
    return {"vaults": selectors.group_vault_list(workspace=request.workspace), **extra}


def _render_table(request: WorkspaceRequest, **extra) -> HttpResponse:
    return render(request, "vaults/vault_list.html#vault-table", _table_context(request, **extra))


@workspace_view(role=Role.ADMIN)
@require_GET
@vary_on_headers("HX-Request")
def vault_list(request: WorkspaceRequest) -> HttpResponse:
    template = "vaults/vault_list.html"
    if is_fragment(request):
        template += "#vault-table"
    return render(request, template, _table_context(request))


def _get_vault(request: WorkspaceRequest, pk) -> Vault:
    try:
        return selectors.vault_get(workspace=request.workspace, pk=pk)
    except Vault.DoesNotExist:
        raise Http404("No such vault") from None


def _form_response(request: WorkspaceRequest, form, vault: Vault | None) -> HttpResponse:
    return render_dialog_invalid(
        request, "vaults/vault_form.html", "vault-form", {"form": form, "vault": vault}
    )


@workspace_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def vault_create(request: WorkspaceRequest) -> HttpResponse:
    return _vault_form(request, vault=None)


@workspace_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def vault_edit(request: WorkspaceRequest, pk) -> HttpResponse:
    return _vault_form(request, vault=_get_vault(request, pk))


def _vault_form(request: WorkspaceRequest, *, vault: Vault | None) -> HttpResponse:
    """The one group-vault dialog: create (VAULT None) or edit; the table again once saved."""
    editing = vault is not None
    if request.method == "GET":
        initial = (
            {"name": vault.name, "group": vault.group, "format": vault.format, "content": vault.content}
            if editing
            else None
        )
        form = GroupVaultForm(initial=initial, workspace=request.workspace, editing=editing)
        return render_fragment_or_page(
            request, "vaults/vault_form.html", "vault-form", {"form": form, "vault": vault}
        )
    form = GroupVaultForm(request.POST, request.FILES, workspace=request.workspace, editing=editing)
    if form.is_valid():
        fields = {
            "actor": request.user,
            "name": form.cleaned_data["name"],
            "group": form.cleaned_data["group"],
            "fmt": form.cleaned_data["format"],
            "content": form.cleaned_data["content"],
        }
        try:
            if editing:
                services.group_vault_update(vault=vault, **fields)
            else:
                services.group_vault_create(
                    workspace=request.workspace, enabled=form.cleaned_data.get("enabled", False), **fields
                )
        except ValidationError as exc:
            form.add_error(None, exc)
    if not form.is_valid():
        return _form_response(request, form, vault)
    if is_fragment(request):
        return _render_table(request)
    messages.success(request, "Vault saved." if editing else "Vault created.")
    return redirect("vaults:vault-list", request.workspace.slug)


@workspace_view(role=Role.ADMIN)
@require_POST
def vault_toggle(request: WorkspaceRequest, pk) -> HttpResponse:
    vault = _get_vault(request, pk)
    form = ToggleForm(request.POST)
    form.is_valid()
    enabled = form.cleaned_data.get("enabled", False)
    services.vault_set_enabled(vault=vault, actor=request.user, enabled=enabled)
    if is_fragment(request):
        return _render_table(request)
    messages.success(request, f"Vault {vault.name} {'enabled' if enabled else 'disabled'}.")
    return redirect("vaults:vault-list", request.workspace.slug)


@workspace_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
def vault_delete(request: WorkspaceRequest, pk) -> HttpResponse:
    """Delete, after a confirmation (GET shows it)."""
    vault = _get_vault(request, pk)
    if request.method == "GET":
        group = f" of the {vault.group.name} group" if vault.group else ""
        return render_confirm(
            request,
            title="Delete vault",
            text=f"Delete the vault “{vault.name}”{group}? Its settings stop applying at the clients' next session.",
            action=reverse("vaults:vault-delete", args=[request.workspace.slug, vault.pk]),
            button="Delete",
            cancel=reverse("vaults:vault-list", args=[request.workspace.slug]),
            target="#vault-table",
        )
    services.vault_delete(vault=vault, actor=request.user)
    if is_fragment(request):
        return _render_table(request)
    messages.success(request, f"Vault {vault.name} deleted.")
    return redirect("vaults:vault-list", request.workspace.slug)


@workspace_view(role=Role.ADMIN)
@require_GET
def vault_download(request: WorkspaceRequest, pk) -> HttpResponse:
    """The vault's text as its author wrote it, in its own format."""
    vault = _get_vault(request, pk)
    response = HttpResponse(vault.content, content_type=CONTENT_TYPES[vault.format])
    response["Content-Disposition"] = f'attachment; filename="{vault.filename}"'
    response["Cache-Control"] = "no-store"
    return response

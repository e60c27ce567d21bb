"""App Credentials on the Workspace page: the table, "+ Create new credentials" (the pair shown
once), the label's inline edit and revoking."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from settings_portal.caching import shows_secret_once
from settings_portal.forms import form_add_service_error
from settings_portal.htmx import (
    is_fragment,
    render_confirm,
    render_dialog_invalid,
    render_fragment_or_page,
    render_shown_once,
)
from settings_portal.inline_edit import inline_edit_view

from .. import credentials as credential_services
from ..forms import CredentialLabelForm
from ..models import Credential
from ..scoping import WorkspaceRequest
from .page import PAGE, mark_manageable, panel, render_page, settings_url, workspace_panel_view

CREATE = "workspaces/credential_create.html"


def _credential_panel(request: WorkspaceRequest) -> dict:
    visible = credential_services.credential_list(
        workspace=request.workspace, viewer=request.user, membership=request.membership
    )
    rows = mark_manageable(visible, request.user, {request.workspace.id: request.membership})
    return panel(request.membership, credentials=rows)


def _credential_get(request: WorkspaceRequest, pk: int) -> Credential:
    """An active credential of the request's workspace that the user may manage: 404 if it is
    not in this workspace (or revoked), 403 if it is but the user may not touch it."""
    credential = get_object_or_404(
        Credential.objects.for_workspace(request.workspace).active().select_related("user"), pk=pk
    )
    if not credential_services.can_manage(
        credential=credential, actor=request.user, membership=request.membership
    ):
        raise PermissionDenied(
            "You may only change credentials you created, or any in a workspace you administer."
        )
    credential.manageable = True
    return credential


@workspace_panel_view()
@require_GET
def credential_table(request: WorkspaceRequest) -> HttpResponse:
    if not is_fragment(request):
        return redirect(settings_url(request.workspace))
    return render(request, f"{PAGE}#credential-table", {"panel": _credential_panel(request)})


@shows_secret_once
@workspace_panel_view()
@require_http_methods(["GET", "POST"])
def credential_create(request: WorkspaceRequest) -> HttpResponse:
    """The "+ Create new credentials" dialog: a label, then the new pair, shown once."""
    context = {"workspace": request.workspace}
    if request.method == "GET":
        return render_fragment_or_page(
            request, CREATE, "credential-form", {**context, "form": CredentialLabelForm()}
        )

    form = CredentialLabelForm(request.POST)
    created = None
    if form.is_valid():
        try:
            created = credential_services.credential_create(
                workspace=request.workspace, actor=request.user, label=form.cleaned_data["label"]
            )
        except ValidationError as exc:
            form_add_service_error(form, exc)
    if created is None:
        return render_dialog_invalid(request, CREATE, "credential-form", {**context, "form": form})
    credential, secret = created
    context |= {
        "credential": credential,
        "title": f"New credentials: {credential.label}" if credential.label else "New credentials",
        "configuration": credential_services.configuration_text(credential=credential, secret=secret),
        "jupyter": credential_services.jupyter_text(credential=credential, secret=secret),
    }
    return render_shown_once(
        request,
        CREATE,
        "credential-created",
        context,
        events=(f"credentials-changed-{request.workspace.slug}",),
    )


@workspace_panel_view()
@require_http_methods(["GET", "POST"])
def credential_label(request: WorkspaceRequest, pk: int) -> HttpResponse:
    """Inline edit of a credential's label (like the username on Profile)."""
    credential = _credential_get(request, pk)
    return inline_edit_view(
        request,
        key=f"credential-label-{credential.pk}",
        form=CredentialLabelForm,
        initial={"label": credential.label},
        save=lambda data: credential_services.credential_edit_label(
            credential=credential, actor=request.user, label=data["label"]
        ),
        fragment=f"{PAGE}#credential-label",
        context=lambda: {"panel": panel(request.membership), "credential": credential},
        page=lambda **inline: render_page(request, open_slug=request.workspace.slug, **inline),
        saved_url=settings_url(request.workspace),
        saved_message="Label saved.",
        reset=lambda: credential.refresh_from_db(fields=["label"]),
    )


@workspace_panel_view()
@require_http_methods(["GET", "POST"])
def credential_revoke(request: WorkspaceRequest, pk: int) -> HttpResponse:
    """Revoke, after a confirmation (GET shows it): irrecoverable."""
    credential = _credential_get(request, pk)
    if request.method == "GET":
        label = f" ({credential.label})" if credential.label else ""
        return render_confirm(
            request,
            title="Revoke credentials?",
            text=f"Revoke {credential.access_key}{label} of {credential.user.username} in {request.workspace.name}? "
            "This cannot be undone: every SDK, agent or notebook using these credentials stops working at once.",
            action=reverse("workspaces:credential-revoke", args=[request.workspace.slug, credential.pk]),
            button="Revoke",
            cancel=settings_url(request.workspace),
            target=f"#credentials-{request.workspace.slug}",
        )
    credential_services.credential_revoke(credential=credential, actor=request.user)
    if is_fragment(request):
        return render(request, f"{PAGE}#credential-table", {"panel": _credential_panel(request)})
    messages.success(request, f"Credentials {credential.access_key} revoked.")
    return redirect(settings_url(request.workspace))

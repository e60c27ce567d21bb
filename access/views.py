"""Users & Groups: the USERS, SERVICE ACCOUNTS and USER GROUPS tables (administrators only).

Every view works as a plain page and as an htmx fragment; dialogs load into #modal-content.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import reswap, retarget, trigger_client_event

from settings_portal.caching import shows_secret_once
from settings_portal.htmx import is_fragment, render_in_modal
from workspaces import credentials as credential_services
from workspaces import invitations
from workspaces.models import Credential, Invitation, Membership, Role
from workspaces.scoping import WorkspaceRequest, workspace_view

from . import selectors, services
from .forms import (
    CredentialLabelForm,
    GroupForm,
    InviteForm,
    ServiceAccountEditForm,
    ServiceAccountForm,
    member_ids_from,
)
from .models import BuiltinGroup, ServiceAccount, UserGroup

USERS_PAGE_SIZE = 50
GROUPS_PAGE_SIZE = 50
SERVICE_ACCOUNTS_PAGE_SIZE = 50
MAX_QUERY = 100


def _query(request) -> str:
    return request.GET.get("q", "").strip()[:MAX_QUERY]


def _modal(request, template: str, partial: str, context: dict, status: int = 200) -> HttpResponse:
    """A dialog's content (htmx) or the same content as a page (no JS)."""
    return render(
        request, f"{template}#{partial}" if is_fragment(request) else template, context, status=status
    )


def _form_error(request, template: str, partial: str, context: dict) -> HttpResponse:
    if is_fragment(request):
        return render_in_modal(request, f"{template}#{partial}", context)
    return render(request, template, context, status=422)


def _shown_once(request, template: str, partial: str, context: dict, event: str) -> HttpResponse:
    """A secret shown once: in the dialog (and the table behind it refreshes), or as a page."""
    if not is_fragment(request):
        return render(request, template, context)
    response = render(request, f"{template}#{partial}", context)
    retarget(response, "#modal-content")
    reswap(response, "innerHTML")
    return trigger_client_event(response, event)


# --- Users ----------------------------------------------------------------------------------------


def _user_table_context(request: WorkspaceRequest, query: str = "", page_number=None) -> dict:
    workspace = request.workspace
    page = Paginator(selectors.member_row_list(workspace=workspace, query=query), USERS_PAGE_SIZE).get_page(
        page_number
    )
    rows = list(page.object_list)
    names = selectors.group_names_by_user(
        workspace=workspace, user_ids=[row["row_user_id"] for row in rows if row["row_user_id"]]
    )
    for row in rows:
        row["groups"] = (
            selectors.row_groups(role=row["row_role"], names=names.get(row["row_user_id"], []))
            if row["row_kind"] == "member"
            else []
        )
        row["is_owner"] = row["row_kind"] == "member" and row["row_user_id"] == workspace.owner_id
        row["is_self"] = row["row_user_id"] == request.user.pk
    return {
        "page": page,
        "rows": rows,
        "query": query,
        "member_count": selectors.member_count(workspace=workspace),
        "max_members": workspace.max_members,
    }


@workspace_view(role=Role.ADMIN)
@require_GET
@vary_on_headers("HX-Request")
def user_list(request: WorkspaceRequest) -> HttpResponse:
    context = _user_table_context(request, _query(request), request.GET.get("page"))
    template = "access/user_list.html"
    if is_fragment(request):
        template += "#user-table"
    return render(request, template, context)


def _users_changed(request: WorkspaceRequest) -> HttpResponse:
    """After a change to the USERS table: the fresh table (htmx) or back to the page."""
    if is_fragment(request):
        response = render(request, "access/user_list.html#user-table", _user_table_context(request))
        retarget(response, "#user-table")
        reswap(response, "outerHTML")
        return trigger_client_event(response, "closeModal")
    return redirect("access:user-list", request.workspace.slug)


@shows_secret_once
@workspace_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
def user_invite(request: WorkspaceRequest) -> HttpResponse:
    template = "access/user_invite.html"
    max_role = request.membership.role
    if request.method == "GET":
        return _modal(request, template, "invite-form", {"form": InviteForm(max_role=max_role)})
    form = InviteForm(request.POST, max_role=max_role)
    issued = None
    if form.is_valid():
        try:
            issued = invitations.invitation_create(
                workspace=request.workspace,
                actor=request.user,
                email=form.cleaned_data["email"],
                role=Role(form.cleaned_data["role"]),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        except PermissionDenied as exc:
            form.add_error(None, str(exc))
    if issued is None:
        return _form_error(request, template, "invite-form", {"form": form})
    context = {"issued": issued, "invitation": issued.invitation}
    return _shown_once(request, template, "invite-done", context, "members-changed")


def _invitation(request: WorkspaceRequest, pk: int) -> Invitation:
    return get_object_or_404(Invitation.objects.for_workspace(request.workspace).pending(), pk=pk)


@shows_secret_once
@workspace_view(role=Role.ADMIN)
@require_POST
def invitation_resend(request: WorkspaceRequest, pk: int) -> HttpResponse:
    """A fresh link and expiry for a pending invitation (the old link stops working)."""
    invitation = _invitation(request, pk)
    try:
        issued = invitations.invitation_create(
            workspace=request.workspace,
            actor=request.user,
            email=invitation.email,
            role=Role(invitation.role),
        )
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
        return _users_changed(request)
    context = {"issued": issued, "invitation": issued.invitation}
    return _shown_once(request, "access/user_invite.html", "invite-done", context, "members-changed")


@workspace_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
def invitation_revoke(request: WorkspaceRequest, pk: int) -> HttpResponse:
    invitation = _invitation(request, pk)
    url = reverse("access:invitation-revoke", args=[request.workspace.slug, invitation.pk])
    if request.method == "GET":
        return _confirm(
            request,
            title="Revoke invitation",
            text=f"Revoke the invitation of {invitation.email}? Its link stops working.",
            action=url,
            button="Revoke",
            target="#user-table",
            cancel=reverse("access:user-list", args=[request.workspace.slug]),
        )
    invitations.invitation_revoke(invitation=invitation, actor=request.user)
    if not is_fragment(request):
        messages.success(request, f"Invitation of {invitation.email} revoked.")
    return _users_changed(request)


def _confirm(
    request, *, title: str, text: str, action: str, button: str, target: str, cancel: str, blocked=""
):
    """A confirmation dialog (or page) whose form POSTs to ACTION; BLOCKED explains why it cannot."""
    context = {
        "title": title,
        "text": text,
        "action": action,
        "button": button,
        "target": target,
        "cancel": cancel,
        "blocked": blocked,
    }
    return _modal(request, "access/confirm.html", "confirm-form", context)


@workspace_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
def member_remove(request: WorkspaceRequest, user_id) -> HttpResponse:
    membership = get_object_or_404(
        Membership.objects.for_workspace(request.workspace).select_related("user"),
        user_id=user_id,
        user__is_service_account=False,
    )
    user = membership.user
    confirm = {
        "title": "Remove user",
        "text": f"Remove {user.username} ({user.email}) from {request.workspace.name}? They lose access at "
        "once and their credentials for this workspace are revoked. What they logged stays. They can only "
        "come back through a new invitation.",
        "action": reverse("access:member-remove", args=[request.workspace.slug, user.pk]),
        "button": "Remove",
        "target": "#user-table",
        "cancel": reverse("access:user-list", args=[request.workspace.slug]),
    }
    if request.method == "GET":
        return _confirm(request, **confirm)
    try:
        revoked = services.member_remove(workspace=request.workspace, actor=request.user, user=user)
    except (ValidationError, PermissionDenied) as exc:
        message = " ".join(getattr(exc, "messages", None) or [str(exc)])
        if is_fragment(request):
            return render_in_modal(request, "access/confirm.html#confirm-form", {**confirm, "error": message})
        messages.error(request, message)
        return redirect("access:user-list", request.workspace.slug)
    if user.pk == request.user.pk:
        messages.success(request, f"You left {request.workspace.name}.")
        return _leave_page(request)
    if not is_fragment(request):
        messages.success(request, f"{user.username} was removed; {revoked} credential(s) revoked.")
    return _users_changed(request)


def _leave_page(request) -> HttpResponse:
    from django_htmx.http import HttpResponseClientRedirect

    if is_fragment(request):
        return HttpResponseClientRedirect(reverse("accounts:profile"))
    return redirect("accounts:profile")


# --- Service accounts -----------------------------------------------------------------------------


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
    context = _service_account_context(request, _query(request), request.GET.get("page"))
    template = "access/service_account_list.html"
    if is_fragment(request):
        template += "#service-account-table"
    return render(request, template, context)


def _credentials_shown(request, *, account, credential, secret, title) -> HttpResponse:
    context = {
        "account": account,
        "credential": credential,
        "title": title,
        "configuration": credential_services.configuration_text(credential=credential, secret=secret),
        "jupyter": credential_services.jupyter_text(credential=credential, secret=secret),
        "secret": secret,
    }
    return _shown_once(
        request,
        "access/service_account_credentials.html",
        "credentials-shown",
        context,
        "service-accounts-changed",
    )


@shows_secret_once
@workspace_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
def service_account_create(request: WorkspaceRequest) -> HttpResponse:
    template = "access/service_account_form.html"
    if request.method == "GET":
        return _modal(request, template, "service-account-form", {"form": ServiceAccountForm()})
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
            form.add_error(None, exc)
    if created is None:
        return _form_error(request, template, "service-account-form", {"form": form})
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


def _edit_context(account: ServiceAccount, form=None, saved: bool = False) -> dict:
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
        "label_form": CredentialLabelForm(),
        "saved": saved,
    }


@workspace_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
def service_account_edit(request: WorkspaceRequest, pk: int) -> HttpResponse:
    """The editing panel: rename, impersonation, groups, its credentials."""
    account = _account(request, pk)
    template = "access/service_account_edit.html"
    if request.method == "GET":
        return _modal(request, template, "service-account-panel", _edit_context(account))
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
            form.add_error(None, exc if isinstance(exc, ValidationError) else str(exc))
    if not form.is_valid():
        account.refresh_from_db()
        return _form_error(request, template, "service-account-panel", _edit_context(account, form))
    if is_fragment(request):
        response = render(request, f"{template}#service-account-panel", _edit_context(account, saved=True))
        return trigger_client_event(response, "service-accounts-changed")
    messages.success(request, f"Service account {account.name} saved.")
    return redirect("access:service-account-edit", request.workspace.slug, account.pk)


@shows_secret_once
@workspace_view(role=Role.ADMIN)
@require_POST
def service_account_credential_create(request: WorkspaceRequest, pk: int) -> HttpResponse:
    account = _account(request, pk)
    form = CredentialLabelForm(request.POST)
    if not form.is_valid():
        return _form_error(
            request, "access/service_account_edit.html", "service-account-panel", _edit_context(account)
        )
    try:
        credential, secret = services.service_account_credential_create(
            account=account, actor=request.user, label=form.cleaned_data["label"]
        )
    except ValidationError as exc:
        context = _edit_context(account)
        context["label_form"] = form
        form.add_error(
            "label", exc.message_dict.get("label", exc.messages) if hasattr(exc, "message_dict") else exc
        )
        return _form_error(request, "access/service_account_edit.html", "service-account-panel", context)
    return _credentials_shown(
        request,
        account=account,
        credential=credential,
        secret=secret,
        title=f"New credentials for {account.name}",
    )


@workspace_view(role=Role.ADMIN)
@require_POST
def service_account_credential_revoke(request: WorkspaceRequest, pk: int, credential_pk: int) -> HttpResponse:
    account = _account(request, pk)
    credential = get_object_or_404(
        Credential.objects.for_workspace(request.workspace).active(), pk=credential_pk, user=account.user
    )
    services.service_account_credential_revoke(account=account, actor=request.user, credential=credential)
    if is_fragment(request):
        response = render(
            request, "access/service_account_edit.html#service-account-panel", _edit_context(account)
        )
        return trigger_client_event(response, "service-accounts-changed")
    messages.success(request, f"Credentials {credential.access_key} revoked.")
    return redirect("access:service-account-edit", request.workspace.slug, account.pk)


@workspace_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
def service_account_delete(request: WorkspaceRequest, pk: int) -> HttpResponse:
    account = _account(request, pk)
    list_url = reverse("access:service-account-list", args=[request.workspace.slug])
    if request.method == "GET":
        return _confirm(
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
    if is_fragment(request):
        response = render(
            request,
            "access/service_account_list.html#service-account-table",
            _service_account_context(request),
        )
        retarget(response, "#service-account-table")
        reswap(response, "outerHTML")
        return trigger_client_event(response, "closeModal")
    messages.success(request, f"Service account {name} deleted; its credentials are revoked.")
    return redirect(list_url)


# --- User groups ----------------------------------------------------------------------------------


def _group_table_context(request: WorkspaceRequest, query: str = "", page_number=None) -> dict:
    rows = selectors.group_list(workspace=request.workspace, query=query)
    page = Paginator(rows, GROUPS_PAGE_SIZE).get_page(page_number)
    return {"page": page, "rows": page.object_list, "query": query}


@workspace_view(role=Role.ADMIN)
@require_GET
@vary_on_headers("HX-Request")
def group_list(request: WorkspaceRequest) -> HttpResponse:
    context = _group_table_context(request, _query(request), request.GET.get("page"))
    template = "access/group_list.html"
    if is_fragment(request):
        template += "#group-table"
    return render(request, template, context)


def _group_form_context(request: WorkspaceRequest, form, member_ids, group=None, search="", results=None):
    members = selectors.workspace_users(workspace=request.workspace, user_ids=member_ids)
    if group is not None and group.is_builtin:
        form.fields["name"].widget.attrs["readonly"] = True
        form.fields["name"].help_text = "Built-in groups keep their names."
    if results is None and search:
        results = selectors.member_search(workspace=request.workspace, query=search, exclude=member_ids)
    return {
        "form": form,
        "group": group,
        "members": members,
        "search": search,
        "results": results,
        "admins_group": group is not None and group.builtin == BuiltinGroup.ADMINS,
    }


def _group_form_view(request: WorkspaceRequest, group: UserGroup | None) -> HttpResponse:
    """Create or edit a group. Adding/removing a member or searching re-renders the form
    (the members travel as hidden inputs) until Save; the same steps work without JS."""
    template = "access/group_form.html"
    if request.method == "GET":
        member_ids = [u.pk for u in selectors.group_members(group=group)] if group else []
        initial = {"name": group.name, "description": group.description} if group else {}
        form = GroupForm(initial={**initial, "members": member_ids})
        return _modal(request, template, "group-form", _group_form_context(request, form, member_ids, group))

    member_ids = member_ids_from(request.POST)
    search = request.POST.get("search", "").strip()[:MAX_QUERY]
    if request.POST.get("add") or request.POST.get("remove") or "find" in request.POST:
        # A step while picking members: nothing is saved yet.
        if request.POST.get("add"):
            member_ids += [uid for uid in member_ids_from_value(request.POST["add"]) if uid not in member_ids]
        if request.POST.get("remove"):
            removed = member_ids_from_value(request.POST["remove"])
            member_ids = [uid for uid in member_ids if uid not in removed]
        initial = {"name": request.POST.get("name", ""), "description": request.POST.get("description", "")}
        results = selectors.member_search(workspace=request.workspace, query=search, exclude=member_ids)
        context = _group_form_context(
            request, GroupForm(initial=initial), member_ids, group, search=search, results=results
        )
        return _modal(request, template, "group-form", context)

    form = GroupForm(request.POST)
    saved = None
    if form.is_valid():
        data = form.cleaned_data
        try:
            if group is None:
                saved = services.group_create(
                    workspace=request.workspace,
                    actor=request.user,
                    name=data["name"],
                    description=data["description"],
                    member_ids=member_ids,
                )
            else:
                saved = services.group_update(
                    group=group,
                    actor=request.user,
                    name=data["name"],
                    description=data["description"],
                    member_ids=member_ids,
                )
        except (ValidationError, PermissionDenied) as exc:
            form.add_error(None, exc if isinstance(exc, ValidationError) else str(exc))
    if saved is None:
        return _form_error(
            request, template, "group-form", _group_form_context(request, form, member_ids, group)
        )
    if not Membership.objects.filter(pk=request.membership.pk, role__gte=Role.ADMIN).exists():
        # The admin took themselves out of Admins: this page is no longer theirs.
        messages.success(request, f"You are no longer an administrator of {request.workspace.name}.")
        return _leave_page(request)
    if is_fragment(request):
        response = render(request, "access/group_list.html#group-table", _group_table_context(request))
        retarget(response, "#group-table")
        reswap(response, "outerHTML")
        return trigger_client_event(response, "closeModal")
    messages.success(request, f"Group {saved.name} saved.")
    return redirect("access:group-list", request.workspace.slug)


def member_ids_from_value(value: str) -> list:
    from django.http import QueryDict

    query = QueryDict(mutable=True)
    query.setlist("members", [value])
    return member_ids_from(query)


@workspace_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
def group_create(request: WorkspaceRequest) -> HttpResponse:
    return _group_form_view(request, None)


def _group(request: WorkspaceRequest, pk: int) -> UserGroup:
    return get_object_or_404(UserGroup.objects.for_workspace(request.workspace), pk=pk)


@workspace_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
def group_edit(request: WorkspaceRequest, pk: int) -> HttpResponse:
    group = _group(request, pk)
    if group.builtin == BuiltinGroup.USERS:
        messages.error(request, "The Users group holds every member and cannot be modified.")
        if is_fragment(request):
            from django_htmx.http import HttpResponseClientRedirect

            return HttpResponseClientRedirect(reverse("access:group-list", args=[request.workspace.slug]))
        return redirect("access:group-list", request.workspace.slug)
    return _group_form_view(request, group)


@workspace_view(role=Role.ADMIN)
@require_GET
def group_member_search(request: WorkspaceRequest) -> HttpResponse:
    """The list of members to pick from as the admin types (users and service accounts)."""
    exclude = member_ids_from(request.GET)
    search = request.GET.get("search", "").strip()[:MAX_QUERY]
    results = selectors.member_search(workspace=request.workspace, query=search, exclude=exclude)
    return render(request, "access/group_form.html#member-options", {"results": results, "search": search})


@workspace_view(role=Role.ADMIN)
@require_http_methods(["GET", "POST"])
def group_delete(request: WorkspaceRequest, pk: int) -> HttpResponse:
    group = _group(request, pk)
    list_url = reverse("access:group-list", args=[request.workspace.slug])
    confirm = {
        "title": "Delete group",
        "text": f"Delete the group {group.name}? Its members lose the access privileges granted to it "
        "(unless they have them individually or through another group).",
        "action": reverse("access:group-delete", args=[request.workspace.slug, group.pk]),
        "button": "Delete",
        "target": "#group-table",
        "cancel": list_url,
    }
    if request.method == "GET":
        if group.is_builtin:
            return _confirm(
                request, **confirm, blocked=f"{group.name} is a built-in group and cannot be deleted."
            )
        return _confirm(request, **confirm)
    try:
        services.group_delete(group=group, actor=request.user)
    except ValidationError as exc:
        message = " ".join(exc.messages)
        if is_fragment(request):
            return render_in_modal(request, "access/confirm.html#confirm-form", {**confirm, "error": message})
        messages.error(request, message)
        return redirect(list_url)
    if is_fragment(request):
        response = render(request, "access/group_list.html#group-table", _group_table_context(request))
        retarget(response, "#group-table")
        reswap(response, "outerHTML")
        return trigger_client_event(response, "closeModal")
    messages.success(request, f"Group {group.name} deleted.")
    return redirect(list_url)

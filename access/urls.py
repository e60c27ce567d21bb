from django.urls import path

from workspaces.views import invitations

from .views import groups, rules, service_accounts, users

app_name = "access"

W = "w/<slug:workspace_slug>/users/"

urlpatterns = [
    path(W, users.user_list, name="user-list"),
    path(f"{W}members/<uuid:user_id>/remove/", users.member_remove, name="member-remove"),
    path(f"{W}service-accounts/", service_accounts.service_account_list, name="service-account-list"),
    path(f"{W}service-accounts/new/", service_accounts.service_account_create, name="service-account-create"),
    path(
        f"{W}service-accounts/<int:pk>/", service_accounts.service_account_edit, name="service-account-edit"
    ),
    path(
        f"{W}service-accounts/<int:pk>/credentials/new/",
        service_accounts.service_account_credential_create,
        name="service-account-credential-create",
    ),
    path(
        f"{W}service-accounts/<int:pk>/credentials/<int:credential_pk>/revoke/",
        service_accounts.service_account_credential_revoke,
        name="service-account-credential-revoke",
    ),
    path(
        f"{W}service-accounts/<int:pk>/delete/",
        service_accounts.service_account_delete,
        name="service-account-delete",
    ),
    path(f"{W}groups/", groups.group_list, name="group-list"),
    path(f"{W}groups/new/", groups.group_create, name="group-create"),
    path(f"{W}groups/members/", groups.group_member_search, name="group-member-search"),
    path(f"{W}groups/<int:pk>/", groups.group_edit, name="group-edit"),
    path(f"{W}groups/<int:pk>/delete/", groups.group_delete, name="group-delete"),
    # Inviting is one flow for the whole portal (workspaces:invitation-*); the old links still work.
    path(f"{W}invite/", invitations.old_user_invite, name="user-invite"),
    path(f"{W}invitations/<int:pk>/revoke/", invitations.old_invitation_revoke, name="invitation-revoke"),
]

R = "w/<slug:workspace_slug>/access-rules/"

urlpatterns += [
    path(R, rules.rule_list, name="rule-list"),
    path(f"{R}new/", rules.rule_create, name="rule-create"),
    path(f"{R}search/", rules.rule_search, name="rule-search"),
    path(f"{R}explain/", rules.rule_explain, name="rule-explain"),
    path(f"{R}<int:pk>/", rules.rule_edit, name="rule-edit"),
    path(f"{R}<int:pk>/delete/", rules.rule_delete, name="rule-delete"),
]

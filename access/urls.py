from django.urls import path

from . import views, views_rules

app_name = "access"

W = "w/<slug:workspace_slug>/users/"

urlpatterns = [
    path(W, views.user_list, name="user-list"),
    path(f"{W}invite/", views.user_invite, name="user-invite"),
    path(f"{W}invitations/<int:pk>/resend/", views.invitation_resend, name="invitation-resend"),
    path(f"{W}invitations/<int:pk>/revoke/", views.invitation_revoke, name="invitation-revoke"),
    path(f"{W}members/<uuid:user_id>/remove/", views.member_remove, name="member-remove"),
    path(f"{W}service-accounts/", views.service_account_list, name="service-account-list"),
    path(f"{W}service-accounts/new/", views.service_account_create, name="service-account-create"),
    path(f"{W}service-accounts/<int:pk>/", views.service_account_edit, name="service-account-edit"),
    path(
        f"{W}service-accounts/<int:pk>/credentials/new/",
        views.service_account_credential_create,
        name="service-account-credential-create",
    ),
    path(
        f"{W}service-accounts/<int:pk>/credentials/<int:credential_pk>/revoke/",
        views.service_account_credential_revoke,
        name="service-account-credential-revoke",
    ),
    path(
        f"{W}service-accounts/<int:pk>/delete/", views.service_account_delete, name="service-account-delete"
    ),
    path(f"{W}groups/", views.group_list, name="group-list"),
    path(f"{W}groups/new/", views.group_create, name="group-create"),
    path(f"{W}groups/members/", views.group_member_search, name="group-member-search"),
    path(f"{W}groups/<int:pk>/", views.group_edit, name="group-edit"),
    path(f"{W}groups/<int:pk>/delete/", views.group_delete, name="group-delete"),
]

R = "w/<slug:workspace_slug>/access-rules/"

urlpatterns += [
    path(R, views_rules.rule_list, name="rule-list"),
    path(f"{R}new/", views_rules.rule_create, name="rule-create"),
    path(f"{R}search/", views_rules.rule_search, name="rule-search"),
    path(f"{R}<int:pk>/", views_rules.rule_edit, name="rule-edit"),
    path(f"{R}<int:pk>/delete/", views_rules.rule_delete, name="rule-delete"),
]

from django.urls import path

from . import views

app_name = "workspaces"

urlpatterns = [
    path("w/<slug:workspace_slug>/audit/", views.audit_log, name="audit-log"),
    path("settings/workspace/", views.workspace_settings, name="workspace-settings"),
    path("w/<slug:workspace_slug>/switch/", views.workspace_switch, name="workspace-switch"),
    path("w/<slug:workspace_slug>/name/", views.workspace_name, name="workspace-name"),
    path("w/<slug:workspace_slug>/leave/", views.workspace_leave, name="workspace-leave"),
    path("w/<slug:workspace_slug>/credentials/", views.credential_table, name="credential-table"),
    path("w/<slug:workspace_slug>/credentials/new/", views.credential_create, name="credential-create"),
    path(
        "w/<slug:workspace_slug>/credentials/<int:pk>/label/", views.credential_label, name="credential-label"
    ),
    path(
        "w/<slug:workspace_slug>/credentials/<int:pk>/revoke/",
        views.credential_revoke,
        name="credential-revoke",
    ),
    path("w/<slug:workspace_slug>/members/", views.member_table, name="member-table"),
    path("w/<slug:workspace_slug>/members/invite/", views.invitation_create, name="invitation-create"),
    path(
        "w/<slug:workspace_slug>/invitations/<int:pk>/revoke/",
        views.invitation_revoke,
        name="invitation-revoke",
    ),
    path("invite/<str:token>/", views.invitation_accept, name="invitation-accept"),
    path("invitations/<int:pk>/", views.invitation_join, name="invitation-join"),
    path("notifications/", views.notification_list, name="notification-list"),
    path("notifications/read/", views.notifications_read_all, name="notifications-read-all"),
    path("notifications/<int:pk>/read/", views.notification_read, name="notification-read"),
]

from django.urls import path

from .views import audit, credentials, invitations, join, limit, notifications, page

app_name = "workspaces"

W = "w/<slug:workspace_slug>/"

urlpatterns = [
    path(f"{W}audit/", audit.audit_log, name="audit-log"),
    path(f"{W}audit/export.csv", audit.audit_export, name="audit-export"),
    # The Workspace page and its panels.
    path("settings/workspace/", page.workspace_settings, name="workspace-settings"),
    path(f"{W}switch/", page.workspace_switch, name="workspace-switch"),
    path(f"{W}name/", page.workspace_name, name="workspace-name"),
    path(f"{W}leave/", page.workspace_leave, name="workspace-leave"),
    path(f"{W}members/", page.member_table, name="member-table"),
    path(f"{W}credentials/", credentials.credential_table, name="credential-table"),
    path(f"{W}credentials/new/", credentials.credential_create, name="credential-create"),
    path(f"{W}credentials/<int:pk>/label/", credentials.credential_label, name="credential-label"),
    path(f"{W}credentials/<int:pk>/revoke/", credentials.credential_revoke, name="credential-revoke"),
    # Inviting (from the Workspace page and from Users & Groups).
    path(f"{W}members/limit/", limit.member_limit, name="member-limit"),
    path(f"{W}members/invite/", invitations.invitation_create, name="invitation-create"),
    path(f"{W}invitations/<int:pk>/resend/", invitations.invitation_resend, name="invitation-resend"),
    path(f"{W}invitations/<int:pk>/revoke/", invitations.invitation_revoke, name="invitation-revoke"),
    # The invitee's side.
    path("invite/<str:token>/", join.invitation_accept, name="invitation-accept"),
    path("invitations/<int:pk>/", join.invitation_join, name="invitation-join"),
    path("notifications/", notifications.notification_list, name="notification-list"),
    path("notifications/read/", notifications.notifications_read_all, name="notifications-read-all"),
    path("notifications/<int:pk>/read/", notifications.notification_read, name="notification-read"),
]

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from . import views

app_name = "accounts"

urlpatterns = [
    path("accounts/login/", views.SignInView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/change/",
        auth_views.PasswordChangeView.as_view(
            template_name="accounts/password_change.html",
            success_url=reverse_lazy("accounts:password-change-done"),
        ),
        name="password-change",
    ),
    path(
        "accounts/password/change/done/",
        auth_views.PasswordChangeDoneView.as_view(template_name="accounts/password_change_done.html"),
        name="password-change-done",
    ),
    path(
        "accounts/password/reset/",
        views.PasswordResetView.as_view(success_url=reverse_lazy("accounts:password-reset-done")),
        name="password-reset",
    ),
    path(
        "accounts/password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html"),
        name="password-reset-done",
    ),
    path(
        "accounts/password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="accounts/password_reset_confirm.html",
            success_url=reverse_lazy("accounts:password-reset-complete"),
        ),
        name="password-reset-confirm",
    ),
    path(
        "accounts/password/reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(template_name="accounts/password_reset_complete.html"),
        name="password-reset-complete",
    ),
    path("settings/profile/", views.profile, name="profile"),
    path("settings/profile/username/", views.profile_username, name="profile-username"),
    path("settings/configuration/", views.configuration, name="configuration"),
    path(
        "settings/configuration/preferences/<str:field>/", views.preference_toggle, name="preference-toggle"
    ),
    path("settings/configuration/hidden-arguments/", views.hidden_args_edit, name="hidden-args"),
    path("settings/configuration/cloud-access/new/", views.cloud_access_edit, name="cloud-access-new"),
    path("settings/configuration/cloud-access/<int:pk>/", views.cloud_access_edit, name="cloud-access-edit"),
    path(
        "settings/configuration/cloud-access/<int:pk>/delete/",
        views.cloud_access_delete,
        name="cloud-access-delete",
    ),
]

from django.urls import include, path

from accounts import views as account_views

handler403 = "settings_portal.errors.permission_denied"
handler404 = "settings_portal.errors.page_not_found"
handler500 = "settings_portal.errors.server_error"

urlpatterns = [
    path("api/", include("settings_portal.api.urls")),
    path("", account_views.home, name="home"),
    path("", include("accounts.urls")),
    path("", include("workspaces.urls")),
    path("", include("vaults.urls")),
    path("", include("access.urls")),
    path("", include("resources.urls")),
    path("", include("billing.urls")),
    path("", include("identity.urls")),
    path("", include("gateway.urls")),
]

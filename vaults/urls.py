from django.urls import path

from . import views

app_name = "vaults"

urlpatterns = [
    # The member's own vault (also shown in the Workspace page).
    path("w/<slug:workspace_slug>/vault/", views.user_vault, name="user-vault"),
    path("w/<slug:workspace_slug>/vault/edit/", views.user_vault_edit, name="user-vault-edit"),
    path("w/<slug:workspace_slug>/vault/toggle/", views.user_vault_toggle, name="user-vault-toggle"),
    path("w/<slug:workspace_slug>/vault/effective/", views.effective_config, name="effective-config"),
    # Administrator vaults.
    path("w/<slug:workspace_slug>/vaults/", views.vault_list, name="vault-list"),
    path("w/<slug:workspace_slug>/vaults/new/", views.vault_create, name="vault-create"),
    path("w/<slug:workspace_slug>/vaults/<uuid:pk>/edit/", views.vault_edit, name="vault-edit"),
    path("w/<slug:workspace_slug>/vaults/<uuid:pk>/toggle/", views.vault_toggle, name="vault-toggle"),
    path("w/<slug:workspace_slug>/vaults/<uuid:pk>/delete/", views.vault_delete, name="vault-delete"),
    path("w/<slug:workspace_slug>/vaults/<uuid:pk>/download/", views.vault_download, name="vault-download"),
]

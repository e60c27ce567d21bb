from django.urls import path

from . import views

app_name = "identity"

W = "w/<slug:workspace_slug>/identity/"

urlpatterns = [
    path(W, views.connection_list, name="connection-list"),
    path(f"{W}new/", views.connection_create, name="connection-create"),
    path(f"{W}<uuid:pk>/", views.connection_edit, name="connection-edit"),
    path(f"{W}<uuid:pk>/toggle/", views.connection_toggle, name="connection-toggle"),
    path(f"{W}<uuid:pk>/delete/", views.connection_delete, name="connection-delete"),
    path(f"{W}<uuid:pk>/test/", views.connection_test, name="connection-test"),
    path("sso/<uuid:pk>/", views.oidc_start, name="oidc-start"),
    path("sso/<uuid:pk>/callback/", views.oidc_callback, name="oidc-callback"),
]

urlpatterns += [
    path("sso/<uuid:pk>/saml/", views.saml_start, name="saml-start"),
    path("sso/<uuid:pk>/saml/acs/", views.saml_acs, name="saml-acs"),
    path("sso/<uuid:pk>/saml/metadata/", views.saml_metadata, name="saml-metadata"),
]

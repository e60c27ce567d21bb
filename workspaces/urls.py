from django.urls import path

from . import views

app_name = "workspaces"

urlpatterns = [
    path("w/<slug:workspace_slug>/audit/", views.audit_log, name="audit-log"),
]

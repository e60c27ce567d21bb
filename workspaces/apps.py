from django.apps import AppConfig


class WorkspacesConfig(AppConfig):
    name = "workspaces"
    verbose_name = "Workspaces"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from .middleware import record_sign_in_activity

        user_logged_in.connect(record_sign_in_activity, dispatch_uid="workspaces.sign_in_activity")

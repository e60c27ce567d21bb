from django.apps import AppConfig


class WorkspacesConfig(AppConfig):
    name = "workspaces"
    verbose_name = "Workspaces"

    def ready(self) -> None:
        from django.conf import settings
        from django.contrib.auth.signals import user_logged_in
        from django.db.models.signals import post_save

        from . import api
        from .middleware import land_in_workspace, record_sign_in_activity
        from .revocation import user_saved

        user_logged_in.connect(record_sign_in_activity, dispatch_uid="workspaces.sign_in_activity")
        user_logged_in.connect(land_in_workspace, dispatch_uid="workspaces.land_in_workspace")
        post_save.connect(user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid="workspaces.user_saved")
        # The API: the credential endpoints (registered on import) and the identity store.
        api.register_hooks()

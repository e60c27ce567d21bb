from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Users, groups and access"

    def ready(self) -> None:
        from . import api

        api.register_hooks()  # impersonation on auth.login

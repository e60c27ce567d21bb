from django.apps import AppConfig


class VaultsConfig(AppConfig):
    name = "vaults"
    verbose_name = "Configuration vaults"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import api  # noqa: F401  (registers users.get_vaults)

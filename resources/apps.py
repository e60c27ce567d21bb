from django.apps import AppConfig


class ResourcesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "resources"
    verbose_name = "Resource configuration"

    def ready(self) -> None:
        from . import api  # noqa: F401  (registers the resource-policy API endpoints)

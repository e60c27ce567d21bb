from django.apps import AppConfig


class ResourcesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "resources"
    verbose_name = "Resource configuration"

    def ready(self) -> None:
        from access.kinds import kind_register

        from . import api, kinds  # noqa: F401  (api registers the resource-policy API endpoints)

        # Access Rules govern the portal's queues and the jobs in them.
        kind_register(kinds.QUEUE)
        kind_register(kinds.TASK)

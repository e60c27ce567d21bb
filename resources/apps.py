from django.apps import AppConfig


class ResourcesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "resources"
    verbose_name = "Resource configuration"

    def ready(self) -> None:
        from access.kinds import kind_register

        # api registers the resource-policy API endpoints; gateway the checks and observers of
        # forwarded calls on a linked ClearML server (gateway/interception.py).
        # tasks: the Celery tasks, registered in every process (services.background finds them by name).
        from . import api, gateway, kinds, tasks  # noqa: F401

        # Access Rules govern the portal's queues and the jobs in them.
        kind_register(kinds.QUEUE)
        kind_register(kinds.TASK)

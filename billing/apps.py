from django.apps import AppConfig


class BillingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "billing"
    verbose_name = "Usage & Billing"

    def ready(self) -> None:
        from . import api

        api.register_hooks()  # every authenticated API call is metered

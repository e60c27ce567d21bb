from django.apps import AppConfig


class GatewayConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "gateway"
    verbose_name = "ClearML server (gateway)"

    def ready(self) -> None:
        from django.conf import settings
        from django.db.models.signals import post_save

        from . import signals

        signals.register_hooks()
        post_save.connect(
            signals.user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid="gateway.user_saved"
        )

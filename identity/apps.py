from django.apps import AppConfig
from django.contrib.auth.signals import user_logged_out


def _revoke_sso_tokens(sender, request, user, **kwargs):
    """Signing out of the portal revokes the tokens an OIDC sign-in received (when the connection
    has a revocation endpoint); the session is still there, it is flushed right after."""
    from . import oidc

    if request is not None and hasattr(request, "session"):
        oidc.revoke_tokens(request.session)


class IdentityConfig(AppConfig):
    name = "identity"
    verbose_name = "Identity providers (SSO)"

    def ready(self):
        user_logged_out.connect(_revoke_sso_tokens, dispatch_uid="identity-revoke-sso-tokens")

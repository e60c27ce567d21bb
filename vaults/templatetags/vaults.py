from django import template

from accounts.redaction import redact_for
from vaults import selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def user_vault_for(context, workspace):
    """The signed-in user's vault in WORKSPACE (None before the first save)."""
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return None
    return selectors.user_vault_get(workspace=workspace, user=request.user)


@register.filter
def redacted_for(text: str, user) -> str:
    """TEXT with USER's hidden container arguments masked (see accounts.redaction)."""
    return redact_for(user, text or "")


@register.simple_tag
def vault_max_bytes() -> int:
    from vaults.services import max_content_bytes

    return max_content_bytes()

from django import template

from vaults import selectors
from vaults.services import max_content_bytes

register = template.Library()


@register.simple_tag(takes_context=True)
def user_vault_for(context, workspace):
    """The signed-in user's vault in WORKSPACE (None before the first save)."""
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return None
    return selectors.user_vault_get(workspace=workspace, user=request.user)


@register.simple_tag(takes_context=True)
def vault_preview_for(context, vault):
    """VAULT's settings as its box shows them to the signed-in user, secrets masked (vaults.masking)."""
    request = context.get("request")
    return selectors.vault_preview(vault, viewer=request.user)


@register.simple_tag
def vault_max_bytes() -> int:
    return max_content_bytes()

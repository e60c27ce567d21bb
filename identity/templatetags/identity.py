from django import template

from identity import selectors

register = template.Library()


@register.simple_tag(takes_context=True)
def sso_connections(context):
    request = context.get("request")
    slug = request.GET.get("workspace", "")[:64] if request is not None else ""
    return list(selectors.sign_in_connections(workspace_slug=slug or None))

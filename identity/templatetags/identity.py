from django import template

from identity import selectors

register = template.Library()


@register.simple_tag
def sso_connections():
    return list(selectors.sign_in_connections())

from django import template

register = template.Library()


@register.simple_tag(takes_context=True)
def query_replace(context, **changes) -> str:
    """The current query string with CHANGES applied: keeps filters across pages."""
    query = context["request"].GET.copy()
    for key, value in changes.items():
        query[key] = value
    return query.urlencode()


@register.filter
def as_json(value) -> str:
    """VALUE as compact JSON (audit before/after), for display; the template escapes it."""
    import json

    return json.dumps(value, ensure_ascii=False, default=str)


@register.filter
def described_widget(field):
    """FIELD's widget with aria-describedby naming its help text and its errors (screen readers
    read both when the field gets focus); Django itself only names the help text."""
    ids = []
    if field.help_text:
        ids.append(f"{field.auto_id}_helptext")
    if field.errors:
        ids.append(f"{field.auto_id}_error")
    return field.as_widget(attrs={"aria-describedby": " ".join(ids)} if ids else None)

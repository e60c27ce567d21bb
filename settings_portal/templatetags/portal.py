from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
from django.utils.timesince import timesince, timeuntil

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


@register.inclusion_tag("components/inline_edit.html", takes_context=True)
def inline_edit(
    context,
    *key_parts,
    url: str,
    page_url: str,
    name: str,
    value,
    label: str,
    edit_label: str,
    save_label: str,
    maxlength: int,
    required: bool = False,
    editable: bool = True,
    testid: str = "",
):
    """One inline-edited value (see settings_portal/inline_edit.py): KEY_PARTS joined by "-" are
    the element's id; URL answers GET (?edit=1: the input) and POST (save); PAGE_URL is where
    Cancel goes without JavaScript."""
    key = "-".join(str(part) for part in key_parts)
    editing = context.get("inline_editing") == key
    form = context.get("inline_form") if editing else None
    errors = []
    input_value = value
    if form is not None:
        errors = [*form.errors.get(name, []), *form.non_field_errors()]
        input_value = form[name].value()
    return {
        "key": key,
        "url": url,
        "page_url": page_url,
        "name": name,
        "value": value,
        "input_value": "" if input_value is None else input_value,
        "label": label,
        "edit_label": edit_label,
        "save_label": save_label,
        "maxlength": maxlength,
        "required": required,
        "editable": editable,
        "testid": testid,
        "editing": editing,
        "errors": errors,
        "saved": context.get("inline_saved") == key,
        "csrf_token": context.get("csrf_token"),
    }


@register.filter
def when(value) -> str:
    """VALUE (a datetime) as the portal shows every date: relative ("3 hours ago", "in 6 days"),
    the exact time on hover, machine-readable in `datetime` (docs/ui.md)."""
    if not value:
        return ""
    now = timezone.now()
    if value > now:
        relative = f"in {timeuntil(value, now, depth=1)}"
    elif (now - value).total_seconds() < 60:
        relative = "just now"
    else:
        relative = f"{timesince(value, now, depth=1)} ago"
    exact = date_format(timezone.localtime(value), "Y-m-d H:i T")
    return format_html('<time datetime="{}" title="{}">{}</time>', value.isoformat(), exact, relative)


@register.tag
def dialog_head(parser, token):
    """`{% dialog_head %}Title{% enddialog_head %}`: a dialog's heading (#modal-title, which names
    the <dialog>) and its close button (data-close-modal), the same in every dialog."""
    nodelist = parser.parse(("enddialog_head",))
    parser.delete_first_token()
    return DialogHeadNode(nodelist)


class DialogHeadNode(template.Node):
    def __init__(self, nodelist):
        self.nodelist = nodelist

    def render(self, context) -> str:
        title = self.nodelist.render(context)  # a SafeString: the engine escaped its variables
        return format_html(
            '<div class="modal-head"><h2 id="modal-title">{}</h2>\n'
            '    <button type="button" class="btn btn-icon btn-ghost" data-close-modal aria-label="Close">✕</button></div>',
            title,
        )

"""Pages that show a secret once (a new key pair, an invitation link) must not outlive the visit."""

from django.views.decorators.cache import never_cache


def shows_secret_once(view):
    """Decorate a view whose answer may show a secret once: `Cache-Control: no-store` (with
    Django's other never-cache headers), so neither the browser (back button, history, htmx's
    history cache) nor a proxy keeps a copy. Form errors get it too; that costs nothing."""
    return never_cache(view)

from django.conf import settings
from django.utils.functional import SimpleLazyObject

from .tips import tip_for_request


def portal(request):
    user = getattr(request, "user", None)
    prefs = getattr(user, "preferences", None) if user is not None and user.is_authenticated else None
    membership = getattr(request, "current_membership", None)
    return {
        "prefs": prefs,
        "current_membership": membership,
        "is_workspace_admin": bool(membership) and membership.is_admin,
        "single_workspace": settings.PORTAL_SINGLE_WORKSPACE,
        "self_hosted": settings.PORTAL_SELF_HOSTED,
        # Lazy: only a page that shows the tip uses up the once-per-sign-in flag (not a fragment).
        "pro_tip": SimpleLazyObject(lambda: tip_for_request(request, prefs)),
    }

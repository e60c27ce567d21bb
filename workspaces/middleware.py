from django.utils.functional import SimpleLazyObject

from .selectors import current_membership_get


class CurrentWorkspaceMiddleware:
    """`request.current_membership`: the user's membership of the session's current
    workspace (falling back to the personal one), resolved only when used."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.current_membership = SimpleLazyObject(lambda: current_membership_get(request))
        return self.get_response(request)

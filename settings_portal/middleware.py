"""Content-Security-Policy on every response.

All scripts and styles are served from our own origin (htmx is vendored), so the
policy needs no 'unsafe-inline'. A user who enabled "Block running user's scripts in
the browser" gets a stricter policy: nothing embedded from elsewhere (images, media,
frames), no workers, no plugins.
"""

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict

BASE_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data: https:",
    "media-src": "'self' https:",
    "frame-src": "'self' https:",
    "connect-src": "'self'",
    "font-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
BLOCKED_SCRIPTS_POLICY = {
    **BASE_POLICY,
    "img-src": "'self' data:",
    "media-src": "'self'",
    "frame-src": "'none'",
    "worker-src": "'none'",
}


def build_policy(directives: dict[str, str]) -> str:
    return "; ".join(f"{name} {value}" for name, value in directives.items())


BASE_HEADER = build_policy(BASE_POLICY)
BLOCKED_SCRIPTS_HEADER = build_policy(BLOCKED_SCRIPTS_POLICY)


def user_blocks_scripts(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return False
    prefs = getattr(user, "preferences", None)
    return bool(prefs and prefs.block_scripts)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            strict = user_blocks_scripts(request)
            response["Content-Security-Policy"] = BLOCKED_SCRIPTS_HEADER if strict else BASE_HEADER
        return response


API_PREFIX = "/api/"


class RejectNulBytesMiddleware:
    """Answer 400 to a query string or posted form holding a NUL character.

    PostgreSQL refuses NUL in text (a 500). Django's form fields refuse it with a field
    error, but views also read values straight from request.GET/POST (filters, search
    boxes, the steps of a dialog) and pass them to the database: this is the one guard
    for all of them. No browser sends NUL in a form. The API answers the same in its
    envelope (settings_portal/api/views.py).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(API_PREFIX):
            return self.get_response(request)  # the API dispatcher refuses it in a ClearML envelope
        for where, data in (("query string", request.GET), ("form", self._form(request))):
            if any("\x00" in key or any("\x00" in value for value in values) for key, values in data.lists()):
                return HttpResponseBadRequest(
                    f"Bad request: the {where} holds a NUL character.", content_type="text/plain"
                )
        return self.get_response(request)

    @staticmethod
    def _form(request: HttpRequest) -> QueryDict:
        """The posted form fields (urlencoded or multipart; uploaded files are the views' to check)."""
        if request.method != "POST":
            return QueryDict()
        return request.POST

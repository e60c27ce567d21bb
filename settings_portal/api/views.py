"""The dispatcher: one view for every `/api/[vX.Y/]service.action`, answering the envelope."""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, RequestDataTooBig, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.views.decorators.csrf import csrf_exempt

from settings_portal.commands import validation_message
from settings_portal.inputs import JSONRejected, describe_unsafe, loads_json, unsafe_text

from . import authentication, hooks, registry
from .call import ApiCall
from .errors import (
    ApiError,
    BadRequest,
    Forbidden,
    InvalidPath,
    InvalidVersion,
    LengthRequired,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RoleNotAllowed,
    ServerError,
    ValidationFailed,
)
from .tokens import API_VERSION

logger = logging.getLogger(__name__)

ALLOWED_METHODS = ("GET", "POST", "PUT")
_MAX_VERSION = registry.parse_version(API_VERSION)
_JSON = "application/json"


def envelope(
    *,
    name: str,
    requested_version: str | None,
    actual_version: str | None,
    code: int = 200,
    subcode: int = 0,
    msg: str = "OK",
    data: dict[str, Any] | None = None,
    error_data: dict[str, Any] | None = None,
) -> HttpResponse:
    call_id = uuid.uuid4().hex
    body = {
        "meta": {
            "id": call_id,
            "trx": call_id,
            "endpoint": {
                "name": name,
                "requested_version": requested_version,
                "actual_version": actual_version,
            },
            "result_code": code,
            "result_subcode": subcode,
            "result_msg": msg,
            "error_stack": None,
            "error_data": error_data or {},
        },
        "data": data if data is not None else {},
    }
    response = HttpResponse(json.dumps(body, default=str), content_type=_JSON, status=code)
    # Answers carry tokens, credentials and vault contents: no cache (proxy or client) keeps them.
    response["Cache-Control"] = "no-store"
    if code == 405:
        response["Allow"] = ", ".join(ALLOWED_METHODS)
    return response


# Query-string numbers: ASCII digits only ("²".isdigit() is true, int("²") fails), short
# enough to stay finite; anything else stays text.
_QUERY_INT = re.compile(r"[0-9]{1,18}")
_QUERY_FLOAT = re.compile(r"[0-9]{0,30}\.[0-9]{0,30}")


def _convert(value: str) -> Any:
    lowered = value.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    if _QUERY_INT.fullmatch(value):
        return int(value)
    if value != "." and _QUERY_FLOAT.fullmatch(value):
        return float(value)
    return value


def _params(query: QueryDict) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for key, values in query.lists():
        converted = [_convert(value) for value in values]
        merged[key] = converted if len(converted) > 1 else converted[0]
    return merged


def request_data(request: HttpRequest) -> dict[str, Any]:
    """The JSON body (GET may carry one too) merged with the query parameters, which win."""
    try:
        raw = request.body
    except RequestDataTooBig:
        raise PayloadTooLarge() from None
    data: dict[str, Any] = {}
    if raw and raw.strip():
        content_type = request.META.get("CONTENT_TYPE", "")
        if content_type.startswith("application/x-www-form-urlencoded"):
            data = _params(QueryDict(raw, encoding=request.encoding))
        else:
            try:
                data = loads_json(raw)
            except JSONRejected as exc:
                raise BadRequest(f"invalid JSON body ({exc})") from None
            if data is None:
                data = {}
            if not isinstance(data, dict):
                raise BadRequest("the JSON body must be an object")
    if request.GET:
        data.update(_params(request.GET))
    unsafe = unsafe_text(data)
    if unsafe is not None:
        # Refused here, before any endpoint hands it to the database (a PostgreSQL error).
        raise BadRequest(f"a field holds {describe_unsafe(unsafe)}")
    return data


def impersonation_refusal(call: ApiCall, name: str) -> str:
    user = call.identity.get("user_name") or call.user_id
    return (
        f"{name} is refused to impersonated tokens: this token acts as {user} for a task, with a "
        "member's rights, and can never create, list, edit or revoke credentials or reach an "
        "administrative endpoint. Use the key pair of the account itself."
    )


def _check_headers(request: HttpRequest) -> None:
    """A NUL in a header (e.g. X-ClearML-Worker, stored as "last used from") is refused, and so is
    a chunked body: WSGI hands Django no length for it, so it would be read (and forwarded) as
    empty. The ClearML clients always send a Content-Length; a proxy in front may de-chunk."""
    if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        raise LengthRequired("chunked request bodies are not accepted; send a Content-Length")
    for key, value in request.META.items():
        if key.startswith("HTTP_") and isinstance(value, str) and "\x00" in value:
            raise BadRequest(f"the {key[5:].replace('_', '-').title()} header holds a NUL character")


@csrf_exempt
def dispatch(request: HttpRequest, name: str, version: str | None = None) -> HttpResponse:
    requested = version or API_VERSION
    actual = None
    try:
        if request.method not in ALLOWED_METHODS:
            raise MethodNotAllowed(f"{request.method} is not supported, use GET or POST")
        try:
            parsed = registry.parse_version(requested)
        except ValueError:
            raise InvalidVersion(requested) from None
        ep = registry.resolve(name, parsed if version else _MAX_VERSION)
        fallback = hooks.fallback()
        if (ep is None or ep.forward_when_linked) and fallback is not None and fallback.active():
            if ep is not None:
                actual = ep.version_text
            _check_headers(request)
            return _dispatch_with_fallback(request, name, version, requested, ep, fallback)
        if ep is None:
            raise NotFound(f"Unable to find endpoint for name {name} and version {requested}")
        actual = ep.version_text
        _check_headers(request)
        call = ApiCall(
            request=request,
            endpoint=name,
            version=requested,
            data=request_data(request),
            path_version=version,
        )
        return _run(call, ep)
    except ApiError as exc:
        error = exc
    except ValidationError as exc:
        error = ValidationFailed(validation_message(exc))
    except PermissionDenied as exc:
        error = RoleNotAllowed(str(exc))
    except (Http404, ObjectDoesNotExist) as exc:
        error = NotFound(str(exc))
    except Exception:
        logger.exception("API call %s failed", name)
        error = ServerError()
    return envelope(
        name=name,
        requested_version=requested,
        actual_version=actual,
        code=error.code,
        subcode=error.subcode,
        msg=error.msg,
        error_data=error.data,
    )


def _run(call: ApiCall, ep: registry.Endpoint, *, authenticated: bool = False) -> HttpResponse:
    """Authenticate (unless the endpoint does it itself), then run the endpoint function."""
    if ep.auth:
        if not authenticated:
            authentication.authenticate(call)
        hooks.run_after_authentication(call, ep)
        if call.is_impersonated and not ep.impersonated:
            raise Forbidden(impersonation_refusal(call, call.endpoint))
    with hooks.call_context(call):
        data = ep.func(call)
    return envelope(
        name=call.endpoint, requested_version=call.version, actual_version=ep.version_text, data=data
    )


def _dispatch_with_fallback(request, name, version, requested, ep, fallback) -> HttpResponse:
    """A name the portal does not serve (or serves only without an upstream): authenticate, then
    the fallback answers when it serves the caller's workspace (the body is left unread for it);
    otherwise the portal's own endpoint, or 404."""
    call = ApiCall(request=request, endpoint=name, version=requested, data={}, path_version=version)
    authentication.authenticate(call)
    if fallback.handles(call):
        hooks.run_after_authentication(call, None)
        return fallback.respond(call)
    if ep is None:
        raise NotFound(f"Unable to find endpoint for name {name} and version {requested}")
    call.data = request_data(request)
    return _run(call, ep, authenticated=True)


@csrf_exempt
def invalid_path(request: HttpRequest, path: str = "") -> HttpResponse:
    """Anything under the API prefix that is not [vX.Y/]service.action: 400, as the open-source server."""
    error = InvalidPath(f"/{path}")
    return envelope(
        name=path, requested_version=None, actual_version=None, code=error.code, subcode=0, msg=error.msg
    )

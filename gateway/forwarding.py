"""The forwarder: API calls the portal does not answer itself go to the caller's workspace's
ClearML server (the transport's fallback hook, settings_portal/api/hooks.py).

For each call (already authenticated and metered by the transport):
1. endpoints that would change identities upstream are refused (403);
2. the caller's upstream user is found (or created: services.identity_for) and an upstream
   token minted for it (tokens.py), never the caller's own;
3. the request goes out with the same method, `/vX.Y/` path, query and body; the body is
   streamed as it came (gzip as sent), unless a before-hook needs it parsed (interception.py);
   of the headers only `X-ClearML-*` (minus Impersonate-As, Act-As, Tenant), Content-Type,
   Content-Encoding and Accept-Encoding pass;
4. the answer's status, body, Content-Type and Content-Encoding come back unchanged (small
   bodies in one piece, large ones streamed), unless an answer rewriter edits it (read whole,
   asked for uncompressed); its Set-Cookie and hop-by-hop headers never do.

A server that is down, hangs up or is slow gets the answer a reverse proxy would give: a ClearML
envelope with 502 (the clients retry it) or 504 after the read timeout, never a hang.
"""

from __future__ import annotations

import gzip
import json
import logging
import zlib
from collections.abc import Iterator
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse
from urllib3.exceptions import HTTPError

from settings_portal.api import ApiCall, errors
from settings_portal.inputs import loads_json

from . import client, interception, services, tokens
from .cache import Upstream
from .client import UpstreamUnavailable

logger = logging.getLogger(__name__)

# Identity is the portal's: nothing that creates, edits or reveals users, tokens or credentials
# upstream is forwarded (the portal's own auth.* endpoints never get here).
REFUSED_SERVICES = {"auth"}
REFUSED = {"users.create", "users.delete", "users.update", "login.logout"}
DROPPED_HEADERS = {"x-clearml-impersonate-as", "x-clearml-act-as", "x-clearml-tenant"}
PASSED_HEADERS = {"content-type", "content-encoding", "accept-encoding"}
# Bodies up to this size are read at once (one write upstream); larger ones are streamed.
SMALL_BODY = 64 * 1024
STREAM_CHUNK = 64 * 1024
# What a before-hook may make the portal read and parse (after gzip), per call.
PARSE_LIMIT = 64 * 1024 * 1024
JSON_LINES_ENDPOINTS = {"events.add_batch"}
USER_AGENT = "settings-portal-gateway"


def refusal(name: str) -> str | None:
    service = name.split(".", 1)[0]
    if service in REFUSED_SERVICES or name in REFUSED:
        return (
            f"{name} is not forwarded to the ClearML server: its users, tokens and credentials are "
            "managed by the portal (Settings > Users & Groups and Workspace), which creates the "
            "server's users itself."
        )
    return None


def upstream_path(call: ApiCall) -> str:
    version = call.path_version
    path = f"/v{version}/{call.endpoint}" if version else f"/{call.endpoint}"
    query = call.request.META.get("QUERY_STRING", "")
    return f"{path}?{query}" if query else path


def forwarded_headers(call: ApiCall, token: str, *, keep_encoding: bool = True) -> dict[str, str]:
    headers = {}
    for key, value in call.request.headers.items():
        lower = key.lower()
        if lower.startswith("x-clearml-"):
            if lower not in DROPPED_HEADERS:
                headers[key] = value
        elif lower in PASSED_HEADERS and (keep_encoding or lower != "content-encoding"):
            headers[key] = value
    headers["Authorization"] = f"Bearer {token}"
    headers["User-Agent"] = USER_AGENT
    return headers


def _decompress(raw: bytes) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(raw, PARSE_LIMIT)
    except zlib.error:
        raise errors.BadRequest("the gzip body cannot be decompressed") from None
    if inflater.unconsumed_tail:
        raise errors.PayloadTooLarge(f"more than {PARSE_LIMIT} bytes once decompressed")
    return data


def parse_body(name: str, raw: bytes, *, gzipped: bool, content_type: str) -> Any:
    """The request body as hooks see it: a dict, or a list for json-lines (events.add_batch)."""
    text = _decompress(raw) if gzipped else raw
    try:
        decoded = text.decode("utf-8")
        if name in JSON_LINES_ENDPOINTS or "json-lines" in content_type:
            stripped = decoded.strip()
            if stripped.startswith("["):
                return loads_json(stripped)
            return [loads_json(line) for line in decoded.splitlines() if line.strip()]
        return loads_json(decoded) if decoded.strip() else {}
    except ValueError:  # JSONRejected too: not JSON, too deep, NaN/Infinity
        raise errors.BadRequest("the body is not valid JSON") from None


def serialize_body(name: str, body: Any, content_type: str) -> bytes:
    if isinstance(body, list) and (name in JSON_LINES_ENDPOINTS or "json-lines" in content_type):
        return "\n".join(json.dumps(item) for item in body).encode()
    return json.dumps(body).encode()


def _refuse_unknown_upstream(upstream: Upstream) -> Upstream:
    """A link whose server never answered knows no company yet: try again, else 502."""
    if upstream.company_id:
        return upstream
    if services.link_recheck(upstream):
        fresh = services.upstream_for(upstream.workspace_id)
        if fresh is not None and fresh.company_id:
            return fresh
    raise errors.BadGateway("the ClearML server of this workspace has not answered yet")


def _proxy_error(exc: UpstreamUnavailable) -> errors.ApiError:
    if exc.status == 504:
        return errors.GatewayTimeout(str(exc))
    return errors.BadGateway(str(exc))


class Forwarder:
    """hooks.Fallback: the gateway."""

    def active(self) -> bool:
        return services.any_linked()

    def handles(self, call: ApiCall) -> bool:
        return services.upstream_for(call.workspace_id) is not None

    def respond(self, call: ApiCall) -> HttpResponse:
        name = call.endpoint
        why = refusal(name)
        if why:
            raise errors.Forbidden(why)
        upstream = services.upstream_for(call.workspace_id)
        if upstream is None:  # unlinked since handles() said yes
            raise errors.NotFound(f"Unable to find endpoint for name {name}")
        upstream = _refuse_unknown_upstream(upstream)
        try:
            who = services.identity_for(upstream, call.user_id)
        except UpstreamUnavailable as exc:
            raise _proxy_error(exc) from None
        except services.ProvisioningFailed as exc:
            # Not a network problem the clients should retry: the server refused.
            raise errors.ServerError(f"your user could not be set up on the ClearML server: {exc}") from None
        befores, afters = interception.hooks_for(name)
        befores = interception.wanted(befores, call) if befores else befores
        rewriters = interception.rewriters_for(name)
        rewriters = interception.wanted(rewriters, call) if rewriters else rewriters
        forwarded = interception.Forwarded(
            call=call, name=name, version=call.path_version, upstream=upstream, upstream_user=who
        )
        token = tokens.upstream_token(upstream, who)
        if befores:
            body, headers = self._checked_body(call, forwarded, befores, token)
        else:
            body, headers = self._streamed_body(call, token)
        rewriters = interception.needed(rewriters, forwarded) if rewriters else rewriters
        if rewriters:  # the answer is edited: ask for it uncompressed
            headers = {k: v for k, v in headers.items() if k.lower() != "accept-encoding"}
        try:
            response = client.pool().urlopen(
                call.request.method,
                upstream.url + upstream_path(call),
                body=body,
                headers=headers,
                preload_content=False,
                decode_content=False,
                redirect=False,
                retries=False,
                timeout=client.timeout(),
            )
        except (HTTPError, OSError) as exc:
            raise _proxy_error(client.unavailable(exc)) from None
        if rewriters:
            return self._rewritten(forwarded, response, afters, rewriters)
        return self._answer(forwarded, response, afters)

    # --- the request body ----------------------------------------------------------------------

    def _streamed_body(self, call: ApiCall, token: str):
        headers = forwarded_headers(call, token)
        length = _content_length(call)
        if length == 0:
            return None, headers
        headers["Content-Length"] = str(length)
        if length <= SMALL_BODY:
            return call.request.read(), headers
        return _BodyStream(call.request, length), headers

    def _checked_body(self, call: ApiCall, forwarded, befores, token: str):
        length = _content_length(call)
        if length > PARSE_LIMIT:
            raise errors.PayloadTooLarge(f"a checked call's body is limited to {PARSE_LIMIT} bytes")
        raw = call.request.read() if length else b""
        content_type = call.request.META.get("CONTENT_TYPE", "")
        gzipped = "gzip" in call.request.headers.get("Content-Encoding", "").lower()
        forwarded.body = (
            parse_body(call.endpoint, raw, gzipped=gzipped, content_type=content_type) if raw else {}
        )
        for func in befores:
            func(forwarded)  # raises an ApiError to refuse
        body = serialize_body(call.endpoint, forwarded.body, content_type)
        headers = forwarded_headers(call, token, keep_encoding=False)
        headers["Content-Length"] = str(len(body))
        return body, headers

    # --- the answer ----------------------------------------------------------------------------------

    def _answer(self, forwarded, response, afters) -> HttpResponse:
        status = response.status
        length = _int(response.headers.get("Content-Length"))
        buffered = length is not None and length <= (interception.AFTER_PARSE_LIMIT if afters else SMALL_BODY)
        if buffered:
            try:
                data = response.read()
            except (HTTPError, OSError) as exc:
                response.close()
                raise _proxy_error(client.unavailable(exc)) from None
            finally:
                response.release_conn()
            out = HttpResponse(data, status=status)
            out["Content-Length"] = str(len(data))
        else:
            data = None
            out = StreamingHttpResponse(_relay(response), status=status)
        content_type = response.headers.get("Content-Type")
        if content_type:
            out["Content-Type"] = content_type
        else:
            del out["Content-Type"]
        encoding = response.headers.get("Content-Encoding")
        if encoding:
            out["Content-Encoding"] = encoding
        out["Cache-Control"] = "no-store"  # as the portal's own answers: no proxy keeps them
        if afters:
            parsed = _parsed_answer(data, encoding, content_type) if data is not None else None
            _observed(forwarded, afters, status, parsed)
        return out

    def _rewritten(self, forwarded, response, afters, rewriters) -> HttpResponse:
        """The answer read whole, edited by REWRITERS, then sent (and shown to AFTERS) as edited."""
        try:
            data = response.read(interception.REWRITE_LIMIT + 1, decode_content=True)
        except (HTTPError, OSError) as exc:
            response.close()
            raise _proxy_error(client.unavailable(exc)) from None
        finally:
            response.release_conn()
        if len(data) > interception.REWRITE_LIMIT:
            raise errors.BadGateway("the ClearML server's answer is too large to be checked")
        status = response.status
        content_type = response.headers.get("Content-Type") or "application/json"
        parsed = _parsed_answer(data, None, content_type)
        if parsed is not None and isinstance(parsed.get("data"), dict):
            changed = False
            for func in rewriters:
                try:
                    changed = bool(func(forwarded, status, parsed)) or changed
                except Exception:
                    logger.exception("answer rewriter %r failed on %s", func, forwarded.name)
                    raise errors.BadGateway(
                        "the ClearML server's answer could not be checked against your access"
                    ) from None
            if changed:
                data = json.dumps(parsed).encode()
        elif status == 200:  # a success the rewriters cannot read: never passed on unchecked
            raise errors.BadGateway("the ClearML server's answer could not be read")
        out = HttpResponse(data, status=status, content_type=content_type)
        out["Content-Length"] = str(len(data))
        out["Cache-Control"] = "no-store"
        _observed(forwarded, afters, status, parsed)
        return out


def _observed(forwarded, afters, status: int, parsed: dict | None) -> None:
    """The after-hooks see the answer; their failures are logged, never the caller's."""
    for func in afters:
        try:
            func(forwarded, status, parsed)
        except Exception:
            logger.exception("after-forward hook %r failed on %s", func, forwarded.name)


def _int(value) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _content_length(call: ApiCall) -> int:
    length = _int(call.request.META.get("CONTENT_LENGTH")) or 0
    return max(length, 0)


def _parsed_answer(data: bytes, encoding: str | None, content_type: str | None) -> dict | None:
    if "json" not in (content_type or ""):
        return None
    try:
        if encoding and "gzip" in encoding.lower():
            data = gzip.decompress(data)
        parsed = json.loads(data)
    except (ValueError, OSError, EOFError):
        return None
    return parsed if isinstance(parsed, dict) else None


class _BodyStream:
    """The request body as urllib3 reads it: in blocks, straight from the client's connection."""

    def __init__(self, request, length: int):
        self.request = request
        self.remaining = length

    def read(self, size: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        if size is None or size < 0 or size > self.remaining:
            size = self.remaining
        chunk = self.request.read(size)
        self.remaining -= len(chunk)
        if not chunk:
            self.remaining = 0
        return chunk


def _relay(response) -> Iterator[bytes]:
    """The upstream's body as it arrives; the connection goes back to the pool at the end."""
    complete = False
    try:
        yield from response.stream(STREAM_CHUNK, decode_content=False)
        complete = True
    except (HTTPError, OSError):
        # The status is already sent: the client sees a truncated body and retries.
        logger.warning("the ClearML server broke off an answer mid-way")
    finally:
        if not complete:  # a connection with unread data never goes back to the pool
            response.close()
        response.release_conn()

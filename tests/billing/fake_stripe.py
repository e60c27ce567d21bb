"""An in-process fake Stripe behind the SDK's own transport hook (`http_client=`).

Speaks the current API shapes the portal uses (customers and their payment methods,
Checkout and Billing Portal sessions returning URLs, invoices with `invoice_pdf` and
`hosted_invoice_url`, `invoices.create_preview`, Billing Meter events with an
`identifier` deduplicated as Stripe does), answers unknown objects with Stripe's 404
error, and records every call for assertions. No socket is opened.
"""

from __future__ import annotations

import itertools
import json
import time
from urllib.parse import parse_qsl, urlsplit

import stripe


class FakeStripe(stripe.HTTPClient):
    name = "fake"

    def __init__(self):
        super().__init__()
        self.calls: list[tuple[str, str, dict]] = []
        self.customers: dict[str, dict] = {}
        self.payment_methods: dict[str, list[dict]] = {}
        self.invoices: dict[str, list[dict]] = {}
        self.meter_events: dict[str, dict] = {}
        self.fail_with: int | None = None
        self._ids = itertools.count(1)

    # --- helpers for tests ---------------------------------------------------------------
    def new_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids):06d}"

    def calls_to(self, method: str, path: str) -> list[dict]:
        return [params for m, p, params in self.calls if m == method and p == path]

    def add_invoice(self, customer: str, *, total: int, number: str, status: str = "paid") -> dict:
        inv_id = self.new_id("in")
        invoice = {
            "id": inv_id,
            "object": "invoice",
            "customer": customer,
            "number": number,
            "status": status,
            "currency": "usd",
            "total": total,
            "amount_due": total,
            "amount_paid": total if status == "paid" else 0,
            "created": int(time.time()),
            "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_fake/{inv_id}",
            "invoice_pdf": f"https://pay.stripe.com/invoice/acct_fake/{inv_id}/pdf",
        }
        self.invoices.setdefault(customer, []).insert(0, invoice)
        return invoice

    def add_card(self, customer: str, *, brand: str = "visa", last4: str = "4242") -> dict:
        pm = {
            "id": self.new_id("pm"),
            "object": "payment_method",
            "type": "card",
            "customer": customer,
            "card": {"brand": brand, "last4": last4, "exp_month": 12, "exp_year": 2030},
        }
        self.payment_methods.setdefault(customer, []).append(pm)
        return pm

    # --- the transport ---------------------------------------------------------------------
    def request(self, method, url, headers, post_data=None, *, _usage=None):
        parts = urlsplit(url)
        params = dict(parse_qsl(parts.query))
        if post_data:
            params.update(parse_qsl(post_data.decode() if isinstance(post_data, bytes) else post_data))
        method = method.upper()
        self.calls.append((method, parts.path, params))
        if self.fail_with:
            return self._error(self.fail_with, "api_error", "fake outage")
        status, body = self._route(method, parts.path.split("/")[2:], params)
        return json.dumps(body), status, {"request-id": self.new_id("req")}

    def _error(self, status, kind, message):
        body = {
            "error": {"type": kind, "message": message, "code": "resource_missing" if status == 404 else None}
        }
        return json.dumps(body), status, {}

    @staticmethod
    def _list(path, data):
        return {"object": "list", "url": path, "has_more": False, "data": data}

    def _missing(self, what):
        return 404, {
            "error": {
                "type": "invalid_request_error",
                "code": "resource_missing",
                "message": f"No such {what}",
            }
        }

    def _route(self, method, seg, params):
        if seg == ["customers"] and method == "POST":
            cus = {
                "id": self.new_id("cus"),
                "object": "customer",
                "email": params.get("email"),
                "name": params.get("name"),
                "metadata": {k[9:-1]: v for k, v in params.items() if k.startswith("metadata[")},
            }
            self.customers[cus["id"]] = cus
            return 200, cus
        if len(seg) == 2 and seg[0] == "customers" and method == "GET":
            return (200, self.customers[seg[1]]) if seg[1] in self.customers else self._missing("customer")
        if len(seg) == 3 and seg[0] == "customers" and seg[2] == "payment_methods":
            if seg[1] not in self.customers:
                return self._missing("customer")
            return 200, self._list(
                f"/v1/customers/{seg[1]}/payment_methods", self.payment_methods.get(seg[1], [])
            )
        if seg == ["checkout", "sessions"] and method == "POST":
            cs = self.new_id("cs")
            return 200, {
                "id": cs,
                "object": "checkout.session",
                "mode": params.get("mode"),
                "customer": params.get("customer"),
                "client_reference_id": params.get("client_reference_id"),
                "url": f"https://checkout.stripe.com/c/pay/{cs}",
            }
        if seg == ["billing_portal", "sessions"] and method == "POST":
            if params.get("customer") not in self.customers:
                return self._missing("customer")
            bps = self.new_id("bps")
            return 200, {
                "id": bps,
                "object": "billing_portal.session",
                "customer": params["customer"],
                "return_url": params.get("return_url"),
                "url": f"https://billing.stripe.com/p/session/{bps}",
            }
        if seg == ["invoices"] and method == "GET":
            return 200, self._list("/v1/invoices", self.invoices.get(params.get("customer"), []))
        if seg == ["invoices", "create_preview"] and method == "POST":
            if params.get("customer") not in self.customers:
                return self._missing("customer")
            return 200, {
                "object": "invoice",
                "customer": params["customer"],
                "subscription": params.get("subscription"),
                "currency": "usd",
                "amount_due": 2150,
                "total": 2150,
                "period_end": int(time.time()) + 86400,
            }
        if seg == ["billing", "meter_events"] and method == "POST":
            event = {
                "object": "billing.meter_event",
                "event_name": params["event_name"],
                "identifier": params["identifier"],
                "timestamp": int(params["timestamp"]),
                "payload": {k[8:-1]: v for k, v in params.items() if k.startswith("payload[")},
                "created": int(time.time()),
                "livemode": False,
            }
            # Stripe keeps the first event of an identifier (unique over 24 hours).
            self.meter_events.setdefault(params["identifier"], event)
            return 200, event
        return self._missing(f"route {method} /{'/'.join(seg)}")

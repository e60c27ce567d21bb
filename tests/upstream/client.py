"""A minimal ClearML API client for tests: one keep-alive session, Bearer or Basic credentials."""

from __future__ import annotations

import json
from dataclasses import dataclass

import requests


@dataclass
class Reply:
    status: int
    body: dict

    @property
    def meta(self) -> dict:
        return self.body.get("meta", {})

    @property
    def data(self) -> dict:
        return self.body.get("data", {})

    @property
    def subcode(self) -> int:
        return self.meta.get("result_subcode")

    @property
    def msg(self) -> str:
        return self.meta.get("result_msg", "")


class ApiClient:
    def __init__(
        self, url: str, *, token: str | None = None, basic: tuple[str, str] | None = None, headers=None
    ):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        if basic:
            self.session.auth = basic
        self.session.headers.update(headers or {})

    def call(
        self, endpoint: str, data=None, *, version: str | None = None, headers=None, method="POST", raw=None
    ) -> Reply:
        path = f"/v{version}/{endpoint}" if version else f"/{endpoint}"
        body = raw if raw is not None else json.dumps(data if data is not None else {}).encode()
        response = self.session.request(
            method,
            self.url + path,
            data=body,
            headers={"Content-Type": "application/json", **(headers or {})},
            timeout=10,
        )
        try:
            payload = response.json()
        except ValueError:
            payload = {"text": response.text}
        return Reply(response.status_code, payload)

    def ok(self, endpoint: str, **data) -> dict:
        reply = self.call(endpoint, data)
        assert reply.status == 200, (endpoint, reply.status, reply.meta)
        return reply.data

    def close(self):
        self.session.close()

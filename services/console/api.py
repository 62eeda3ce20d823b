"""Calls to intake, matching and placement as the signed-in user.

Each page mints one short-lived token carrying the user's role, regions and employer id (never more), so each
service applies its own rules unchanged. A service that cannot be reached raises ServiceDown, which the pages
show as a clear message; an error answer raises ApiError with the service's fields and reasons.
"""

from __future__ import annotations

import threading
from typing import Any

import requests

from services.console.accounts import User
from shared.auth import issue_token

SERVICE_NAMES = {"intake": "求职登记服务（intake）", "matching": "岗位匹配服务（matching）",
                 "placement": "推荐与安置服务（placement）"}

_local = threading.local()


def _session() -> requests.Session:
    # One connection pool per thread: gunicorn's threads never share a Session.
    s = getattr(_local, "session", None)
    if s is None:
        s = _local.session = requests.Session()
    return s


class ServiceDown(Exception):
    def __init__(self, service: str):
        super().__init__(service)
        self.service = service

    @property
    def message(self) -> str:
        return f"{SERVICE_NAMES.get(self.service, self.service)}暂时无法连接，请稍后再试；已录入的内容没有丢失。"


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, fields: dict[str, list[str]] | None = None,
                 body: dict | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.body = body or {}


class Services:
    """The services as one signed-in user sees them."""

    def __init__(self, settings, *, role: str, sub: str, regions=(), employer_id: str | None = None,
                 request_id: str | None = None):
        self.settings = settings
        self.request_id = request_id
        base = settings.base
        self.token = issue_token(secret=base.secret, role=role, sub=sub, regions=list(regions),
                                 employer_id=employer_id, ttl_s=settings.token_ttl_s, issuer=base.jwt_issuer,
                                 audience=base.jwt_audience)

    @classmethod
    def for_user(cls, settings, user: User, *, request_id: str | None = None) -> Services:
        return cls(settings, role=user.role, sub=f"console:{user.username}", regions=user.regions,
                   employer_id=user.employer_id, request_id=request_id)

    def call(self, service: str, method: str, path: str, *, params: dict | None = None, json: Any = None,
             files: dict | None = None, data: dict | None = None, raw: bool = False):
        url = self.settings.service_urls[service] + path
        headers = {"Authorization": f"Bearer {self.token}"}
        if self.request_id:
            headers["X-Request-ID"] = self.request_id
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            resp = _session().request(method, url, params=clean, json=json, files=files, data=data, headers=headers,
                                      timeout=self.settings.service_timeout_s)
        except requests.RequestException:
            raise ServiceDown(service) from None
        if resp.status_code >= 500 and resp.status_code != 503:
            raise ServiceDown(service)
        if resp.status_code == 503:
            raise ServiceDown(service)
        if resp.status_code >= 400:
            try:
                body = resp.json()
                err = body.get("error") or {}
            except ValueError:
                body, err = {}, {}
            raise ApiError(resp.status_code, err.get("code", "error"), err.get("message", resp.reason or ""),
                           err.get("fields") or {}, body=err)
        if raw:
            return resp
        if resp.status_code == 204 or not resp.content:
            return None
        return resp.json()

    def get(self, service: str, path: str, **params):
        return self.call(service, "GET", path, params=params)

    def post(self, service: str, path: str, body: Any = None):
        return self.call(service, "POST", path, json=body if body is not None else {})

    def patch(self, service: str, path: str, body: Any):
        return self.call(service, "PATCH", path, json=body)

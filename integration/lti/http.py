"""Outgoing HTTP for LTI: one requests session with our User-Agent, timeouts and the
outbound policy (connectors.outbound: no private address, no redirect, bounded answers).

`LocalAdapter` answers requests for an in-process WSGI app (the demo platform) without a
socket, so the demo works under the Flask test client and a single-threaded server.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from werkzeug.test import Client

from connectors.outbound import OutboundPolicy, OutboundSession

TIMEOUT = 10.0


def user_agent(base_url: str) -> str:
    return f"Reperes/0.1 (LTI 1.3 tool; +{base_url})"


def make_session(base_url: str, policy: OutboundPolicy | None = None) -> requests.Session:
    """Registration, JWKS, NRPS, AGS and token requests go through this session."""
    session = OutboundSession(policy)
    session.headers["User-Agent"] = user_agent(base_url)
    return session


class LocalAdapter(BaseAdapter):
    """A requests transport that calls a WSGI application in this process."""

    def __init__(self, wsgi_app: Any) -> None:
        super().__init__()
        self._client = Client(wsgi_app, use_cookies=False)

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **_kwargs: Any
    ) -> requests.Response:
        url = urlsplit(request.url or "")
        body = request.body.encode("utf-8") if isinstance(request.body, str) else request.body
        answer = self._client.open(
            url.path or "/",
            base_url=f"{url.scheme}://{url.netloc}",
            query_string=url.query,
            method=request.method or "GET",
            headers=list(request.headers.items()),
            data=body or b"",
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response.headers = CaseInsensitiveDict(dict(answer.headers.items()))
        response._content = answer.get_data()
        response.url = request.url or ""
        response.request = request
        response.reason = answer.status.split(" ", 1)[-1]
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        return response

    def close(self) -> None:
        pass

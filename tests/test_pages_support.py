"""Helpers shared by the page tests (no test here): forms, tokens, the database of a demo app.

Page tests launch for real through the demo platform (`launch_as`) and then use the
pages as a browser without JavaScript would: GET a page, read its form, POST it back.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from integration.runtime import Runtime
from tests.support.lti import launch_as
from tests.support.parcours import jpeg_bytes

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')

__all__ = ["db_of", "form_token", "jpeg_bytes", "launched", "post", "text_of", "values_of"]


def text_of(response: TestResponse) -> str:
    """The page as text, entities decoded (what a person reads, roughly)."""
    return html.unescape(response.get_data(as_text=True))


def form_token(client: FlaskClient, page: str = "/") -> str:
    """The CSRF token the pages put in their forms (read from a page, as a browser would)."""
    response = client.get(page, follow_redirects=True)
    found = _TOKEN.search(response.get_data(as_text=True))
    assert found, f"no form token on {page}"
    return found.group(1)


def post(client: FlaskClient, path: str, data: dict[str, Any] | None = None, *,
         token_from: str = "/", **kwargs: Any) -> TestResponse:
    """POST a page form with the session's token (multipart when files are given)."""
    body = {"csrf_token": form_token(client, token_from), **(data or {})}
    return client.post(path, data=body, **kwargs)


def values_of(page: str, name: str) -> list[str]:
    """The values of inputs named `name` on a page."""
    return [html.unescape(v) for v in re.findall(
        rf'name="{re.escape(name)}" value="([^"]*)"', page)]


def launched(app: Flask, who: str = "candidat1", course: str = "rae") -> FlaskClient:
    """A new browser (client) launched as `who` in `course`."""
    client = app.test_client()
    launch_as(client, who, course)
    return client


@contextmanager
def db_of(app: Flask) -> Iterator[Session]:
    """A session on the app's database, committed at the end."""
    runtime: Runtime = app.extensions["reperes"]
    with runtime.sessions.begin() as session:
        yield session

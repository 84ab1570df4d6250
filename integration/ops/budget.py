"""A time budget for the storage calls of one web request.

gunicorn kills a worker after 120 s. A hanging Nextcloud must never hold a request that
long: every request runs inside `connectors.storage.time_budget`, so each storage call's
connect and read timeouts are cut to what is left, and no call starts once it is spent
(the caller gets `Unavailable`, as for an outage: the dossier waits in the queue, the page
says « sera copié dès que possible »). Writing dossiers happens after the answer
(`integration.dossier.later`), without this budget but with each call's own timeouts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from connectors.storage import time_budget

#: Seconds all storage calls of one request may take together (gunicorn's timeout: 120 s).
REQUEST_STORAGE_BUDGET = 30.0

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def bound_storage_time(wsgi_app: WsgiApp) -> WsgiApp:
    """Wrap a WSGI app so that each request's storage calls share one time budget."""

    def bounded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with time_budget(REQUEST_STORAGE_BUDGET):
            return wsgi_app(environ, start_response)

    return bounded

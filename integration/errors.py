"""How errors reach people: a short French page, or a JSON problem for the API."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# Plain French for people; each says what to do next.
MESSAGES: dict[int, tuple[str, str]] = {
    400: ("La demande n’est pas correcte.", "Revenez en arrière et réessayez."),
    401: ("Vous n’êtes plus connecté.", "Rouvrez Repères depuis votre cours Moodle."),
    403: ("Vous n’avez pas accès à cette page.", "Relancez Repères depuis votre cours Moodle."),
    404: ("Cette page n’existe pas.", "Revenez à l’accueil de Repères."),
    405: ("Cette action n’est pas possible ici.", "Revenez en arrière."),
    409: ("Quelqu’un a changé cette fiche en même temps.", "Rechargez la page et réessayez."),
    413: ("Le fichier est trop gros.", "Choisissez une photo plus petite."),
    415: ("Ce type de fichier n’est pas accepté.", "Envoyez une photo ou un document."),
    422: ("Des informations manquent ou ne sont pas correctes.", "Corrigez et réessayez."),
    429: ("Trop de demandes.", "Attendez une minute et réessayez."),
    500: ("Un problème est arrivé de notre côté.", "Réessayez dans un moment."),
    503: ("Le service n’est pas disponible.", "Réessayez dans un moment."),
}


def wants_problem_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and not request.accept_mimetypes["text/html"]


def problem(status: int, title: str, detail: str = "", **extra: Any) -> ResponseReturnValue:
    """An RFC 9457 problem document."""
    body = {"type": "about:blank", "title": title, "status": status, **extra}
    if detail:
        body["detail"] = detail
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def error_page(status: int, detail: str | None = None) -> ResponseReturnValue:
    title, advice = MESSAGES.get(status, MESSAGES[500 if status >= 500 else 400])
    if wants_problem_json():
        return problem(status, title, detail or advice)
    html = render_template("error.html", status=status, title=title, advice=detail or advice,
                           signed_out=status == 401)
    return html, status


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> ResponseReturnValue:
        status = exc.code or 500
        detail = getattr(exc, "reperes_detail", None)
        return error_page(status, detail)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> ResponseReturnValue:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_page(500)

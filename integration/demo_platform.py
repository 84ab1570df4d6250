"""A small, real LTI 1.3 platform inside the same process — for `reperes demo` and tests only.

It signs its own id_tokens with its own RSA key (kept in the database like the tool's),
runs the whole OIDC flow (login initiation -> its auth endpoint -> form_post to
/lti/launch), places links by deep linking, and answers Names and Roles and grade calls
behind its own token endpoint. Its course page embeds Repères in an iframe and offers the
LTI postMessage storage, as a platform that cares about blocked cookies would.

Anyone may launch as anyone here: it is a demonstration, switched on only by
`settings.demo`. Line items, scores and placed links live in memory: they are demo props.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from itertools import count
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
from flask import Blueprint, Flask, Response, abort, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from .demo_people import COURSES, DEFAULT_COURSE, PEOPLE, DemoPerson
from .lti import claims as c
from .lti.context import LtiContext, ToolUrls, lti_context
from .lti.http import LocalAdapter
from .lti.registration import add_platform
from .lti.roles import map_roles

log = logging.getLogger(__name__)

CLIENT_ID = "reperes-demo"
DEPLOYMENT_ID = "demo-deployment"
PLATFORM_NAME = "Plateforme de démonstration"
ID_TOKEN_LIFETIME = 60  # as Moodle
HINT_MAX_AGE = 600
TOKEN_MAX_AGE = 3600

# The sample people, their courses and the parcours already under way: demo_people.py.
DEFAULT_LINK = "demo-link-parcours"
SCOPES = c.TOOL_SCOPES


def course_title(course: str) -> str:
    return COURSES.get(course, f"Cours {course}")


def short_role(uri: str) -> str:
    """NRPS as Moodle gives it: `Learner`, not the full URI."""
    return uri.rsplit("#", 1)[-1]


@dataclass
class _Props:
    """What the demo keeps in memory: line items, scores, links placed by deep linking."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: count[int] = field(default_factory=lambda: count(1))
    line_items: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    scores: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    links: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


class DemoPlatform:
    """The demo platform of one app: its URLs, its key, its props."""

    def __init__(self, app: Flask, lti: LtiContext) -> None:
        base = str(lti.settings.extra.get("demo_base_url") or lti.settings.base_url).rstrip("/")
        self.issuer = base + "/demo"
        self.tool: ToolUrls = lti.urls
        self.lti = lti
        self.props = _Props()
        secret = str(app.config["SECRET_KEY"])
        self._hints = URLSafeTimedSerializer(secret, salt="reperes-demo-hint")
        self._tokens = URLSafeTimedSerializer(secret, salt="reperes-demo-token")
        self._dl_data = URLSafeTimedSerializer(secret, salt="reperes-demo-deep-link")

    # URLs
    @property
    def auth_url(self) -> str:
        return self.issuer + "/auth"

    @property
    def token_url(self) -> str:
        return self.issuer + "/token"

    @property
    def jwks_url(self) -> str:
        return self.issuer + "/jwks"

    def nrps_url(self, course: str) -> str:
        return f"{self.issuer}/nrps/{course}/memberships"

    def lineitems_url(self, course: str) -> str:
        return f"{self.issuer}/ags/{course}/lineitems"

    def lineitem_url(self, course: str, item_id: int) -> str:
        return f"{self.issuer}/ags/{course}/lineitems/{item_id}/lineitem"

    # registration
    def register(self) -> None:
        """Make (or refresh) the demo's Platform row and deployment: idempotent."""
        for attempt in range(2):
            try:
                with self.lti.sessions.begin() as session:
                    add_platform(
                        session,
                        issuer=self.issuer,
                        client_id=CLIENT_ID,
                        deployment_ids=[DEPLOYMENT_ID],
                        auth_url=self.auth_url,
                        token_url=self.token_url,
                        jwks_url=self.jwks_url,
                        name=PLATFORM_NAME,
                    )
                return
            except IntegrityError:
                if attempt:
                    raise

    # the launch, platform side
    def login_initiation(
        self,
        who: str = "candidat1",
        course: str | None = DEFAULT_COURSE,
        *,
        kind: str = "resource",
        link: str | None = None,
        roles: list[str] | None = None,
        custom: dict[str, str] | None = None,
        storage: bool = False,
        document_target: str = "iframe",
    ) -> tuple[str, dict[str, str]]:
        """The tool login URL and the form a platform posts to it to start a launch."""
        person = PEOPLE.get(who)
        if person is None:
            raise KeyError(f"no demo person {who!r}; choose among {sorted(PEOPLE)}")
        hint = self._hints.dumps(
            {
                "who": who,
                "course": course,
                "kind": kind,
                "link": link,
                "roles": roles,
                "custom": custom,
                "target": document_target,
            }
        )
        fields = {
            "iss": self.issuer,
            "login_hint": person.sub,
            "target_link_uri": self.tool.launch,
            "lti_message_hint": hint,
            "client_id": CLIENT_ID,
            "lti_deployment_id": DEPLOYMENT_ID,
        }
        if storage:
            fields["lti_storage_target"] = "_parent"
        return self.tool.login, fields

    def authorize(self, params: dict[str, str]) -> tuple[str, dict[str, str]]:
        """The OIDC auth endpoint: check the request, answer with a signed id_token."""
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri != self.tool.launch:
            abort(400, "redirect_uri is not registered")
        for name, expected in (
            ("scope", "openid"),
            ("response_type", "id_token"),
            ("response_mode", "form_post"),
            ("prompt", "none"),
        ):
            if params.get(name) != expected:
                abort(400, f"{name} must be {expected}")
        state = params.get("state", "")
        if params.get("client_id") != CLIENT_ID:
            return redirect_uri, {"error": "unauthorized_client", "state": state}
        try:
            hint = self._hints.loads(params.get("lti_message_hint", ""), max_age=HINT_MAX_AGE)
        except BadSignature:
            return redirect_uri, {"error": "invalid_request", "state": state}
        person = PEOPLE.get(hint.get("who", ""))
        if person is None or params.get("login_hint") != person.sub or not params.get("nonce"):
            return redirect_uri, {"error": "access_denied", "state": state}
        token = self.id_token(person, hint, nonce=params["nonce"])
        return redirect_uri, {"id_token": token, "state": state}

    def id_token(self, person: DemoPerson, hint: dict[str, Any], *, nonce: str) -> str:
        now = int(time.time())
        course = hint.get("course")
        roles = hint.get("roles")
        body: dict[str, Any] = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "sub": person.sub,
            "nonce": nonce,
            "iat": now,
            "exp": now + ID_TOKEN_LIFETIME,
            "given_name": person.given_name,
            "family_name": person.family_name,
            "name": person.name,
            "email": person.email,
            c.DEPLOYMENT_ID: DEPLOYMENT_ID,
            c.TARGET_LINK_URI: self.tool.launch,
            c.VERSION: "1.3.0",
            c.ROLES: list(person.roles) if roles is None else list(roles),
            c.TOOL_PLATFORM: {"product_family_code": "reperes-demo", "name": PLATFORM_NAME},
            c.LAUNCH_PRESENTATION: {
                "document_target": hint.get("target") or "iframe",
                "return_url": self.issuer,
                "locale": "fr",
            },
        }
        if course is not None:
            body[c.CONTEXT] = {
                "id": course,
                "label": course.upper(),
                "title": course_title(course),
                "type": ["CourseSection"],
            }
            body[c.NRPS] = {
                "context_memberships_url": self.nrps_url(course),
                "service_versions": ["2.0"],
            }
            body[c.AGS] = {
                "scope": [s for s in SCOPES if s != c.SCOPE_NRPS],
                "lineitems": self.lineitems_url(course),
            }
        custom = dict(hint.get("custom") or {})
        if hint.get("kind") == "deep_link":
            body[c.MESSAGE_TYPE] = c.DEEP_LINKING_REQUEST
            body[c.DL_SETTINGS] = {
                "deep_link_return_url": self.issuer + "/deep-link-return",
                "accept_types": ["ltiResourceLink"],
                "accept_presentation_document_targets": ["iframe", "window"],
                "accept_multiple": True,
                "auto_create": True,
                "title": "Repères",
                "data": self._dl_data.dumps({"course": course}),
            }
        else:
            body[c.MESSAGE_TYPE] = c.RESOURCE_LINK_REQUEST
            link_id = hint.get("link") or DEFAULT_LINK
            link = self._placed_link(course, link_id)
            custom = {**(link or {}).get("custom", {}), **custom}
            body[c.RESOURCE_LINK] = {
                "id": link_id,
                "title": (link or {}).get("title", "Repères – Mon parcours"),
            }
            if link and link.get("lineitem") and c.AGS in body:
                # A graded activity: Moodle gives its own gradebook column (issue 17).
                body[c.AGS]["lineitem"] = link["lineitem"]
        if custom:
            body[c.CUSTOM] = custom
        key = self.lti.demo_keys.signing_key()
        return jwt.encode(body, key.private_key, algorithm="RS256", headers={"kid": key.kid})

    def place_link(self, course: str, title: str, *, score_maximum: float | None = None,
                   custom: dict[str, str] | None = None, url: Any = None) -> dict[str, Any]:
        """Place a Repères activity in a course, as a teacher would (deep linking does the
        same); with `score_maximum`, the activity is graded: it has its own line item."""
        with self.props.lock:
            link_id = f"demo-link-{next(self.props.ids)}"
            link: dict[str, Any] = {"id": link_id, "title": title, "custom": dict(custom or {}),
                                    "url": url}
            if score_maximum:
                item_id = next(self.props.ids)
                link["lineitem"] = self.lineitem_url(course, item_id)
                self.props.line_items.setdefault(course, {})[item_id] = {
                    "id": link["lineitem"], "label": title, "scoreMaximum": score_maximum,
                    "resourceId": "", "resourceLinkId": link_id, "tag": "",
                }
            self.props.links.setdefault(course, []).append(link)
        return link

    def _placed_link(self, course: str | None, link_id: str) -> dict[str, Any] | None:
        for link in self.props.links.get(course or "", []):
            if link["id"] == link_id:
                return link
        return None

    # services, platform side
    def issue_access_token(self, form: dict[str, str]) -> tuple[dict[str, Any], int]:
        """The token endpoint: client credentials with the tool's signed assertion."""
        if form.get("grant_type") != "client_credentials":
            return {"error": "unsupported_grant_type"}, 400
        if (
            form.get("client_assertion_type")
            != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        ):
            return {"error": "invalid_request"}, 400
        assertion = form.get("client_assertion", "")
        try:
            kid = jwt.get_unverified_header(assertion).get("kid", "")
            key = self.lti.tool_keys.public_key(str(kid))
            if key is None:
                return {"error": "invalid_client"}, 401
            claims = jwt.decode(
                assertion,
                key,
                algorithms=["RS256"],
                audience=self.token_url,
                issuer=CLIENT_ID,
                options={"require": ["exp", "iat", "sub", "jti"]},
            )
        except jwt.PyJWTError as exc:
            return {"error": "invalid_client", "error_description": str(exc)}, 401
        if claims.get("sub") != CLIENT_ID:
            return {"error": "invalid_client"}, 401
        asked = [s for s in form.get("scope", "").split() if s in SCOPES]
        token = self._tokens.dumps({"scopes": asked})
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": TOKEN_MAX_AGE,
            "scope": " ".join(asked),
        }, 200

    def authorised(self, scope: str, *also: str) -> None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            abort(401)
        try:
            granted = self._tokens.loads(header[7:], max_age=TOKEN_MAX_AGE)["scopes"]
        except (BadSignature, KeyError, TypeError):
            abort(401)
        if not {scope, *also} & set(granted):
            abort(403)

    def members(self, course: str) -> list[dict[str, Any]]:
        return [
            {
                "status": "Active",
                "user_id": p.sub,
                "name": p.name,
                "given_name": p.given_name,
                "family_name": p.family_name,
                "email": p.email,
                "roles": [short_role(r) for r in p.roles],
            }
            for p in PEOPLE.values()
        ]


def _page_of(items: list[Any], url_base: str) -> tuple[list[Any], str | None]:
    """`limit`/`page` paging with a `Link: rel="next"`, as platforms do."""
    try:
        limit = max(1, int(request.args.get("limit", "100")))
        page = max(1, int(request.args.get("page", "1")))
    except ValueError:
        abort(400)
    start = (page - 1) * limit
    chunk = items[start : start + limit]
    next_url = None
    if start + limit < len(items):
        next_url = f"{url_base}?{urlencode({'limit': limit, 'page': page + 1})}"
    return chunk, next_url


bp = Blueprint("demo", __name__, url_prefix="/demo")


def demo_of(app: Flask | None = None) -> DemoPlatform:
    """The demo platform of `app` (the current one by default)."""
    application = app or current_app
    demo: DemoPlatform = application.extensions["reperes_demo"]
    return demo


@bp.get("")
def index() -> ResponseReturnValue:
    demo = demo_of()
    return render_template(
        "lti/demo_index.html",
        people=PEOPLE.values(),
        courses=COURSES,
        links=demo.props.links,
        map_roles=map_roles,
    )


@bp.get("/course")
def course_page() -> ResponseReturnValue:
    """A course page of the platform, with Repères in an iframe and postMessage storage."""
    args = {k: v for k, v in request.args.items() if k in ("who", "course", "kind", "link")}
    args.setdefault("course", DEFAULT_COURSE)
    if args.get("who") not in PEOPLE:
        abort(404)
    return render_template(
        "lti/demo_course.html",
        person=PEOPLE[args["who"]],
        title=course_title(args["course"]),
        frame_src=f"{demo_of().issuer}/start?{urlencode({**args, 'storage': '1'})}",
        tool_origin=demo_of().tool.origin,
    )


@bp.get("/start")
def start() -> ResponseReturnValue:
    """The platform starts a launch: it posts the login initiation to the tool."""
    who = request.args.get("who", "")
    if who not in PEOPLE:
        abort(404)
    course = request.args.get("course", DEFAULT_COURSE) or None
    action, fields = demo_of().login_initiation(
        who,
        course,
        kind=request.args.get("kind", "resource"),
        link=request.args.get("link") or None,
        storage=request.args.get("storage") == "1",
        document_target="iframe" if request.args.get("storage") == "1" else "window",
    )
    return render_template(
        "lti/autopost.html", action=action, fields=fields, message="Ouverture de Repères…"
    )


@bp.get("/auth")
def auth() -> ResponseReturnValue:
    action, fields = demo_of().authorize({k: v for k, v in request.args.items()})
    return render_template(
        "lti/autopost.html", action=action, fields=fields, message="Ouverture de Repères…"
    )


@bp.get("/jwks")
def jwks() -> ResponseReturnValue:
    return jsonify(demo_of().lti.demo_keys.jwks())


@bp.post("/token")
def token() -> ResponseReturnValue:
    body, status = demo_of().issue_access_token({k: v for k, v in request.form.items()})
    # Labelled text/html on purpose: Moodle's token.php does the same.
    return Response(json.dumps(body), status=status, mimetype="text/html")


@bp.get("/nrps/<course>/memberships")
def memberships(course: str) -> ResponseReturnValue:
    demo = demo_of()
    demo.authorised(c.SCOPE_NRPS)
    chunk, next_url = _page_of(demo.members(course), demo.nrps_url(course))
    response = jsonify(
        id=demo.nrps_url(course),
        context={"id": course, "label": course.upper(), "title": course_title(course)},
        members=chunk,
    )
    response.mimetype = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
    if next_url:
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return response


@bp.route("/ags/<course>/lineitems", methods=["GET", "POST"])
def lineitems(course: str) -> ResponseReturnValue:
    demo = demo_of()
    props = demo.props
    if request.method == "POST":
        demo.authorised(c.SCOPE_LINEITEM)
        data = request.get_json(force=True, silent=True) or {}
        if not isinstance(data, dict) or not data.get("label") or not data.get("scoreMaximum"):
            abort(400)
        with props.lock:
            item_id = next(props.ids)
            item = {
                "id": demo.lineitem_url(course, item_id),
                "label": str(data["label"]),
                "scoreMaximum": data["scoreMaximum"],
                "resourceId": data.get("resourceId", ""),
                "tag": data.get("tag", ""),
            }
            props.line_items.setdefault(course, {})[item_id] = item
        response = jsonify(item)
        response.status_code = 201
        response.mimetype = "application/vnd.ims.lis.v2.lineitem+json"
        return response
    demo.authorised(c.SCOPE_LINEITEM, c.SCOPE_LINEITEM_READONLY)
    items = list(props.line_items.get(course, {}).values())
    chunk, next_url = _page_of(items, demo.lineitems_url(course))
    response = jsonify(chunk)
    response.mimetype = "application/vnd.ims.lis.v2.lineitemcontainer+json"
    if next_url:
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return response


def _item(course: str, item_id: int) -> dict[str, Any]:
    item = demo_of().props.line_items.get(course, {}).get(item_id)
    if item is None:
        abort(404)
    return item


@bp.get("/ags/<course>/lineitems/<int:item_id>/lineitem")
def lineitem(course: str, item_id: int) -> ResponseReturnValue:
    demo_of().authorised(c.SCOPE_LINEITEM, c.SCOPE_LINEITEM_READONLY)
    return jsonify(_item(course, item_id))


@bp.post("/ags/<course>/lineitems/<int:item_id>/lineitem/scores")
def scores(course: str, item_id: int) -> ResponseReturnValue:
    demo = demo_of()
    demo.authorised(c.SCOPE_SCORE)
    _item(course, item_id)
    score = request.get_json(force=True, silent=True)
    if not isinstance(score, dict) or not score.get("userId") or not score.get("timestamp"):
        abort(400)
    if score.get("activityProgress") is None or score.get("gradingProgress") is None:
        abort(400)
    with demo.props.lock:
        demo.props.scores.setdefault(item_id, []).append(score)
    return Response("", status=200)


@bp.get("/ags/<course>/lineitems/<int:item_id>/lineitem/results")
def results(course: str, item_id: int) -> ResponseReturnValue:
    demo = demo_of()
    demo.authorised(c.SCOPE_RESULT_READONLY)
    item = _item(course, item_id)
    latest: dict[str, dict[str, Any]] = {}
    for score in demo.props.scores.get(item_id, []):
        latest[score["userId"]] = score
    return jsonify(
        [
            {
                "id": f"{item['id']}/results?user_id={uid}",
                "userId": uid,
                "scoreOf": item["id"],
                "resultScore": s.get("scoreGiven"),
                "resultMaximum": s.get("scoreMaximum"),
                "comment": s.get("comment", ""),
                "timestamp": s["timestamp"],
            }
            for uid, s in latest.items()
        ]
    )


@bp.post("/deep-link-return")
def deep_link_return() -> ResponseReturnValue:
    """The tool's LtiDeepLinkingResponse: verified, then its links appear on the demo page."""
    demo = demo_of()
    token_value = request.form.get("JWT", "")
    try:
        kid = jwt.get_unverified_header(token_value).get("kid", "")
        key = demo.lti.tool_keys.public_key(str(kid))
        if key is None:
            abort(400, "unknown kid")
        body = jwt.decode(
            token_value, key, algorithms=["RS256"], audience=demo.issuer, issuer=CLIENT_ID
        )
        data = demo._dl_data.loads(body.get(c.DL_DATA, ""), max_age=HINT_MAX_AGE)
    except (jwt.PyJWTError, BadSignature):
        abort(400, "deep linking response refused")
    if (
        body.get(c.MESSAGE_TYPE) != c.DEEP_LINKING_RESPONSE
        or body.get(c.DEPLOYMENT_ID) != DEPLOYMENT_ID
    ):
        abort(400, "not a deep linking response for this deployment")
    course = data.get("course") or ""
    placed = []
    for item in body.get(c.DL_CONTENT_ITEMS, []):
        if not isinstance(item, dict) or item.get("type") != "ltiResourceLink":
            continue
        line_item = item.get("lineItem")
        maximum = line_item.get("scoreMaximum") if isinstance(line_item, dict) else None
        placed.append(demo.place_link(
            course, str(item.get("title", "")), custom=dict(item.get("custom") or {}),
            url=item.get("url"),
            score_maximum=maximum if isinstance(maximum, int | float) else None))
    return render_template(
        "lti/demo_placed.html", placed=placed, course=course, title=course_title(course)
    )


def init_app(app: Flask) -> None:
    """Switch the demo platform on: its routes, its Platform row, in-process HTTP to it."""
    lti = lti_context(app)
    demo = DemoPlatform(app, lti)
    app.extensions["reperes_demo"] = demo
    app.register_blueprint(bp)
    # Calls from the tool to the demo (JWKS, token, NRPS, AGS) stay inside the process.
    lti.http.mount(demo.issuer + "/", LocalAdapter(app))
    try:
        demo.register()
    except SQLAlchemyError as exc:  # an unmigrated database: `reperes demo` migrates first
        log.warning("demo platform not registered: %s", type(exc).__name__)
    log.info("demo platform on at %s (tool %s)", demo.issuer, urlsplit(demo.tool.base).netloc)

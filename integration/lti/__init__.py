"""LTI 1.3: OIDC login, launch validation, tool keys and JWKS, registrations (CLI and dynamic),
deep linking, and the NRPS/AGS clients (`integration.lti.services`).

`init_app(app)` wires it into a Repères app: the actor session, the `/lti/*` routes, and
the demo platform when the settings ask for it.
"""

from __future__ import annotations

from flask import Flask

from .context import LtiContext, ToolUrls, lti_context
from .errors import LaunchError, ServiceError


def init_app(app: Flask) -> None:
    from .. import auth
    from . import views

    runtime = app.extensions["reperes"]
    runtime.extras["lti"] = LtiContext.build(runtime.settings, runtime.sessions)
    auth.init_app(app)
    app.register_blueprint(views.bp)
    if runtime.settings.demo:
        from .. import demo_platform

        demo_platform.init_app(app)


__all__ = ["init_app", "LaunchError", "ServiceError", "LtiContext", "ToolUrls", "lti_context"]

"""The browser side: the demo pages at `/` (chat) and `/activity` (a context's news), the widget
at `/widget/...`, rule sets at `/rules/<label>.json`.

In dev mode `POST /dev/token {"user"}` hands the demo page a token: a real HS256 token
when `HUTCH_JWT_SECRET` is set, else a placeholder the dev verifier accepts.
"""

from __future__ import annotations

from importlib import resources

from hutch.hub.auth import DEV_TOKEN, mint_token
from hutch.hub.errors import Forbidden, Invalid, Refused
from hutch.hub.web.requests import body_of, error_response, text_field
from hutch.protocol import names
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

WIDGET = resources.files("hutch.clients.widget")
RULE_SETS = resources.files("hutch.rules").joinpath("sets")


async def demo_page(request: Request) -> Response:
    return FileResponse(str(WIDGET.joinpath("index.html")))


async def activity_page(request: Request) -> Response:
    """The activity view of one context: /activity?user=..&token=..&context=<hash>."""
    return FileResponse(str(WIDGET.joinpath("activity.html")))


async def rule_set(request: Request) -> Response:
    name = f"{request.path_params['label']}.json"
    entry = RULE_SETS.joinpath(name)
    if "/" in name or not entry.is_file():
        return error_response(Refused(f"no rule set {name}", status=404, error="NotFound"))
    return FileResponse(str(entry), media_type="application/json")


async def dev_token(request: Request) -> Response:
    settings = request.app.state.node.settings
    try:
        if not settings.dev_mode:
            raise Forbidden("tokens are handed out in dev mode only")
        user = text_field(await body_of(request), "user")
        names.check_user(user)
    except Refused as refused:
        return error_response(refused)
    except names.BadName as error:
        return error_response(Invalid(str(error)))
    token = mint_token(user, settings.jwt_secret) if settings.jwt_secret else f"{DEV_TOKEN}{user}"
    return JSONResponse({"user": user, "token": token})


# What a page that embeds the widget loads; nothing else of the package is served.
WIDGET_FILES = {
    "hutch-widget.js": "text/javascript",
    "hutch-activity.js": "text/javascript",
    "hutch-rules.js": "text/javascript",
    "stomp.js": "text/javascript",
    "hutch-widget.css": "text/css",
    "demo.css": "text/css",
    "index.html": "text/html",
    "activity.html": "text/html",
}


async def widget_file(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in WIDGET_FILES:
        return error_response(Refused(f"the widget has no file '{name[:100]}'", status=404, error="NotFound"))
    return FileResponse(str(WIDGET.joinpath(name)), media_type=WIDGET_FILES[name])


def routes() -> list[BaseRoute]:
    return [
        Route("/", demo_page),
        Route("/activity", activity_page),
        Route("/rules/{label}.json", rule_set),
        Route("/dev/token", dev_token, methods=["POST"]),
        Route("/widget/{name:path}", widget_file),
    ]

"""The player's page: static HTML, CSS and JavaScript that start_game serves at GET /."""

from __future__ import annotations

from importlib.resources import files
from urllib.parse import urlsplit

from flask import Request, Response

from rpsquest.config import Settings
from rpsquest.openapi import Operation, Reply
from rpsquest.web import Handler, Route

_ASSETS = (
    ("/", "index.html", "text/html"),
    ("/style.css", "style.css", "text/css"),
    ("/app.js", "app.js", "text/javascript"),
)


def _headers(play_url: str) -> dict[str, str]:
    """The page talks to its own origin and to play's, and nothing else may run or load."""
    play = urlsplit(play_url)
    policy = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' {play.scheme}://{play.netloc}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }


def _serve(body: bytes, mimetype: str, headers: dict[str, str]) -> Handler:
    def handler(_request: Request) -> Response:
        return Response(body, mimetype=mimetype, headers=headers)

    return handler


def routes(settings: Settings) -> list[Route]:
    """GET / and the page's stylesheet and script, read from the package once."""
    folder = files("rpsquest") / "page"
    headers = _headers(settings.play_url)
    return [
        Route(
            "GET",
            path,
            _serve((folder / name).read_bytes(), mimetype, headers),
            operation=Operation(
                f"The player's page: {name}.", {200: Reply(name, {"type": "string"}, mimetype)}
            ),
        )
        for path, name, mimetype in _ASSETS
    ]

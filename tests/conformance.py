"""Every response a test receives from one of our functions must be one its OpenAPI document
describes: a documented status for that route, the documented media type, and a body valid
against the documented schema. The function behind a loopback port is found by asking it for
GET /openapi.json; anything else on loopback (the dev broker, MLflow, S3) has no such document
and is left alone."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import requests
from jsonschema import Draft202012Validator

from rpsquest.processes import LOOPBACK
from rpsquest.replies import ERROR

_send = requests.Session.send
_NOT_OURS: dict[str, Any] = {}


class Checker:
    """Documents by base URL, fetched on first sight, and the violations found so far."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.violations: list[str] = []

    def _document(self, base: str) -> dict[str, Any]:
        if base not in self.documents:
            try:
                reply = _send(
                    requests.Session(),
                    requests.Request("GET", f"{base}/openapi.json").prepare(),
                    timeout=10,
                )
                found = reply.json() if reply.status_code == 200 else _NOT_OURS
            except (requests.RequestException, ValueError):
                found = _NOT_OURS
            ours = str(found.get("info", {}).get("title", "")).startswith("RPS Quest")
            self.documents[base] = found if ours else _NOT_OURS
        return self.documents[base]

    def check(self, response: requests.Response) -> None:
        request = response.request
        url = urlsplit(request.url)
        if url.hostname != LOOPBACK:
            return
        document = self._document(f"{url.scheme}://{url.netloc}")
        if document is _NOT_OURS:
            return
        where = f"{request.method} {url.path} -> {response.status_code}"
        for problem in violations(document, request.method or "", url.path, response):
            self.violations.append(f"{document['info']['title']}: {where}: {problem}")


def violations(
    document: dict[str, Any], method: str, path: str, response: requests.Response
) -> Iterator[str]:
    """How a response departs from the document (nothing when it conforms)."""
    route = path.rstrip("/") or "/"  # as web.Service matches it
    operations = document["paths"].get(route)
    if method == "OPTIONS":  # the CORS preflight every path answers
        if response.status_code != 204:
            yield "a preflight must answer 204"
        return
    if operations is None or method.lower() not in operations:
        expected = 404 if operations is None else 405
        if response.status_code != expected:
            yield f"undocumented: only {expected} is expected here"
        else:
            yield from _body(ERROR, response)
        return
    replies = operations[method.lower()]["responses"]
    reply = replies.get(str(response.status_code))
    if reply is None:
        yield f"status not documented (documented: {', '.join(replies)})"
        return
    content = reply.get("content")
    if content is None or (reply.get("x-empty-body") and not response.content):
        if response.content:
            yield "a body where none is documented"
        return
    media_type = response.headers.get("Content-Type", "").partition(";")[0].strip()
    if media_type not in content:
        yield f"media type {media_type!r} not documented ({', '.join(content)})"
        return
    if media_type == "application/json":
        yield from _body(content[media_type]["schema"], response)


def _body(schema: Mapping[str, Any], response: requests.Response) -> Iterator[str]:
    try:
        body = json.loads(response.content)
    except ValueError:
        yield "the body is not JSON"
        return
    for error in Draft202012Validator(schema).iter_errors(body):
        yield f"at {'/'.join(map(str, error.absolute_path)) or 'the root'}: {error.message}"


@contextmanager
def checked() -> Iterator[Checker]:
    """Check every response requests receives while inside (streamed ones are left alone)."""
    checker = Checker()

    def send(session: requests.Session, request: requests.PreparedRequest, **kwargs: Any):
        response = _send(session, request, **kwargs)
        if not kwargs.get("stream"):
            checker.check(response)
        return response

    requests.Session.send = send  # type: ignore[method-assign]
    try:
        yield checker
    finally:
        requests.Session.send = _send  # type: ignore[method-assign]

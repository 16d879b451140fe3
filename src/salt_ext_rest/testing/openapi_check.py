"""Check HTTP responses against the API's OpenAPI document (tests use it on every
response of the session's salt-api; see ``tests/integration/conftest.py``).

:class:`ResponseChecker` is built once per document: path templates compiled to
regexes, one JSON Schema validator per response schema, built when first needed.
``check()`` returns the problems of one response (empty when it conforms):

* a path no template matches must be the JSON 404 of unknown URLs;
* a method the path does not document must be a JSON 405;
* otherwise the status must be documented, the media type one documented for it,
  and a JSON or YAML body must match its schema (streams and files are not read).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import requests
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOC_URI = "urn:salt-ext-rest:openapi"
ERROR_POINTER = "/components/schemas/error"
#: bodies that are not a JSON/YAML document to check (streams, a tar, Prometheus text)
NO_BODY = ("text/event-stream", "application/x-tar", "text/plain", "*/*")


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


class ResponseChecker:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.prefix = (document.get("servers") or [{"url": "/"}])[0]["url"].rstrip("/")
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(DOC_URI, resource)
        self._validators: dict[str, Any] = {}
        templates = sorted(document["paths"], key=lambda p: (-len(p.split("/")), p))
        self.templates = [(re.compile(self._regex(t)), t) for t in templates]

    def _regex(self, template: str) -> str:
        """A parameter with a ``pattern`` is one path segment; one without (a webhook's
        or a static file's path) may span several."""
        params = {
            p["name"]: p["schema"] for p in self.document["paths"][template].get("parameters", [])
        }
        regex = "^"
        for part in re.split(r"(\{[^}]+\})", template):
            if part.startswith("{"):
                regex += "[^/]+" if "pattern" in params.get(part[1:-1], {}) else ".+"
            else:
                regex += re.escape(part)
        return regex + "/?$"

    def match(self, path: str) -> str | None:
        if self.prefix and path.startswith(self.prefix):
            path = path[len(self.prefix) :] or "/"
        for regex, template in self.templates:
            if regex.match(path):
                return template
        return None

    def validator(self, pointer: str) -> Any:
        if pointer not in self._validators:
            schema = {"$ref": f"{DOC_URI}#{pointer}"}
            self._validators[pointer] = jsonschema.Draft202012Validator(
                schema, registry=self.registry
            )
        return self._validators[pointer]

    def check(
        self, method: str, url: str, status: int, media: str, body: bytes | None
    ) -> list[str]:
        """Problems of one response (``body`` ``None``: not read, e.g. a stream)."""
        where = f"{method} {urlsplit(url).path} → {status}"
        template = self.match(urlsplit(url).path)
        item = self.document["paths"].get(template or "", {})
        op = item.get(method.lower())
        if op is None:
            expected = 405 if template else 404
            if status != expected:
                return [f"{where}: undocumented (no such operation in the document)"]
            return self._body(where, ERROR_POINTER, media, body)
        method_path = f"/paths/{_escape(template or '')}/{method.lower()}/responses"
        answer = op["responses"].get(str(status))
        if answer is None:
            return [f"{where}: status {status} is not documented"]
        if "$ref" in answer:
            method_path = answer["$ref"][1:]
            answer = self._resolve(answer["$ref"])
        else:
            method_path += f"/{status}"
        return self._content(where, answer, method_path, media, body)

    def _resolve(self, ref: str) -> dict[str, Any]:
        node: Any = self.document
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def _content(self, where: str, answer: dict, pointer: str, media: str, body: bytes | None):
        documented = answer.get("content", {})
        if not documented:
            return []
        if media not in documented and "*/*" not in documented:
            return [f"{where}: media type {media!r} not documented ({', '.join(documented)})"]
        if media not in documented:
            return []
        return self._body(where, f"{pointer}/content/{_escape(media)}/schema", media, body)

    def _body(self, where: str, pointer: str, media: str, body: bytes | None) -> list[str]:
        if body is None or media in NO_BODY or not body:
            return []
        try:
            data = yaml.safe_load(body) if "yaml" in media else json.loads(body)
        except ValueError as exc:
            return [f"{where}: body is not {media}: {exc}"]
        error = jsonschema.exceptions.best_match(self.validator(pointer).iter_errors(data))
        if error is None:
            return []
        return [f"{where}: body does not match {pointer}: {error.message[:300]}"]


@contextlib.contextmanager
def checking_requests(checker: ResponseChecker, base_url: str) -> Iterator[list[str]]:
    """While in the block, every response ``requests`` receives from ``base_url`` is
    checked; the list yielded collects the problems. Streamed responses
    (``stream=True``) are checked without their body, which is the caller's to read."""
    problems: list[str] = []
    original = requests.Session.send

    def send(session: requests.Session, request: Any, **kwargs: Any) -> requests.Response:
        response = original(session, request, **kwargs)
        if str(request.url).startswith(base_url):
            media = response.headers.get("Content-Type", "").split(";")[0].strip()
            streamed = kwargs.get("stream") or request.method == "HEAD"
            body = None if streamed else response.content
            problems.extend(
                checker.check(request.method, request.url, response.status_code, media, body)
            )
        return response

    requests.Session.send = send  # type: ignore[method-assign,assignment]
    try:
        yield problems
    finally:
        requests.Session.send = original  # type: ignore[method-assign]

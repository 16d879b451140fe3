"""Sphinx extension: the HTTP API reference, rendered from the OpenAPI document.

``.. openapi-reference::`` renders every path and operation of the document rest_ext
generates (:func:`salt_ext_rest.openapi.reference.reference_document`, built without
daemons, no network), then the schemas. The document itself is written next to the
HTML as ``openapi.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

METHODS = ("get", "post", "put", "patch", "delete", "head", "options")


def _document() -> dict[str, Any]:
    from salt_ext_rest.openapi.reference import reference_document

    return reference_document()


def _indent(text: str, by: str = "   ") -> list[str]:
    return [by + line if line else "" for line in text.splitlines()]


def _json_block(data: Any) -> list[str]:
    return ["", ".. code-block:: json", "", *_indent(json.dumps(data, indent=2)), ""]


def _schema_name(schema: dict[str, Any]) -> str:
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        # a component, or a part of one (``apikeys/$defs/created``): link the component
        name, _, part = ref[len("#/components/schemas/") :].partition("/")
        label = f"{name} {part.rsplit('/', 1)[-1]}" if part else name
        return f":ref:`{label} <openapi-schema-{name.replace('.', '-')}>`"
    return "``" + json.dumps(schema)[:120] + "``"


def _responses(op: dict[str, Any], document: dict[str, Any]) -> list[str]:
    lines = ["", "Responses:", ""]
    for status, answer in op.get("responses", {}).items():
        if "$ref" in answer:
            answer = document["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
        media = answer.get("content", {})
        body = ""
        if media:
            first = next(iter(media.values())).get("schema", {})
            body = f" — {', '.join(f'``{m}``' for m in media)}: {_schema_name(first)}"
        lines.append(f"* **{status}** {answer.get('description', '')}{body}")
    return lines


def _operation(path: str, method: str, op: dict[str, Any], document: dict[str, Any]) -> list[str]:
    title = f"{method.upper()} {path}"
    lines = [title, "~" * len(title), "", op.get("summary", ""), ""]
    if op.get("description"):
        lines += [op["description"], ""]
    auth = "none" if not op.get("security") else "X-Auth-Token header or session_id cookie"
    if {} in op.get("security", []):
        auth += " (optional)"
    lines += [f"Authentication: {auth}.", ""]
    params = [*document["paths"][path].get("parameters", []), *op.get("parameters", [])]
    if params:
        lines += ["Parameters:", ""]
        lines += [f"* ``{p['name']}`` ({p['in']}) {p.get('description', '')}" for p in params]
        lines.append("")
    body = op.get("requestBody")
    if body:
        media = ", ".join(f"``{m}``" for m in body["content"])
        schema = next(iter(body["content"].values()))["schema"]
        lines += [f"Request body ({media}): {_schema_name(schema)}", ""]
    return lines + _responses(op, document) + [""]


def render(document: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item and method != "options":
                lines += _operation(path, method, item[method], document)
    lines += ["Schemas", "~~~~~~~", ""]
    for name, schema in document["components"]["schemas"].items():
        lines += [f".. _openapi-schema-{name.replace('.', '-')}:", "", f"**{name}**"]
        lines += _json_block(schema)
    return lines


class OpenApiReference(SphinxDirective):
    has_content = False

    def run(self) -> list[nodes.Node]:
        container = nodes.section()
        container.document = self.state.document
        text = StringList(render(_document()), source="openapi.json")
        nested_parse_with_titles(self.state, text, container)
        return list(container.children)


def _write_document(app: Sphinx, exception: BaseException | None) -> None:
    if exception is None and app.builder.format == "html":
        out = Path(app.outdir) / "openapi.json"
        out.write_text(json.dumps(_document(), indent=2), encoding="utf-8")


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("openapi-reference", OpenApiReference)
    app.connect("build-finished", _write_document)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}

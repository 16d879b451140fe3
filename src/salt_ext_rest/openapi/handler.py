"""``GET /openapi.json``: the document, built once when the route table is."""

from __future__ import annotations

from typing import Any

from salt_ext_rest.context import ApiContext
from salt_ext_rest.http.base import ApiHandler
from salt_ext_rest.openapi.describe import operation, schema
from salt_ext_rest.openapi.document import build_document

Route = tuple[str, type, dict[str, Any]]


class OpenApiHandler(ApiHandler):
    openapi = {"get": operation("This document (OpenAPI 3.1)", schema("openapi"), auth=False)}

    def initialize(self, context: ApiContext, document: dict[str, Any]) -> None:  # type: ignore[override]
        super().initialize(context)
        self.document = document

    async def get(self) -> None:
        self.send(self.document)


def with_openapi(context: ApiContext, table: list[Route]) -> list[Route]:
    """``table`` with ``/openapi.json`` first, its document describing the whole table."""
    document: dict[str, Any] = {}
    table = [
        (r"/openapi\.json", OpenApiHandler, {"context": context, "document": document}),
        *table,
    ]
    assert context.validator is not None
    document.update(build_document(table, context.validator, context.config.root_prefix))
    return table

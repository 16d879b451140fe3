"""The OpenAPI document: paths from route patterns, every route described (plugins'
too), a valid OpenAPI 3.1 document, lowstate bodies from the validating schemas."""

import importlib.util
import pathlib
import sys

import jsonschema
import pytest
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from salt_ext_rest.http.base import ApiHandler
from salt_ext_rest.http.routes import routes
from salt_ext_rest.lowstate.validation import NON_SSH_CLIENTS
from salt_ext_rest.openapi.describe import operation
from salt_ext_rest.openapi.document import undocumented
from salt_ext_rest.openapi.paths import templates
from salt_ext_rest.plugins.markers import hookimpl
from salt_ext_rest.testing.gateway import STAND_IN_OPTS, StandInGateway, build_context_for

PLUGIN_SRC = pathlib.Path(__file__).resolve().parents[1] / "plugin_example" / "src"


@pytest.fixture(scope="module")
def example_plugin():
    sys.path.insert(0, str(PLUGIN_SRC))
    try:
        spec = importlib.util.find_spec("rest_ext_example_plugin.plugin")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(PLUGIN_SRC))


def options(tmp_path, **extra):
    index = tmp_path / "index.html"
    index.write_text("<html></html>")
    block = {
        **STAND_IN_OPTS["rest_ext"],
        "websockets": True,
        "static": str(tmp_path),
        "app": str(index),
        "favicon": str(index),
        "plugins": {"example": {"enabled": True, "denied_functions": ["test.sleep"]}},
        **extra,
    }
    return {**STAND_IN_OPTS, "netapi_enable_clients": list(NON_SSH_CLIENTS), "rest_ext": block}


def table_of(opts, *plugins):
    context = build_context_for(opts, StandInGateway(opts), plugins)
    try:
        return routes(context)
    finally:
        context.close()


def document_of(table):
    assert table[0][0] == r"/openapi\.json"
    return table[0][2]["document"]


@pytest.mark.parametrize(
    ("pattern", "names", "expected"),
    [
        ("/", [], ["/"]),
        ("/login/?", [], ["/login"]),
        ("/minions/([^/]+)/?", ["mid"], ["/minions/{mid}"]),
        ("/hook(/.*)?", ["path"], ["/hook", "/hook/{path}"]),
        ("/app(?:/.*)?", [], ["/app"]),
        ("/static/(.*)", ["file"], ["/static/{file}"]),
        (r"/favicon\.ico", [], ["/favicon.ico"]),
        ("/all_events/([0-9a-f]{64})", ["token"], ["/all_events/{token}"]),
        ("/x/([(])/y", [], ["/x/{arg0}/y"]),
    ],
)
def test_route_patterns_become_path_templates(pattern, names, expected):
    assert [t.path for t in templates(pattern, names)] == expected


def test_every_route_is_described_and_the_document_is_openapi_3_1(tmp_path, example_plugin):
    table = table_of(options(tmp_path), example_plugin)
    assert undocumented(table) == []
    document = document_of(table)
    validate(document)  # raises on anything that is not OpenAPI 3.1
    paths = document["paths"]
    assert {"/", "/login", "/minions/{mid}", "/hook/{path}", "/ws/{token}", "/stream"} <= set(paths)
    assert {"/example/whoami", "/example/teapot", "/openapi.json"} <= set(paths)
    assert "418" in paths["/example/teapot"]["get"]["responses"]
    assert document["components"]["securitySchemes"]["token"]["name"] == "X-Auth-Token"


def test_a_route_without_description_is_reported(tmp_path):
    class Bare(ApiHandler):
        async def get(self):
            self.send({})

    class Plugin:
        @hookimpl
        def rest_routes(self, context):
            return [("/bare/([^/]+)", Bare, {"context": context})]

    table = table_of(options(tmp_path), Plugin())
    assert undocumented(table) == ["/bare/([^/]+)"]
    assert document_of(table)["paths"]["/bare/{arg0}"]["x-undocumented"] is True
    validate(document_of(table))

    Bare.openapi = {"path": {"name": {"type": "string"}}, "get": operation("Bare")}
    table = table_of(options(tmp_path), Plugin())
    assert undocumented(table) == []
    assert "401" in document_of(table)["paths"]["/bare/{name}"]["get"]["responses"]


def test_subclasses_declare_their_own_operations():
    from salt_ext_rest.http import resources

    assert "openapi" not in resources.MinionsHandler.__dict__  # built-ins: openapi.builtin
    from salt_ext_rest.openapi.document import spec_for

    assert spec_for(resources.MinionsHandler) is not spec_for(resources.MinionHandler)


def lowstate_validator(document):
    registry = Registry().with_resource(
        "urn:doc", Resource.from_contents(document, default_specification=DRAFT202012)
    )
    schema = {"$ref": "urn:doc#/components/schemas/Lowstate"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"client": "local", "tgt": "*", "fun": "test.ping"}, True),
        ([{"client": "runner", "fun": "jobs.list_jobs"}], True),
        ({"client": "local", "tgt": "*"}, False),  # no fun
        ({"client": "local", "tgt": "*", "fun": "test.sleep"}, False),  # the plugin's schema
        ({"client": "ssh", "tgt": "*", "fun": "test.ping"}, False),  # not enabled
        ([], False),
    ],
)
def test_lowstate_bodies_are_the_validators_schemas(tmp_path, example_plugin, body, valid):
    document = document_of(table_of(options(tmp_path), example_plugin))
    assert lowstate_validator(document).is_valid(body) is valid


def test_only_configured_routes_and_clients(tmp_path):
    opts = options(tmp_path, websockets=False, root_prefix="/api")
    opts["netapi_enable_clients"] = ["local"]
    document = document_of(table_of(opts))
    assert "/ws" not in document["paths"] and "/example/whoami" not in document["paths"]
    assert document["servers"] == [{"url": "/api"}]
    lowstate = document["components"]["schemas"]
    assert "lowstate.local" in lowstate and "lowstate.runner" not in lowstate


def test_the_docs_reference_renders_every_operation():
    docs_ext = pathlib.Path(__file__).resolve().parents[2] / "docs" / "_ext"
    sys.path.insert(0, str(docs_ext))
    try:
        from openapi_reference import render
    finally:
        sys.path.remove(str(docs_ext))
    from salt_ext_rest.openapi.reference import reference_document

    document = reference_document()
    validate(document)
    text = "\n".join(render(document))
    for path, item in document["paths"].items():
        for method in ("get", "post"):
            if method in item:
                assert f"{method.upper()} {path}\n" in text
    for name in document["components"]["schemas"]:
        assert f".. _openapi-schema-{name.replace('.', '-')}:" in text

import json

import pytest

from salt_ext_rest.errors import BadRequest, UnsupportedMediaType
from salt_ext_rest.lowstate.body import BodyLimits, decode_body
from salt_ext_rest.lowstate.chunks import as_chunks, normalise


def test_json_yaml_and_text_plain():
    assert decode_body("application/json", b'[{"a": 1}]') == [{"a": 1}]
    assert decode_body("application/x-yaml", b"- a: 1\n") == [{"a": 1}]
    assert decode_body("text/yaml; charset=utf-8", b"a: 1") == {"a": 1}
    assert decode_body("text/plain;charset=UTF-8", b'{"a": 1}') == {"a": 1}
    assert decode_body(None, b'{"a": 1}') == {"a": 1}


def test_form_yamlifies_arg_and_kwarg_and_repeats_become_lists():
    body = b"client=local&tgt=*&fun=test.arg&arg=1&arg=two&kwarg=%7Bx%3A+1%7D"
    data = decode_body("application/x-www-form-urlencoded", body)
    assert data == {
        "client": "local",
        "tgt": "*",
        "fun": "test.arg",
        "arg": [1, "two"],
        "kwarg": {"x": 1},
    }
    single = decode_body("application/x-www-form-urlencoded", b"arg=true")
    assert single == {"arg": [True]}


def test_empty_body_is_none():
    assert decode_body("application/json", b"  ") is None


@pytest.mark.parametrize(
    ("ctype", "body"),
    [
        ("application/json", b"{nope"),
        ("application/x-yaml", b"[: x"),
        ("application/json", b"\xff\xfe"),
    ],
)
def test_malformed_bodies_are_400(ctype, body):
    with pytest.raises(BadRequest):
        decode_body(ctype, body)


def test_unknown_media_type_is_415():
    with pytest.raises(UnsupportedMediaType):
        decode_body("text/csv", b"a,b")


def test_single_dict_or_list_of_dicts():
    assert as_chunks({"a": 1}) == [{"a": 1}]
    assert as_chunks([{"a": 1}, {"b": 2}]) == [{"a": 1}, {"b": 2}]
    for bad in (None, [], "x", [1], [{"a": 1}, "x"]):
        with pytest.raises(BadRequest):
            as_chunks(bad)


def test_normalise_legacy_keys():
    chunk = normalise({"arg": "x", "expr_form": "list", "batch": None})
    assert chunk == {"arg": ["x"], "tgt_type": "list"}
    assert normalise({"arg": ""}) == {"arg": []}
    assert normalise({"tgt_type": "glob", "expr_form": "list"})["tgt_type"] == "glob"


ALIAS_BODIES = [
    ("application/x-yaml", b"a: &x [1, 2]\nb: *x\n"),
    ("application/x-yaml", b"a: &x 1\n"),
    ("application/x-yaml", b"base: &b {x: 1}\nother:\n  <<: *b\n"),
    ("application/x-www-form-urlencoded", b"fun=test.arg&arg=%5B%26a+%5Bx%5D%2C+%2Aa%5D"),
    ("application/x-www-form-urlencoded", b"fun=test.arg&kwarg=%7Ba%3A+%26a+1%2C+b%3A+%2Aa%7D"),
]


@pytest.mark.parametrize(("ctype", "body"), ALIAS_BODIES)
def test_yaml_anchors_and_aliases_are_refused(ctype, body):
    with pytest.raises(BadRequest, match="anchors and aliases"):
        decode_body(ctype, body)


def test_form_values_without_aliases_keep_salts_parsing():
    data = decode_body(
        "application/x-www-form-urlencoded", b"tgt=*&arg=*&arg=a%23b&arg=%7Bx%3A+1%7D"
    )
    assert data == {"tgt": "*", "arg": ["*", "a#b", {"x": 1}]}


@pytest.mark.parametrize(
    "ctype", ["application/json", "application/x-yaml", "text/plain", "application/yaml"]
)
def test_depth_limit(ctype):
    limits = BodyLimits(max_depth=5, max_nodes=1000)
    assert decode_body(ctype, b"[[[[[1]]]]]", limits) == [[[[[1]]]]]
    with pytest.raises(BadRequest, match="deeper than 5"):
        decode_body(ctype, b"[[[[[[1]]]]]]", limits)
    with pytest.raises(BadRequest, match="deeper than 5"):
        decode_body(ctype, b'{"a": {"b": {"c": {"d": {"e": {}}}}}}', limits)


@pytest.mark.parametrize("ctype", ["application/json", "application/x-yaml"])
def test_very_deep_bodies_are_400_not_recursion_errors(ctype):
    with pytest.raises(BadRequest):
        decode_body(ctype, b"[" * 100_000 + b"]" * 100_000)


@pytest.mark.parametrize("ctype", ["application/json", "application/x-yaml"])
def test_node_limit(ctype):
    limits = BodyLimits(max_depth=5, max_nodes=10)
    assert decode_body(ctype, b"[1, 2, 3, 4, 5, 6, 7, 8, 9]", limits) == list(range(1, 10))
    with pytest.raises(BadRequest, match="more than 10 values"):
        decode_body(ctype, b"[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]", limits)
    assert decode_body(ctype, b'{"a": 1, "b": 2, "c": 3, "d": 4}', limits)
    with pytest.raises(BadRequest, match="more than 10 values"):  # keys count too
        decode_body(ctype, b'{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}', limits)


def test_form_limits():
    limits = BodyLimits(max_depth=2, max_nodes=100)
    with pytest.raises(BadRequest, match="deeper than 2"):
        decode_body("application/x-www-form-urlencoded", b"arg=%5B%5B1%5D%5D", limits)


def test_default_limits_pass_a_large_legitimate_state_run():
    chunk = {
        "client": "local",
        "tgt": "*",
        "fun": "state.apply",
        "arg": ["webserver"],
        "kwarg": {
            "pillar": {
                f"site{i}": {"vhosts": [{"name": f"v{j}"} for j in range(20)]} for i in range(200)
            }
        },
    }
    body = json.dumps([chunk] * 5).encode()
    assert decode_body("application/json", body) == [chunk] * 5
    assert decode_body("application/x-yaml", body) == [chunk] * 5

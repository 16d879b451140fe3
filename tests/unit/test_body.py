import pytest

from salt_ext_rest.errors import BadRequest, UnsupportedMediaType
from salt_ext_rest.lowstate.body import decode_body
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

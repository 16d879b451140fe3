"""Request bodies within limits, through a real salt-api.

YAML anchors and aliases are refused on every route that decodes a body (nothing is
built from them), and bodies nested too deeply or with too many values are 400, never a
500 or a ``RecursionError`` in the API log.
"""

import json
import time

import pytest

from salt_ext_rest.testing.api import ApiClient

pytestmark = [pytest.mark.integration]

PING = {"client": "local", "tgt": "*", "fun": "test.ping"}
YAML = {"Content-Type": "application/x-yaml"}
ALIASES = "anchors and aliases"


@pytest.fixture
def anon(api_url):
    return ApiClient(api_url)


def yaml_post(client, path, text):
    return client.post(path, data=text.encode(), headers=YAML)


def api_log_size(salt_api):
    return salt_api.log_file().stat().st_size


def api_log_since(salt_api, offset):
    with salt_api.log_file().open("rb") as log:
        log.seek(offset)
        return log.read().decode("utf-8", errors="replace")


# -- YAML anchors and aliases --------------------------------------------------------


def test_yaml_aliases_refused_on_lowstate_routes(api, api_credentials):
    password = api_credentials["password"]
    bodies = {
        "/": "- {client: local, tgt: '*', fun: test.arg, arg: &a [x, y], kwarg: {k: *a}}\n",
        "/minions": "- {tgt: minion-1, fun: test.arg, arg: &a [x], kwarg: {k: *a}}\n",
        "/run": (
            "- {client: local, tgt: '*', fun: test.ping, username: &u saltdev,"
            f" password: '{password}', eauth: sharedsecret, kwarg: {{u: *u}}}}\n"
        ),
        "/hook/alias": "a: &x [1, 2]\nb: *x\n",
    }
    for path, text in bodies.items():
        response = yaml_post(api, path, text)
        assert response.status_code == 400, (path, response.text)
        assert ALIASES in response.json()["message"], path


@pytest.mark.parametrize("path", ["/login", "/token", "/keys"])
def test_yaml_anchor_in_credentials_refused_before_eauth(anon, path):
    # A wrong password: decoded, the body would be 401; the anchor makes it 400 first.
    text = "{mid: alias-probe, username: &u saltdev, password: wrong, eauth: sharedsecret}\n"
    response = yaml_post(anon, path, text)
    assert response.status_code == 400, response.text
    assert ALIASES in response.json()["message"]


def test_alias_bomb_is_refused_and_nothing_is_published(api, master_events):
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 5)]
    text = "\n".join(levels) + "\nclient: local\ntgt: '*'\nfun: test.arg\narg: [*a4]\n"
    assert len(text) < 600  # 10^5 leaves once expanded
    started = time.monotonic()
    response = yaml_post(api, "/", text)
    assert response.status_code == 400 and ALIASES in response.json()["message"]
    assert time.monotonic() - started < 5
    # A job published after the refusal: a publish made for the refused request (before
    # its answer) would reach the bus before this one's ``new`` event.
    (control,) = api.run({"client": "local_async", "tgt": "minion-1", "fun": "test.arg"})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # other tests' jobs may still end meanwhile
        event = master_events.get_event(
            wait=0.5, tag="salt/job/", match_type="startswith", full=True
        )
        if event and event["tag"] == f"salt/job/{control['jid']}/new":
            break
        assert event is None or event["data"].get("fun") != "test.arg", event
    else:
        pytest.fail("the control job's publish never reached the bus")


def test_form_arg_cannot_smuggle_yaml_aliases(api):
    form = {"client": "local", "tgt": "*", "fun": "test.arg", "arg": "[&a [x], *a]"}
    response = api.post("/", data=form)
    assert response.status_code == 400, response.text
    assert ALIASES in response.json()["message"]


# -- depth and size limits -------------------------------------------------------------


@pytest.mark.parametrize(
    ("ctype", "text"),
    [
        ("application/json", "[" * 50_000 + "]" * 50_000),
        ("application/x-yaml", "[" * 50_000 + "]" * 50_000),
        ("application/json", '{"a":' * 5_000 + "1" + "}" * 5_000),
        ("application/x-yaml", "- " * 2_000 + "x\n"),
    ],
    ids=["json-list", "yaml-flow", "json-object", "yaml-block"],
)
def test_deep_bodies_are_400_without_a_traceback(anon, salt_api, ctype, text):
    offset = api_log_size(salt_api)
    response = anon.post("/", data=text.encode(), headers={"Content-Type": ctype})
    assert response.status_code == 400, response.text[:300]
    assert response.json()["status"] == 400
    assert "RecursionError" not in api_log_since(salt_api, offset)


def test_depth_limit_applies_to_valid_lowstate(api):
    deep = json.loads("[" * 70 + "]" * 70)
    response = api.post("/", json=[{**PING, "fun": "test.arg", "arg": [deep]}])
    assert response.status_code == 400
    assert "nested deeper than 64" in response.json()["message"]


def test_node_limit_applies_to_valid_lowstate(api):
    chunk = {"client": "local", "tgt": "minion-1", "fun": "test.arg", "arg": [0] * 100_001}
    response = api.post("/", json=[chunk])
    assert response.status_code == 400, response.text[:300]
    assert "more than 100000 values" in response.json()["message"]

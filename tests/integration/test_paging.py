"""``GET /minions`` and ``GET /keys`` with ``limit``/``cursor`` and a filter, through a
real salt-api: the pages put together give the unpaged answer."""

import urllib.parse

import pytest

from salt_ext_rest.schemas import build_validator, load_schema
from salt_ext_rest.testing.api import ApiClient

pytestmark = [pytest.mark.integration]

SCHEMAS = {
    "/minions": build_validator(load_schema("responses/minions-page.json")),
    "/keys": build_validator(load_schema("responses/keys-page.json")),
}


@pytest.fixture
def limited(api_url, limited_credentials):
    client = ApiClient(api_url)
    client.login(limited_credentials)
    return client


def follow(client, path, **params):
    """Every page's body, following ``next``; checks the Link header each time."""
    bodies, url = [], f"{path}?{urllib.parse.urlencode(params)}"
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.text
        body = response.json()
        SCHEMAS[path].validate(body)
        bodies.append(body)
        url = body["next"]
        assert response.headers.get("Link") == (f'<{url}>; rel="next"' if url else None)
    return bodies


def test_minion_pages_add_up_to_the_unpaged_answer(api):
    (whole,) = api.get("/minions").json()["return"]
    assert {"minion-1", "minion-2"} <= set(whole)
    bodies = follow(api, "/minions", limit=1)
    assert len(bodies) == len(whole)
    paged = {}
    for body in bodies:
        (page,) = body["return"]
        assert len(page) == 1
        paged.update(page)
    assert list(paged) == sorted(whole)
    assert paged["minion-2"]["id"] == whole["minion-2"]["id"] == "minion-2"


def test_minion_pages_match_grains(api):
    (page,) = api.get("/minions?limit=10&grain=id:minion-2").json()["return"]
    assert list(page) == ["minion-2"]
    (page,) = api.get("/minions?limit=10&grain=id:minion-*").json()["return"]
    assert {"minion-1", "minion-2"} <= set(page)
    assert api.get("/minions?limit=10&grain=id:nobody").json() == {"return": [{}], "next": None}


def test_key_pages_add_up_to_key_list_all(api):
    whole = api.get("/keys").json()["return"]
    bodies = follow(api, "/keys", limit=1)
    got = {"minions": [], "minions_pre": [], "minions_rejected": [], "minions_denied": []}
    for body in bodies:
        assert sum(len(v) for v in body["return"].values()) == 1
        for name, mids in body["return"].items():
            got[name] += mids
    assert got == {name: sorted(whole[name]) for name in got}
    (body,) = follow(api, "/keys", limit=500, status="accepted")
    assert body["return"] == {"minions": sorted(whole["minions"])}


def test_paging_keeps_the_acl(limited):
    assert limited.get("/minions?limit=5").status_code == 403
    assert limited.get("/keys?limit=5").status_code == 403


@pytest.mark.parametrize(
    "path",
    ["/minions?limit=0", "/minions?grain=os", "/minions?cursor=xx", "/keys?status=lost",
     "/keys?limit=501", "/keys?cursor=bTE6bWluaW9uLTE"],
)  # fmt: skip
def test_bad_page_parameters_are_400(api, path):
    response = api.get(path)
    assert response.status_code == 400, response.text
    assert response.json()["status"] == 400

"""A single-page app in a real browser, deployed as on rest_cherrypy.

Headless Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright) loads the
small app in ``tests/browser_app/`` from a salt-api configured like a SaltGUI
deployment (``app``, ``static``, ``static_path``). The app logs in with a JSON body
sent without a Content-Type (so ``text/plain;charset=UTF-8``), then uses only the
``session_id`` cookie: ``test.ping`` through ``POST /``, ``EventSource('/events')``
(it must see the ``ret`` events of its own job), ``GET /stats`` polls, and
``POST /logout``, after which ``/stats`` answers 401 and the event stream ends with
``salt/netapi/rest_ext/stream/closed``. The app writes each step's outcome into the
DOM (``#steps li[data-state]``, ``#log``); this test drives the buttons, asserts on
those, and checks the requests the browser really sent. A full-page screenshot is
left in the test's tmp dir (``browser_app.png``).

Without ``/usr/bin/chromium`` (or Playwright) the test is skipped, and fails when
``CI`` is set: ``bash scripts/test`` installs the Debian packages ``chromium`` and
``chromium-driver``; Playwright's own browser download is never used.
"""

import contextlib
import os
import pathlib
from urllib.parse import urlsplit

import pytest

from salt_ext_rest.testing.haproxy import Haproxy

pytestmark = [pytest.mark.integration]

APP_DIR = pathlib.Path(__file__).resolve().parents[1] / "browser_app"
CHROMIUM = pathlib.Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CLOSED_TAG = "salt/netapi/rest_ext/stream/closed"
STEP_TIMEOUT = 30  # seconds per step of the app
RET_TIMEOUT = 90  # test.ping on two minions, then their ret events


def _unavailable(reason):
    """Skip locally; fail under CI, where the browser test must run."""
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{reason} (CI is set, so this is an error)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium and Playwright, or skip (fail under CI) before any daemon starts."""
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(
            f"{CHROMIUM} not found: install the Debian packages chromium and chromium-driver "
            "(bash scripts/test does)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable(
            "playwright is not installed: pip install -e '.[tests]' -c requirements/constraints.txt"
        )
    return CHROMIUM


@pytest.fixture
def browser_context(chromium, tmp_path):
    """A fresh headless Chromium (own user-data dir), as a Playwright browser context."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(chromium),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1200, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(params=["salt-api", "balancer"])
def app_api(request, netapi_module):
    """A salt-api serving the test app the way SaltGUI is deployed on rest_cherrypy, or
    HAProxy round robin over a three-master cluster whose APIs all serve it (every
    request of the page may land on another master)."""
    if netapi_module != "rest_ext":
        # rest_cherrypy runs the same page up to /stats (checked by hand), but its cookie
        # is not HttpOnly, its /stats differs and logout leaves the stream open.
        pytest.skip(f"asserts rest_ext's behaviour, not {netapi_module}'s")
    if request.param == "balancer":
        request.getfixturevalue("salt_cluster")
        yield request.getfixturevalue("cluster_balancer")
        return
    for name in ("salt_minion", "salt_minion_2"):
        request.getfixturevalue(name)
    conf = {
        "app": str(APP_DIR / "index.html"),
        "static": str(APP_DIR / "static"),
        "static_path": "/static",
    }
    with request.getfixturevalue("start_extra_api")(conf) as api:
        yield api


def _page_log(page):
    try:
        return page.inner_text("#log")
    except Exception as exc:  # the page itself may be gone
        return f"<no page log: {exc!r}>"


def wait_step(page, name, timeout=STEP_TIMEOUT):
    """Wait until the app has finished step ``name``; assert it went well; return its text."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    selector = f'#steps li[data-step="{name}"]'
    with contextlib.suppress(PlaywrightTimeout):  # then the assertion below says what is wrong
        page.wait_for_selector(f'{selector}:not([data-state="pending"])', timeout=timeout * 1000)
    state = page.get_attribute(selector, "data-state")
    detail = page.inner_text(f"{selector} span")
    assert state == "ok", (
        f"step {name!r} is {state!r} after {timeout}s: {detail}\n--- app log ---\n{_page_log(page)}"
    )
    return detail


def _api_requests(requests, base_url):
    """(method, path, status, headers) of the browser's requests to the API, in order."""
    seen = []
    for request in requests:
        if not request.url.startswith(base_url + "/"):
            continue
        response = request.response()
        status = response.status if response is not None else None
        seen.append((request.method, urlsplit(request.url).path, status, request.all_headers()))
    return seen


def test_single_page_app_in_chromium(browser_context, app_api, api_credentials, tmp_path):
    # browser_context first: without a browser the test is skipped before Salt starts.
    base = app_api.url
    page = browser_context.pages[0] if browser_context.pages else browser_context.new_page()
    requests, page_errors = [], []
    page.on("request", lambda request: requests.append(request))
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    screenshot = tmp_path / "browser_app.png"
    try:
        # A browser (re)loading an API URL gets the app, as with rest_cherrypy's
        # html_override; its script comes from the static directory.
        response = page.goto(f"{base}/minions")
        assert response.status == 200, response.status
        assert response.headers["content-type"].startswith("text/html")
        page.wait_for_selector('body[data-ready="1"]', timeout=STEP_TIMEOUT * 1000)
        assert page.get_attribute("#where", "data-path") == "/minions"

        response = page.goto(f"{base}/app")
        assert response.status == 200, response.status
        page.wait_for_selector('body[data-ready="1"]', timeout=STEP_TIMEOUT * 1000)
        assert page.title() == "rest_ext browser test app"
        assert page.get_attribute("#where", "data-path") == "/app"

        page.fill("#username", api_credentials["username"])
        page.fill("#password", api_credentials["password"])
        page.fill("#eauth", api_credentials["eauth"])
        page.click("#login-btn")
        assert "user=saltdev eauth=sharedsecret" in wait_step(page, "login")
        wait_step(page, "cookie")
        wait_step(page, "events")
        cookies = {c["name"]: c for c in browser_context.cookies(base)}
        assert cookies["session_id"]["httpOnly"], cookies

        page.click("#ping-btn")
        ping = wait_step(page, "ping", timeout=RET_TIMEOUT)
        assert "minion-1=true" in ping and "minion-2=true" in ping, ping
        rets = wait_step(page, "ret-events", timeout=RET_TIMEOUT)
        assert "/ret/minion-1=true" in rets and "/ret/minion-2=true" in rets, rets
        assert int(page.get_attribute("#event-count", "data-count")) >= 2

        page.click("#stats-btn")
        stats = wait_step(page, "stats")
        assert stats.endswith("open streams 1"), stats  # the app's EventSource

        page.click("#logout-btn")
        wait_step(page, "logout")
        assert wait_step(page, "stats-after-logout") == "GET /stats: HTTP 401"
        closed = wait_step(page, "stream-closed")
        assert closed.startswith(CLOSED_TAG), closed
        # Behind the balancer the stream may be on another master than the logout: that
        # master learns of it from the revocation notice.
        balanced = isinstance(app_api, Haproxy)
        reasons = ("logged out", "token revoked") if balanced else ("logged out",)
        assert any(f"reason={reason}" in closed for reason in reasons), closed
        wait_step(page, "stream-ended")
        assert "session_id" not in {c["name"] for c in browser_context.cookies(base)}
        assert not page_errors, page_errors
    finally:
        try:
            page.screenshot(path=str(screenshot), full_page=True)
            print(f"screenshot: {screenshot}")
        except Exception as exc:  # never hide the test's own failure
            print(f"no screenshot: {exc!r}")
        print(f"--- app log ---\n{_page_log(page)}")

    # What the browser really sent: the JSON login body as text/plain, then the cookie
    # alone (never X-Auth-Token), on the EventSource request too; none after logout.
    sent = _api_requests(requests, base)
    pages = ("/static/", "/app", "/minions")
    static = {(p, s) for _, p, s, _ in sent if p.startswith("/static/")}
    assert {p for p, _ in static} == {"/static/app.js", "/static/app.css"}, static
    assert all(s in (200, 304) for _, s in static), static
    assert all("x-auth-token" not in h for *_, h in sent), "the app sent X-Auth-Token"

    calls = [(m, p, s, h) for m, p, s, h in sent if not p.startswith(pages)]
    assert [(m, p, s) for m, p, s, _ in calls] == [
        ("POST", "/login", 200),
        ("GET", "/events", 200),
        ("POST", "/", 200),
        ("GET", "/stats", 200),
        ("GET", "/stats", 200),
        ("GET", "/stats", 200),
        ("POST", "/logout", 200),
        ("GET", "/stats", 401),
        ("GET", "/events", 401),  # EventSource's reconnect after the closed stream
    ], calls
    (_, _, _, login), *session, (_, _, _, stats_after), (_, _, _, reconnect) = calls
    assert login["content-type"] == "text/plain;charset=UTF-8", login
    for method, path, _, headers in session:
        assert "session_id=" in headers.get("cookie", ""), (method, path, headers)
    assert session[0][3]["accept"] == "text/event-stream", session[0]
    for headers in (stats_after, reconnect):
        assert "session_id=" not in headers.get("cookie", ""), headers

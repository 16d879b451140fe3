"""The audit log's lines (fields, redaction, outcomes) and its sinks (file, rotation, syslog)."""

import asyncio
import json
import logging.handlers
import os
import re
import socket
import time

import pytest
import tornado.httputil

from salt_ext_rest.auth.identity import Identity
from salt_ext_rest.auth.throttle import LoginThrottled
from salt_ext_rest.backend.dispatch import JobReturns
from salt_ext_rest.config import ConfigError, load_config
from salt_ext_rest.errors import Forbidden, RestError, ServiceUnavailable, Unauthorized
from salt_ext_rest.events.redact import Redactor
from salt_ext_rest.http import request_id
from salt_ext_rest.operations import audit
from salt_ext_rest.operations.audit_sink import AuditSink, FileWriter, open_sink, syslog_address
from tests.support.polling import wait_for as poll

TOKEN = "ab" * 32
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----"
IDENTITY = Identity(name="alice", eauth="pam", token=TOKEN, expire=1_900_000_000.0)


class ListSink:
    def __init__(self):
        self.lines = []

    def write(self, line):
        self.lines.append(json.loads(line))

    def start(self):
        pass

    def close(self):
        pass


@pytest.fixture
def sink():
    return ListSink()


@pytest.fixture
def log(sink):
    return audit.Audit(sink, Redactor(["*_pin"]))


def in_request(request_id, address, func):
    """Run ``func`` in a task bound to a request, as a handler's task is."""

    async def run():
        audit.bind(request_id, address)
        func()

    asyncio.run(run())


def test_every_line_has_time_event_outcome_request_address_worker(log, sink):
    in_request("req-1", "192.0.2.7", lambda: log.login(IDENTITY))
    (line,) = sink.lines
    assert line == {
        "time": line["time"],
        "event": "login",
        "outcome": "ok",
        "request_id": "req-1",
        "address": "192.0.2.7",
        "worker": os.getpid(),
        "user": "alice",
        "eauth": "pam",
        "session": audit.session_id(TOKEN),
        "expire": 1_900_000_000.0,
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
    assert abs(time.mktime(time.strptime(line["time"][:19], "%Y-%m-%dT%H:%M:%S"))
               - time.mktime(time.gmtime())) < 60  # fmt: skip


def test_session_is_a_short_digest_never_the_token(log, sink):
    log.login(IDENTITY)
    text = json.dumps(sink.lines)
    assert TOKEN not in text and TOKEN[:16] not in text
    assert len(audit.session_id(TOKEN)) == 12
    assert audit.session_id(TOKEN) != audit.session_id("cd" * 32)


def test_outside_a_request_the_origin_is_null(log, sink):
    log.record("logout", "ok")
    assert sink.lines[0]["request_id"] is None and sink.lines[0]["address"] is None


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (Unauthorized("Could not authenticate"), "failed"),
        (LoginThrottled("Too many login attempts", 3), "throttled"),
        (Forbidden("no permissions"), "denied"),
        (ServiceUnavailable("master down"), "error"),
        (ValueError("boom"), "error"),
    ],
)
def test_refused_login_outcome_and_reason_without_password(log, sink, error, outcome):
    body = [{"username": "bob", "password": "hunter2", "eauth": "pam"}]
    log.login_refused(body, error)
    (line,) = sink.lines
    assert line["event"] == "login" and line["outcome"] == outcome
    assert line["user"] == "bob" and line["eauth"] == "pam"
    expected = error.message if isinstance(error, RestError) else "ValueError"
    assert line["reason"] == expected
    assert "hunter2" not in json.dumps(line) and "password" not in line


def test_refused_login_without_a_usable_body(log, sink):
    log.login_refused("not a mapping", Unauthorized("send username, password and eauth"))
    assert "user" not in sink.lines[0] and sink.lines[0]["outcome"] == "failed"


def test_chunk_arguments_redacted_by_the_streams_rules(log, sink):
    chunk = {
        "client": "local",
        "tgt": "web*",
        "fun": "test.arg",
        "arg": ["one", "password=hunter2", "color=blue", PEM],
        "kwarg": {"password": "hunter2", "api_token": "t0k", "card_pin": "1234", "n": 2},
        "username": "alice",
        "password": "hunter3",
        "eauth": "pam",
        "token": TOKEN,
    }
    log.chunk(IDENTITY, chunk, jid="20261207153602118265")
    (line,) = sink.lines
    assert line["outcome"] == "allowed" and line["jid"] == "20261207153602118265"
    assert (line["client"], line["fun"], line["tgt"], line["tgt_type"]) == (
        "local", "test.arg", "web*", "glob"
    )  # fmt: skip
    assert line["arg"] == ["one", "password=<redacted>", "color=blue", "<redacted>"]
    assert line["kwarg"] == {
        "password": "<redacted>",
        "api_token": "<redacted>",
        "card_pin": "<redacted>",  # event_redact_keys glob
        "n": 2,
    }
    text = json.dumps(line)
    for secret in ("hunter2", "hunter3", "t0k", "1234", TOKEN, "MIIE"):
        assert secret not in text


def test_chunk_other_keys_are_arguments_too(log, sink):
    chunk = {"client": "wheel", "fun": "key.delete", "match": "web1", "priv": PEM}
    log.chunk(IDENTITY, chunk, Forbidden("User 'alice' may not run wheel function"))
    (line,) = sink.lines
    assert line["outcome"] == "denied" and line["reason"].startswith("User 'alice' may not")
    assert line["kwarg"] == {"match": "web1", "priv": "<redacted>"}
    assert line["arg"] == [] and "tgt" not in line and "tgt_type" not in line


def test_chunk_refused_by_salt_or_failing(log, sink):
    log.chunk(IDENTITY, {"client": "local", "tgt": "*", "fun": "cmd.run"}, Unauthorized("no"))
    log.chunk(IDENTITY, {"client": "local", "tgt": "*", "fun": "cmd.run"}, ServiceUnavailable("x"))
    assert [line["outcome"] for line in sink.lines] == ["denied", "error"]


def test_job_ids_of_every_result_shape():
    assert audit.job_id("local", JobReturns({"m1": True}, "2026")) == "2026"
    assert audit.job_id("local_async", {"jid": "2027", "minions": ["m1"]}) == "2027"
    assert audit.job_id("runner_async", {"tag": "salt/run/2030", "jid": "2030"}) == "2030"
    missing = {"return": {}, "minions": ["m1"], "missing": ["m1"], "jid": "2029"}
    assert audit.job_id("local", missing) == "2029"
    assert audit.job_id("wheel", {"tag": "salt/wheel/2028", "data": {"jid": "2028"}}) == "2028"
    # results that merely contain a "jid" are not this chunk's job
    assert audit.job_id("runner", {"jid": "1999", "Result": {}}) is None  # jobs.list_job
    assert audit.job_id("local", {"jid": "a minion called jid"}) is None
    assert audit.job_id("local", ["a"]) is None and audit.job_id("local_async", True) is None


def test_job_returns_are_plain_returns():
    returns = JobReturns({"m1": True}, "2026")
    assert returns == {"m1": True} and json.dumps(returns) == '{"m1": true}'


def test_stream_lines(log, sink):
    log.stream(IDENTITY, None, "sse", "raw")
    log.stream(IDENTITY, "token expired", "websocket", "formatted", "s1")
    opened, closed = sink.lines
    assert (opened["outcome"], opened["transport"], opened["format"]) == ("opened", "sse", "raw")
    assert "reason" not in opened and "subscription" not in opened
    assert (closed["outcome"], closed["reason"], closed["subscription"]) == (
        "closed", "token expired", "s1"
    )  # fmt: skip


def test_disabled_audit_writes_nothing():
    off = audit.Audit.disabled()
    assert not off.enabled
    off.login(IDENTITY)
    off.chunk(IDENTITY, {"client": "local"})
    off.start()
    off.close()


# -- X-Request-ID ---------------------------------------------------------------------
def make_request(value=None):
    headers = tornado.httputil.HTTPHeaders()
    if value is not None:
        headers["X-Request-ID"] = value
    return tornado.httputil.HTTPServerRequest(method="GET", uri="/", headers=headers)


@pytest.mark.parametrize("value", ["abc", "A1._:-z", "x" * 128, "2f1c0a4e-6b1d-4a55"])
def test_a_sane_request_id_is_kept(value):
    assert request_id.request_id(make_request(value)) == value


@pytest.mark.parametrize("value", [None, "", "x" * 129, "a b", "a\r\nX-Evil: 1", "ünï", "a/b"])
def test_any_other_request_id_is_replaced_by_a_uuid(value):
    generated = request_id.request_id(make_request(value))
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", generated)
    assert generated != request_id.request_id(make_request(value))


# -- sinks ----------------------------------------------------------------------------
def wait_for(predicate, timeout=5.0):
    return poll(predicate, timeout, 0.01)


def test_file_sink_writes_lines_and_reopens_after_rotation(tmp_path):
    path = tmp_path / "audit.log"
    sink = open_sink(load_config({"rest_ext": {"port": 0, "disable_ssl": True,
                                               "audit_log_file": str(path)}}))  # fmt: skip
    assert isinstance(sink, AuditSink)
    sink.start()
    try:
        sink.write('{"n": 1}')
        assert wait_for(lambda: path.exists() and path.read_text() == '{"n": 1}\n')
        path.rename(tmp_path / "audit.log.1")  # what logrotate does
        sink.write('{"n": 2}')
        assert wait_for(lambda: path.exists() and path.read_text() == '{"n": 2}\n')
        assert (tmp_path / "audit.log.1").read_text() == '{"n": 1}\n'
    finally:
        sink.close()


def test_close_writes_what_is_queued(tmp_path):
    path = tmp_path / "audit.log"
    sink = open_sink(load_config({"rest_ext": {"port": 0, "disable_ssl": True,
                                               "audit_log_file": str(path)}}))  # fmt: skip
    sink.start()
    for n in range(200):
        sink.write(f'{{"n": {n}}}')
    sink.close()
    assert len(path.read_text().splitlines()) == 200


def test_syslog_sink_sends_to_the_facility(tmp_path):
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    port = receiver.getsockname()[1]
    conf = {"port": 0, "disable_ssl": True, "audit_syslog": "authpriv",
            "audit_syslog_address": f"127.0.0.1:{port}"}  # fmt: skip
    sink = open_sink(load_config({"rest_ext": conf}))
    sink.start()
    try:
        sink.write('{"event": "login"}')
        data = receiver.recv(4096).decode()
    finally:
        sink.close()
        receiver.close()
    priority = (
        logging.handlers.SysLogHandler.LOG_AUTHPRIV * 8 + logging.handlers.SysLogHandler.LOG_INFO
    )
    assert data.startswith(f"<{priority}>salt-api-audit: ")
    assert data.rstrip("\x00").endswith('{"event": "login"}')


def test_no_sink_when_not_configured():
    assert open_sink(load_config({"rest_ext": {"port": 0, "disable_ssl": True}})) is None


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"audit_syslog": "nonsense"}, "audit_syslog"),
        ({"audit_syslog": True}, "audit_syslog"),
        ({"audit_syslog_address": "nowhere"}, "audit_syslog_address"),
        ({"audit_log_file": "/nonexistent/dir/audit.log"}, "'audit_log_file': directory"),
    ],
)
def test_bad_audit_settings_are_refused(conf, message):
    with pytest.raises(ConfigError, match=message):
        load_config({"rest_ext": {"port": 0, "disable_ssl": True, **conf}})


def test_syslog_settings_are_read():
    conf = load_config({"rest_ext": {"port": 0, "disable_ssl": True, "audit_syslog": False}})
    assert conf.audit_syslog is None
    conf = load_config({"rest_ext": {"port": 0, "disable_ssl": True, "audit_syslog": "local3"}})
    assert conf.audit_syslog == "local3"
    assert syslog_address("/dev/log") == "/dev/log"
    assert syslog_address("logs.example.com:5514") == ("logs.example.com", 5514)


def test_file_is_private_and_recreated_when_removed(tmp_path):
    path = tmp_path / "audit.log"
    writer = FileWriter(str(path))
    try:
        writer(["a"])
        assert (path.stat().st_mode & 0o777) == 0o600
        path.unlink()
        writer(["b", "c"])
        assert path.read_text() == "b\nc\n"
    finally:
        writer.close()


def test_a_failing_writer_is_reported_once_and_the_others_go_on(tmp_path, caplog):
    class Broken:
        def __call__(self, lines):
            raise OSError("disk full")

        def close(self):
            pass

    good = FileWriter(str(tmp_path / "audit.log"))
    sink = AuditSink([Broken(), good])
    sink.start()
    sink.write("one")
    sink.write("two")
    assert wait_for(lambda: (tmp_path / "audit.log").read_text() == "one\ntwo\n")
    sink.write("three")
    sink.close()
    assert (tmp_path / "audit.log").read_text() == "one\ntwo\nthree\n"
    errors = [r for r in caplog.records if "cannot write the audit log" in r.getMessage()]
    assert len(errors) == 1


def test_an_audit_file_that_cannot_be_opened_stops_startup_cleanly(tmp_path):
    conf = {"port": 0, "disable_ssl": True, "audit_log_file": str(tmp_path)}  # a directory
    with pytest.raises(ConfigError, match="'audit_log_file': cannot open"):
        open_sink(load_config({"rest_ext": conf}))


def test_a_syslog_socket_not_there_yet_fails_each_batch_not_startup(tmp_path, caplog):
    conf = {"port": 0, "disable_ssl": True, "audit_syslog": "user",
            "audit_syslog_address": str(tmp_path / "no-such-socket")}  # fmt: skip
    sink = open_sink(load_config({"rest_ext": conf}))
    with pytest.raises(OSError):
        sink.writers[0](["a line"])
    sink.start()
    sink.write("a line")
    sink.close()
    assert [r.getMessage() for r in caplog.records] == ["rest_ext: cannot write the audit log"]

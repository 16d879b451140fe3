import pytest
import salt.exceptions

from salt_ext_rest import errors
from salt_ext_rest.auth.identity import Credentials, Identity
from salt_ext_rest.auth.tokens import TokenFormat
from salt_ext_rest.http import render
from salt_ext_rest.http.access_log import redact


def test_token_format_matches_hash_type():
    sha = TokenFormat("sha256")
    assert sha.is_valid("a" * 64)
    for bad in ("a" * 63, "a" * 65, "../../x", "g" * 64, None, 5, "a" * 32 + "/" + "a" * 31):
        assert not sha.is_valid(bad)
    assert TokenFormat("md5").is_valid("0" * 32)


def test_negotiate():
    assert render.negotiate(None) == render.JSON
    assert render.negotiate("*/*") == render.JSON
    assert render.negotiate("application/x-yaml") == render.YAML
    assert render.negotiate("text/yaml, application/json;q=0.5") == render.YAML
    assert render.negotiate("text/html,application/xhtml+xml,*/*;q=0.8") == render.JSON
    for bad in ("text/csv", "application/json;q=0", "text/html"):
        with pytest.raises(errors.NotAcceptable):
            render.negotiate(bad)


def test_render_yaml_and_json():
    assert render.render({"a": [1]}, render.JSON) == b'{"a": [1]}'
    assert render.render({"a": [1]}, render.YAML) == b"a:\n- 1\n"


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (salt.exceptions.EauthAuthenticationError("x"), 401),
        (salt.exceptions.TokenAuthenticationError("x"), 401),
        (salt.exceptions.AuthorizationError("x"), 403),
        (salt.exceptions.SaltDaemonNotRunning("x"), 503),
        (salt.exceptions.SaltReqTimeoutError("x"), 503),
        (salt.exceptions.SaltClientTimeout("x"), 504),
        (salt.exceptions.SaltInvocationError("bad\nsecond line"), 400),
        (salt.exceptions.SaltClientError("Salt request timed out. The master..."), 503),
    ],
)
def test_salt_exceptions_map_to_statuses(exc, status):
    mapped = errors.from_salt_exception(exc)
    assert mapped.status == status
    assert "\n" not in mapped.message


def test_non_salt_exception_unmapped():
    assert errors.from_salt_exception(ValueError("x")) is None


def test_error_body():
    body = errors.ValidationFailed("$[0].tgt: bad", path="$[0].tgt").body()
    assert body == {
        "status": 400,
        "error": "Bad Request",
        "message": "$[0].tgt: bad",
        "path": "$[0].tgt",
    }


def test_access_log_redacts_tokens():
    token = "ab" * 32
    assert token not in redact(f"/all_events/{token}")
    assert "s3cret" not in redact("/events?token=s3cret&x=1")
    assert redact("/events?token=s3cret&x=1").endswith("&x=1")


def test_credentials_repr_hides_secrets():
    creds = Credentials(token="t0ken", username="u", password="pw", eauth="auto")
    assert "t0ken" not in repr(creds) and "pw" not in repr(creds)


def test_identity_token_data_round_trip():
    tdata = {
        "token": "x",
        "name": "u",
        "eauth": "auto",
        "start": 1.0,
        "expire": 2.0,
        "groups": ["g"],
    }
    assert Identity.from_token_data(tdata, "salt").token_data() == tdata


def test_log_filter_redacts_token_like_values():
    import logging

    from salt_ext_rest.logredact import RedactingFilter

    token = "ab" * 32
    record = logging.LogRecord("x", logging.WARNING, "f", 1, "Token %r dropped", (token,), None)
    RedactingFilter().filter(record)
    assert token not in record.getMessage() and "<redacted>" in record.getMessage()
    jid = logging.LogRecord("x", logging.INFO, "f", 1, "job %s", ("20261125204042081030",), None)
    RedactingFilter().filter(jid)
    assert "20261125204042081030" in jid.getMessage()

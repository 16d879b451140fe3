"""The audit log: one JSON line per security decision (see ``docs/audit.rst``).

Logins (ok, failed, throttled, denied), logouts, minted tokens, every lowstate chunk
(allowed or denied, and why), key generation, webhooks and event streams. Every line
has the time, the event, its outcome, the request id (``X-Request-ID``), the client's
address and the worker's process id; the request's id and address are bound to the
request's task by the handler (:func:`bind`), so call sites pass only what they decide.

Never a token nor a password: a session is named by the first 12 hex digits of the
SHA-256 of its token (:func:`session_id`), chunk arguments are redacted by the event
streams' rules (:class:`~salt_ext_rest.events.redact.Redactor`, ``event_redact_keys``)
and credentials are never read from a chunk. :meth:`Audit.disabled` is a no-op.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from salt_ext_rest.errors import RestError
from salt_ext_rest.events.redact import REDACTED, Redactor

if TYPE_CHECKING:
    from salt_ext_rest.auth.identity import Identity
    from salt_ext_rest.operations.audit_sink import AuditSink

#: chunk keys that are not arguments of the function (or are credentials)
NOT_ARGUMENTS = frozenset(
    {"client", "fun", "tgt", "tgt_type", "arg", "kwarg", "token", "username", "password"}
    | {"eauth", "jid", "timeout", "full_return", "report_missing", "view"}
)


@dataclass(frozen=True)
class RequestOrigin:
    request_id: str
    address: str


_ORIGIN: contextvars.ContextVar[RequestOrigin | None] = contextvars.ContextVar(
    "rest_ext_audit_origin", default=None
)


def bind(request_id: str, address: str) -> None:
    """Name the request the current task serves (tasks it starts inherit it)."""
    _ORIGIN.set(RequestOrigin(request_id, address))


def utc_time(now: float) -> str:
    """ISO 8601 in UTC with milliseconds: ``2026-12-07T15:36:02.123Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


def session_id(token: str) -> str:
    """A short, stable name for a session that does not reveal its token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:12]


def outcome_of(error: BaseException) -> str:
    """``throttled`` (429), ``denied`` (403), ``failed`` (401), else ``error``."""
    status = error.status if isinstance(error, RestError) else 500
    return {429: "throttled", 403: "denied", 401: "failed"}.get(status, "error")


def reason_of(error: BaseException) -> str:
    return error.message if isinstance(error, RestError) else type(error).__name__


def claimed(data: Any) -> dict[str, Any]:
    """The user and eauth a login body claims (never its password)."""
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, Mapping):
        return {}
    return {k: data[k] for k in ("username", "eauth") if isinstance(data.get(k), str)}


#: the authenticators of Salt's own tokens and eauth logins (no ``backend`` field)
SALT_BACKENDS = frozenset({"salt-token", "salt-eauth", "salt"})


def identity_fields(identity: Identity | None) -> dict[str, Any]:
    """Who: the user, its eauth, the session (a token hash prefix) and, for an identity
    that is not a Salt login (an API key, a JWT, a certificate, a plugin's), the backend."""
    if identity is None:
        return {}
    fields = {"user": identity.name, "eauth": identity.eauth, "session": session_id(identity.token)}
    if identity.backend not in SALT_BACKENDS:
        fields["backend"] = identity.backend
    return fields


class Audit:
    """Builds the lines and hands them to the sink (a queue: never blocks the IOLoop)."""

    def __init__(self, sink: AuditSink | None, redactor: Redactor | None = None) -> None:
        self.sink = sink
        self.redact = redactor or Redactor()
        self.worker = os.getpid()

    @classmethod
    def disabled(cls) -> Audit:
        return cls(None)

    @property
    def enabled(self) -> bool:
        return self.sink is not None

    def start(self) -> None:
        if self.sink is not None:
            self.sink.start()

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()

    # -- lines ---------------------------------------------------------------------
    def line(self, event: str, outcome: str, **fields: Any) -> dict[str, Any]:
        origin = _ORIGIN.get()
        return {
            "time": utc_time(time.time()),
            "event": event,
            "outcome": outcome,
            "request_id": origin.request_id if origin else None,
            "address": origin.address if origin else None,
            "worker": self.worker,
            **{k: v for k, v in fields.items() if v is not None},
        }

    def record(self, event: str, outcome: str, **fields: Any) -> None:
        if self.sink is not None:
            text = json.dumps(self.line(event, outcome, **fields), default=str)
            self.sink.write(text)

    def refused(self, event: str, error: BaseException, **fields: Any) -> None:
        if self.sink is not None:
            self.record(event, outcome_of(error), reason=reason_of(error), **fields)

    # -- decisions -------------------------------------------------------------------
    def login(self, identity: Identity, event: str = "login") -> None:
        if self.sink is not None:
            self.record(event, "ok", **identity_fields(identity), expire=identity.expire)

    def login_refused(
        self, data: Any, error: BaseException, event: str = "login", **fields: Any
    ) -> None:
        """Credentials in ``data`` refused: the user and eauth they claim, and why."""
        if self.sink is not None:
            claims = claimed(data)
            user, eauth = claims.get("username"), claims.get("eauth")
            self.refused(event, error, user=user, eauth=eauth, **fields)

    def chunk(
        self,
        identity: Identity,
        chunk: Mapping[str, Any],
        error: BaseException | None = None,
        jid: str | None = None,
    ) -> None:
        """A chunk allowed (``error`` None; its ``jid`` when there is one) or refused."""
        if self.sink is None:
            return
        fields = {**identity_fields(identity), **self.chunk_fields(chunk), "jid": jid}
        if error is None:
            self.record("chunk", "allowed", **fields)
        else:
            outcome = outcome_of(error)
            if outcome in ("failed", "throttled"):
                outcome = "denied"
            self.record("chunk", outcome, reason=reason_of(error), **fields)

    def chunk_fields(self, chunk: Mapping[str, Any]) -> dict[str, Any]:
        """Client, function, target; argument names with values redacted as in the streams."""
        given = chunk.get("kwarg")
        kwarg: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
        extra = {k: v for k, v in chunk.items() if k not in NOT_ARGUMENTS}
        arg = chunk.get("arg")
        return {
            "client": chunk.get("client"),
            "fun": chunk.get("fun"),
            "tgt": chunk.get("tgt"),
            "tgt_type": chunk.get("tgt_type", "glob") if "tgt" in chunk else None,
            "arg": self.redact_args(arg if isinstance(arg, list) else [] if arg is None else [arg]),
            "kwarg": self.redact({**extra, **kwarg}),
        }

    def redact_args(self, args: list[Any]) -> list[Any]:
        """Positional arguments as the streams show them, and ``name=value`` strings with
        a secret name (Salt parses those as keyword arguments) redacted."""
        redacted = []
        for value in self.redact(args):
            if isinstance(value, str) and "=" in value:
                name = value.split("=", 1)[0]
                if name and self.redact.secret(name):
                    value = f"{name}={REDACTED}"
            redacted.append(value)
        return redacted

    def stream(
        self,
        identity: Identity,
        closed: str | None,
        transport: str,
        fmt: str,
        subscription: str | None = None,
    ) -> None:
        """An event stream opened (``closed`` None) or closed (``closed``: why)."""
        if self.sink is not None:
            self.record(
                "stream",
                "opened" if closed is None else "closed",
                **identity_fields(identity),
                transport=transport,
                format=fmt,
                subscription=subscription,
                reason=closed,
            )


#: clients whose result is ``{"jid", ...}`` (``local`` too, with ``report_missing``)
JID_RESULTS = frozenset({"local_async", "runner_async", "wheel_async", "local"})


def job_id(client: str, result: Any) -> str | None:
    """The jid of the job a chunk started: the ``jid`` attribute of a ``local`` result,
    ``jid`` of an async client's (or ``report_missing``) result, ``data.jid`` of
    ``wheel``'s. Never read from other results (``jobs.list_job`` names another job)."""
    jid = getattr(result, "jid", None)
    if jid is None and isinstance(result, Mapping):
        if client in JID_RESULTS and (client != "local" or "missing" in result):
            jid = result.get("jid")
        elif client == "wheel" and isinstance(result.get("data"), Mapping):
            jid = result["data"].get("jid")
    return jid if isinstance(jid, str) else None

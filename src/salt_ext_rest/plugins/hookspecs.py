"""The hooks a ``salt_ext_rest`` plugin may implement.

Every hook is named ``rest_*``. pluggy calls hooks synchronously, so hooks that
contribute behaviour return *objects* (authenticators, policies, formatters, routes)
whose methods may be coroutines; the server awaits them on its IOLoop.

Hooks receive ``context``: the running context, of which a plugin should rely on
``opts``, ``config``, ``gateway`` and ``token_format`` only
(:class:`salt_ext_rest.services.Services`); ``rest_routes`` passes it on to handlers.

A plugin is any module or object with functions decorated by
:data:`salt_ext_rest.hookimpl`, published in the ``salt_ext_rest`` entry-point group::

    [project.entry-points.salt_ext_rest]
    my_plugin = "my_package.plugin"
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from salt_ext_rest.plugins.markers import hookspec

if TYPE_CHECKING:
    from salt_ext_rest.auth.identity import Authenticator
    from salt_ext_rest.authz import Policy
    from salt_ext_rest.errors import RestError
    from salt_ext_rest.events.formatters import EventFormatter
    from salt_ext_rest.events.visibility import VisibilityPolicy
    from salt_ext_rest.services import Services


@hookspec
def rest_authenticators(context: Services) -> Sequence[Authenticator]:
    """Return authenticators: objects that turn request credentials into an identity.

    Each has a ``name`` and ``async authenticate(credentials) -> Identity | None``;
    ``None`` means "not mine / not valid", and the next authenticator is asked.
    Built-ins: scoped API keys, OIDC/JWT bearer tokens, Salt tokens (header,
    ``Authorization: Bearer``, cookie, inline ``token``), client certificates and Salt
    eauth (``username``/``password``/``eauth``), registered ``trylast``.
    """


@hookspec
def rest_lowstate_schemas(context: Services) -> Mapping[str, Mapping[str, Any]]:
    """Return JSON Schemas for lowstate chunks, keyed by client name.

    Every schema returned for a client must accept a chunk (they are combined with
    ``allOf``), so a plugin can only tighten validation. Validators are built once at
    startup. The built-in plugin ships one schema per Salt client as package data.
    """


@hookspec
def rest_policies(context: Services) -> Sequence[Policy]:
    """Return authorization policies, asked for every lowstate chunk after authentication.

    Each has a ``name`` and ``async check(identity, chunk) -> None``; a policy denies by
    raising :class:`salt_ext_rest.errors.Forbidden` (or another ``RestError``). Salt's
    own eauth ACLs are always enforced by the master as well.
    """


@hookspec
def rest_event_formatters(context: Services) -> Sequence[EventFormatter]:
    """Return event formatters: objects with ``name``, ``media_type`` and
    ``format(event) -> str | None`` (``event`` has ``id``, ``tag``, ``data``, ``stamp``).

    A stream chooses its formatter by name (``?format=`` or the ``format`` of a
    ``subscribe`` message); ``None`` skips an event. Event data is already redacted.
    Built-ins: ``raw``, ``sse``, ``cloudevents`` and ``formatted``. A stateful
    formatter (``formatted``, the minions/jobs view) also has ``start()`` and
    ``async stop()``, called with the event bus's, and ``async open_stream(identity,
    event_filter, transport)`` to serve its streams itself.
    """


@hookspec
def rest_event_visibility(context: Services) -> Sequence[VisibilityPolicy]:
    """Return visibility policies: objects with ``name`` and
    ``async prepare(identity) -> predicate(event) -> bool``.

    The ``event_visibility`` setting names the policy used for every stream.
    Built-ins: ``all`` (default) and ``acl``.
    """


@hookspec
def rest_routes(context: Services) -> Iterable[tuple[str, type, dict[str, Any]]]:
    """Return extra Tornado routes ``(pattern, handler_class, init_kwargs)``.

    Handlers should subclass :class:`salt_ext_rest.http.base.ApiHandler` to get
    authentication, rendering and error mapping.
    """


@hookspec(firstresult=True)
def rest_map_exception(exc: BaseException) -> RestError | None:
    """Map an exception raised while serving a request to a :class:`RestError`.

    The first non-``None`` answer wins; unmapped exceptions become a 500 with a
    generic message (the traceback goes to the log only).
    """

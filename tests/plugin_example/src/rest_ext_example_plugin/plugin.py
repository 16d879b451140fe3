"""Example plugin: one implementation of every hook rest_ext offers.

An extra route, a tighter lowstate schema, a policy, an event formatter, an API-key
authenticator and an event visibility policy. Only the formatter and the visibility
policy are offered whether or not the master config enables the plugin::

    rest_ext:
      plugins:
        example:
          enabled: true
          denied_functions: [test.sleep]
          api_keys: {<key>: <salt user>}
"""

import fnmatch

from salt_ext_rest.plugins import (
    ApiHandler,
    Credentials,
    Forbidden,
    Identity,
    RestError,
    hookimpl,
    operation,
)

#: ``eauth`` value of credentials the API-key authenticator handles.
API_KEY_EAUTH = "example-key"


def settings(context):
    return context.config.plugins.get("example", {})


class WhoAmIHandler(ApiHandler):
    """``GET /example/whoami``: who the API thinks you are."""

    #: its operations in the API's OpenAPI document (``GET /openapi.json``)
    openapi = {
        "get": operation(
            "Who the API thinks you are (example plugin)",
            {
                "type": "object",
                "required": ["return"],
                "properties": {"return": {"type": "object", "required": ["name", "eauth"]}},
            },
        )
    }

    async def get(self):
        identity = await self.identify()
        self.send({"return": {"name": identity.name, "eauth": identity.eauth, "plugin": "example"}})


class NoGlobForUser:
    """Deny ``tgt: '*'`` to the users listed in ``no_glob_users``."""

    name = "example-no-glob"

    def __init__(self, users):
        self.users = set(users)

    async def check(self, identity, chunk):
        if identity.name in self.users and chunk.get("tgt") == "*":
            raise Forbidden(f"{identity.name} must name its targets (example plugin)")


@hookimpl
def rest_routes(context):
    if not settings(context).get("enabled"):
        return []
    kwargs = {"context": context}
    return [
        (r"/example/whoami", WhoAmIHandler, kwargs),
        (r"/example/teapot", TeapotHandler, kwargs),
    ]


@hookimpl
def rest_lowstate_schemas(context):
    denied = settings(context).get("denied_functions", [])
    if not settings(context).get("enabled") or not denied:
        return {}
    fun = {"not": {"enum": denied}, "description": "is denied by the example plugin"}
    return {client: {"properties": {"fun": fun}} for client in ("local", "local_async")}


@hookimpl
def rest_policies(context):
    if not settings(context).get("enabled"):
        return []
    return [NoGlobForUser(settings(context).get("no_glob_users", []))]


class ShoutFormatter:
    """``?format=shout``: the tag in capitals and the event data's keys, as JSON."""

    name = "shout"
    media_type = "application/json"

    def format(self, event):
        import json

        if event.tag.endswith("/skip"):
            return None
        return json.dumps({"TAG": event.tag.upper(), "keys": sorted(event.data)})


@hookimpl
def rest_event_formatters(context):
    # Formatters are harmless to offer whether or not the plugin is enabled.
    return [ShoutFormatter()]


class ApiKeyAuthenticator:
    """``{"username": <user>, "password": <API key>, "eauth": "example-key"}``.

    A key listed in ``api_keys`` for that user proves the identity; the caller gets a
    real Salt token of the user, minted through Salt's ``sharedsecret`` eauth, so Salt
    enforces that user's ``external_auth`` ACL on everything the token runs.
    """

    name = "example-api-key"

    def __init__(self, context, api_keys):
        self.context = context
        self.api_keys = dict(api_keys)

    async def authenticate(self, credentials: Credentials) -> Identity | None:
        if credentials.eauth != API_KEY_EAUTH or not credentials.password:
            return None
        user = self.api_keys.get(credentials.password)
        if user is None or user != credentials.username:
            return None
        salt_credentials = Credentials(
            username=user, password=self.context.opts.get("sharedsecret"), eauth="sharedsecret"
        )
        tdata = await self.context.gateway.mint_token(salt_credentials)
        return Identity.from_token_data(tdata, backend=self.name) if tdata else None


@hookimpl
def rest_authenticators(context):
    keys = settings(context).get("api_keys") or {}
    return [ApiKeyAuthenticator(context, keys)] if settings(context).get("enabled") else []


class OnlyHooks:
    """``event_visibility: example-only-hooks``: webhook events only (and stream notices)."""

    name = "example-only-hooks"

    async def prepare(self, identity):
        return lambda event: event.notice or fnmatch.fnmatchcase(event.tag, "salt/netapi/hook/*")


@hookimpl
def rest_event_visibility(context):
    # Offered always: it is used only when ``event_visibility`` names it.
    return [OnlyHooks()]


class ExampleError(Exception):
    """Raised by ``GET /example/teapot``; :func:`rest_map_exception` maps it to 418."""


class Teapot(RestError):
    status, reason = 418, "I'm a teapot"


class TeapotHandler(ApiHandler):
    """``GET /example/teapot``: an authenticated request that fails in a plugin's way."""

    openapi = {"get": operation("Always fails (example plugin)", errors=(418,))}

    async def get(self):
        await self.identify()
        raise ExampleError("short and stout")


@hookimpl
def rest_map_exception(exc):
    return Teapot(f"example plugin: {exc}") if isinstance(exc, ExampleError) else None

"""Example plugin: an extra route, a tighter lowstate schema and a policy.

It only acts when the master config enables it::

    rest_ext:
      plugins:
        example: {enabled: true, denied_functions: [test.sleep]}
"""

from salt_ext_rest.plugins import ApiHandler, Forbidden, hookimpl


def settings(context):
    return context.config.plugins.get("example", {})


class WhoAmIHandler(ApiHandler):
    """``GET /example/whoami``: who the API thinks you are."""

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
    return [(r"/example/whoami", WhoAmIHandler, {"context": context})]


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

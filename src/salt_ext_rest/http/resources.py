"""rest_cherrypy's convenience resources: ``/minions``, ``/jobs``, ``/keys``.

Each is a lowstate chunk run with the caller's token through the same path as
``POST /`` (client allow-list, schema, policies, Salt's ACLs), so a caller may do
here exactly what it could do with the equivalent chunk. Exceptions, on purpose:

* ``GET /minions`` reads grains from the master's minion data cache (authorized as a
  ``grains.items`` publish would be) and runs a ``grains.items`` job only for
  targeted minions with nothing cached;
* ``POST /keys`` runs ``key.gen_accept`` without putting the private key on the
  event bus (see :mod:`salt_ext_rest.backend.keygen`).

Only the documented methods are routed: ``POST /jobs`` is 405 here, not lowstate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from salt_ext_rest.auth.identity import Identity
from salt_ext_rest.authz import authorize
from salt_ext_rest.backend import job_cache, keygen
from salt_ext_rest.backend.gateway import SaltGateway
from salt_ext_rest.backend.minion_cache import FUN as GRAINS_FUN
from salt_ext_rest.backend.minion_pages import minion_page
from salt_ext_rest.errors import BadRequest, Conflict, Unauthorized
from salt_ext_rest.http import render
from salt_ext_rest.http import resource_pages as pages
from salt_ext_rest.http.base import ApiHandler
from salt_ext_rest.http.job_envelope import VIEWS, envelope, results_of
from salt_ext_rest.http.job_pages import jobs_page, wants_page
from salt_ext_rest.http.lowstate_run import as_caller, parse_lowstate, precheck, run_lowstate
from salt_ext_rest.lowstate.chunks import CREDENTIAL_KEYS, as_chunks
from salt_ext_rest.operations import audit

JID_PATTERN = r"[0-9A-Za-z_.-]+"
TAR = "application/x-tar"
MIN_KEYSIZE, MAX_KEYSIZE = 2048, 4096


class ResourceHandler(ApiHandler):
    def send_paged(self, body: dict[str, Any]) -> None:
        """A page: its ``next`` URL in a ``Link`` header too."""
        if body.get("next"):
            self.set_header("Link", f'<{body["next"]}>; rel="next"')
        self.send(body)

    async def run_as_caller(self, chunk: dict[str, Any]) -> Any:
        """Validate one chunk, authenticate the caller, run it; its result."""
        chunks = parse_lowstate(self.context, chunk)
        identity = await self.identify()
        (result,) = await run_lowstate(self.context, chunks, as_caller(identity))
        return result


class MinionHandler(ResourceHandler):
    """``GET /minions/<id>``: ``{"return": [{id: grains}]}`` (``<id>`` is a glob)."""

    async def get(self, mid: str) -> None:
        await self.send_grains(mid)

    async def send_grains(self, tgt: str) -> None:
        chunk = {"client": "local", "tgt": tgt, "fun": GRAINS_FUN}
        chunks = parse_lowstate(self.context, chunk)
        identity = await self.identify()
        await authorize(self.context.policies, identity, chunks)
        gateway = self.context.gateway
        found, missing = await gateway.targeted_grains(identity.token_data(), tgt)
        if missing:
            live = {"client": "local", "tgt": missing, "tgt_type": "list", "fun": GRAINS_FUN}
            (returns,) = await run_lowstate(self.context, [live], as_caller(identity))
            found.update(returns or {})
        self.send({"return": [dict(sorted(found.items()))]})


class MinionsHandler(MinionHandler):
    """``GET /minions``: every minion's grains; ``POST /minions``: start jobs (202)."""

    async def get(self) -> None:  # type: ignore[override]
        if pages.wants_minion_page(self.request.query_arguments):
            await self.send_page()
            return
        await self.send_grains("*")

    async def send_page(self) -> None:
        """``limit``/``cursor``/``grain``: one page, from the cache only (docs/jobs.rst)."""
        arguments = self.request.query_arguments
        after, limit, grain = pages.minion_query(arguments)
        chunk = {"client": "local", "tgt": "*", "fun": GRAINS_FUN}
        chunks = parse_lowstate(self.context, chunk)
        identity = await self.identify()
        await authorize(self.context.policies, identity, chunks)
        gateway = self.context.gateway
        found, more = await gateway.call(
            minion_page, gateway, identity.token_data(), after, limit, grain
        )
        self.send_paged(pages.minion_body(found, more, self.context.config.root_prefix, arguments))

    async def post(self) -> None:
        data = await self.read_body()
        precheck(self.context, data, client="local_async")
        identity = await self.identify()
        chunks = [{**chunk, "client": "local_async"} for chunk in as_chunks(data)]
        results = await run_lowstate(self.context, chunks, as_caller(identity), self.large_body)
        prefix = self.context.config.root_prefix.rstrip("/")
        links = [
            {"href": f"{prefix}/jobs/{result['jid']}"}
            for result in results
            if isinstance(result, dict) and result.get("jid")
        ]
        self.send({"return": results, "_links": {"jobs": links}}, status=202)


class JobsHandler(ResourceHandler):
    """``GET /jobs`` (runner ``jobs.list_jobs``) and ``GET /jobs/<jid>`` (``jobs.list_job``)."""

    async def get(self, jid: str | None = None) -> None:
        if jid is None and wants_page(self.request.query_arguments):
            await self.send_page()
            return
        if jid is None:
            jobs = await self.run_as_caller({"client": "runner", "fun": "jobs.list_jobs"})
            self.send({"return": [jobs]})
            return
        view = self.get_query_argument("view", None)
        if view is not None and view not in VIEWS:
            raise BadRequest(f"view: one of {', '.join(VIEWS)}", path="view")
        job = await self.run_as_caller({"client": "runner", "fun": "jobs.list_job", "jid": jid})
        if view == "status":
            await self.send_envelope(jid, job if isinstance(job, dict) else {})
            return
        self.send({"info": [job], "return": [_minion_returns(job)]})

    async def send_envelope(self, jid: str, job: dict[str, Any]) -> None:
        """``?view=status``: each targeted minion's status (docs/jobs.rst)."""
        gateway = self.context.gateway
        targeted = await gateway.call(job_cache.targeted_minions, gateway.opts, jid)
        silent = [mid for mid in targeted if mid not in results_of(job)]
        online = await gateway.call(lambda: job_cache.connected(gateway.ckminions(), silent))
        utc = bool(gateway.opts.get("utc_jid"))
        self.send(envelope(jid, job, targeted, online, utc))

    async def send_page(self) -> None:
        """A page of the job index (``limit``, ``cursor``, filters): docs/jobs.rst."""
        identity = await self.identify()
        context = self.context
        policy = context.visibility[context.config.event_visibility]
        body = await jobs_page(
            context.job_index,
            policy,
            identity,
            self.request.query_arguments,
            context.config.root_prefix,
        )
        self.send_paged(body)


def _minion_returns(job: Any) -> dict[str, Any]:
    results = job.get("Result") if isinstance(job, dict) else None
    if not isinstance(results, dict):
        return {}
    return {
        mid: ret.get("return") if isinstance(ret, dict) else ret for mid, ret in results.items()
    }


class KeyHandler(ResourceHandler):
    """``GET /keys/<id>``: the key's fingerprints (wheel ``key.finger``)."""

    async def get(self, mid: str) -> None:
        await self.send_wheel({"client": "wheel", "fun": "key.finger", "match": mid})

    async def send_wheel(self, chunk: dict[str, Any]) -> None:
        result = await self.run_as_caller(chunk)
        data = result.get("data") if isinstance(result, dict) else None
        self.send({"return": data.get("return", {}) if isinstance(data, dict) else {}})


class KeysHandler(KeyHandler):
    """``GET /keys``: ``key.list_all``; ``POST /keys``: a new accepted key pair as a tar."""

    def negotiate(self) -> str:
        if self.request.method == "POST" and TAR in self.request.headers.get("Accept", ""):
            return render.JSON  # the tar is what POST returns; errors stay JSON
        return super().negotiate()

    async def get(self) -> None:  # type: ignore[override]
        chunk = {"client": "wheel", "fun": "key.list_all"}
        arguments = self.request.query_arguments
        if not pages.wants_key_page(arguments):
            await self.send_wheel(chunk)
            return
        result = await self.run_as_caller(chunk)
        data = result.get("data") if isinstance(result, dict) else None
        keys = data.get("return", {}) if isinstance(data, dict) else {}
        prefix = self.context.config.root_prefix
        self.send_paged(pages.key_body(keys if isinstance(keys, dict) else {}, prefix, arguments))

    async def post(self) -> None:
        body = _one_mapping(await self.read_body())
        mid, options = _key_request(self.context.gateway, body)
        chunk = {"client": "wheel", "fun": keygen.FUN, "id_": mid, **options}
        parse_lowstate(self.context, chunk)
        try:
            identity = await self._body_identity(body)
        except Exception as error:
            self.context.audit.login_refused(body, error, "keygen", mid=mid, **options)
            raise
        fields = {**audit.identity_fields(identity), "mid": mid, **options}
        try:
            keys = await self._gen_accept(identity, chunk, mid, options)
        except Exception as error:
            self.context.audit.refused("keygen", error, **fields)
            raise
        self.context.audit.record("keygen", "ok", **fields)
        self.set_header("Content-Type", TAR)
        self.set_header("Content-Disposition", f'attachment; filename="{keygen.filename(mid)}"')
        self.set_header("Cache-Control", "no-store")
        self.finish(keygen.tarball(keys))

    async def _gen_accept(
        self, identity: Identity, chunk: dict[str, Any], mid: str, options: dict[str, Any]
    ) -> Any:
        try:
            await authorize(self.context.policies, identity, [chunk])
            if options["force"]:  # replacing an accepted key deletes it: that right too
                delete = {"client": "wheel", "fun": "key.delete", "match": mid}
                await authorize(self.context.policies, identity, [delete])
            keys = await self.context.gateway.gen_accept(mid, options["keysize"], options["force"])
        finally:
            if identity.ephemeral:
                await self.context.gateway.revoke_token(identity.token)
        if not keys:
            raise Conflict(f"Minion {mid!r} already has an accepted key (force=true replaces it)")
        return keys

    async def _body_identity(self, body: Mapping[str, Any]) -> Identity:
        """Credentials travel in the body (no session), as rest_cherrypy's ``POST /keys``."""
        for key in CREDENTIAL_KEYS:
            if key in body and not isinstance(body[key], str):
                raise BadRequest(f"$.{key}: must be a string", path=f"$.{key}")
        identity = await self.identify_inline(body, "body")
        if identity is None:
            raise Unauthorized("Send username, password and eauth (or a token) in the request body")
        return identity


def _one_mapping(data: Any) -> Mapping[str, Any]:
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, Mapping):
        raise BadRequest("Send mid, username, password and eauth")
    return data


def _key_request(gateway: SaltGateway, body: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    mid = body.get("mid", body.get("id_"))
    if not isinstance(mid, str) or not mid or not gateway.valid_minion_id(mid):
        raise BadRequest("$.mid: a valid minion id is required", path="$.mid")
    keysize = str(body.get("keysize", MIN_KEYSIZE))
    if not keysize.isdigit() or not MIN_KEYSIZE <= int(keysize) <= MAX_KEYSIZE:
        raise BadRequest(
            f"$.keysize: must be a number from {MIN_KEYSIZE} to {MAX_KEYSIZE}", path="$.keysize"
        )
    force = body.get("force", False)
    if isinstance(force, str):
        force = force.strip().lower() in ("1", "true", "yes")
    return mid, {"keysize": int(keysize), "force": bool(force)}

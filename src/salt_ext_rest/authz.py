"""Authorization (may they?), separate from authentication (who?).

Policies come from the ``rest_policies`` hook and are asked for every chunk after the
caller is authenticated. Salt's master enforces the eauth ACL again on every job.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from salt_ext_rest.auth.identity import Identity
from salt_ext_rest.backend.acl import is_unrestricted
from salt_ext_rest.errors import Forbidden

if TYPE_CHECKING:
    from salt_ext_rest.backend.gateway import SaltGateway


class Policy(Protocol):
    name: str

    async def check(self, identity: Identity, chunk: dict[str, Any]) -> None:
        """Raise a ``RestError`` (usually :class:`Forbidden`) to deny; return to allow."""
        ...


class SaltAclPolicy:
    """Checks runner, wheel and ssh calls against the caller's eauth ACL before anything runs.

    Gives a clear 403 instead of Salt's generic authentication error, and guards what
    rest_ext runs itself: ``wheel``/``wheel_async`` (with the arguments that will run)
    and ``ssh`` (Salt's netapi cannot read rest_ext's tokens; see :mod:`dispatch`).
    A caller-chosen ``jid`` on ``local*`` is refused unless the ACL is unrestricted.
    """

    name = "salt-acl"
    _FORMS = {
        "runner": "runner",
        "runner_async": "runner",
        "wheel": "wheel",
        "wheel_async": "wheel",
    }

    def __init__(self, gateway: SaltGateway) -> None:
        self.gateway = gateway

    async def check(self, identity: Identity, chunk: dict[str, Any]) -> None:
        gateway = self.gateway
        jid_chosen = chunk["client"].startswith("local") and "jid" in chunk
        if jid_chosen and not is_unrestricted(await gateway.loop_acl.auth_list(identity)):
            raise Forbidden(
                f"User {identity.name!r} may not choose a job id (jid): "
                "only users with unrestricted permissions may"
            )
        if chunk["client"] == "ssh":
            if not await gateway.allowed(identity, chunk, "ssh"):
                raise Forbidden(f"User {identity.name!r} may not run {chunk['fun']!r} over ssh")
            return
        form = self._FORMS.get(chunk["client"])
        if form is None:
            return
        if not await gateway.allowed(identity, chunk, form):
            raise Forbidden(f"User {identity.name!r} may not run {form} function {chunk['fun']!r}")


async def authorize(
    policies: Sequence[Policy], identity: Identity, chunks: list[dict[str, Any]]
) -> None:
    """Ask every policy about every chunk; the first to raise denies."""
    for chunk in chunks:
        for policy in policies:
            await policy.check(identity, chunk)

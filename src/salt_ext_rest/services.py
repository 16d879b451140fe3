"""What plugins' hooks and the built-in plugins receive: a narrow view of the context.

Hooks are called with ``context=`` the running :class:`~salt_ext_rest.context.ApiContext`,
which has these attributes and more; built-ins rely on these only, so nothing they
define needs the context module (which is assembled from them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from salt_ext_rest.auth.tokens import TokenFormat
    from salt_ext_rest.backend.gateway import SaltGateway
    from salt_ext_rest.config import RestConfig
    from salt_ext_rest.shared.worker import WorkerShare


class Services(Protocol):
    """The master's ``opts``, rest_ext's ``config``, the Salt ``gateway``, the token format,
    the deployment's ``shared`` state."""

    opts: dict[str, Any]
    config: RestConfig
    gateway: SaltGateway
    token_format: TokenFormat
    shared: WorkerShare

"""Who is calling: credentials taken from a request, and the identity they prove."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Credentials:
    """What a request presents. ``repr`` never shows a secret."""

    token: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    eauth: str | None = None
    source: str = "none"  # header, cookie, body, inline
    address: str | None = None  # the client's TCP peer address
    # a verified TLS client certificate: {"cert": getpeercert(), "sha256": DER digest}
    client_cert: dict[str, Any] | None = field(default=None, repr=False)

    def __repr__(self) -> str:  # pragma: no cover - defensive
        token = "<set>" if self.token else None
        return (
            f"Credentials(user={self.username!r}, eauth={self.eauth!r}, "
            f"token={token}, source={self.source})"
        )

    @property
    def has_eauth(self) -> bool:
        return bool(self.eauth) and self.username is not None and self.password is not None


@dataclass(frozen=True)
class Identity:
    """An authenticated caller, backed by a Salt token."""

    name: str
    eauth: str
    token: str = field(repr=False)
    start: float = 0.0
    expire: float = 0.0
    groups: tuple[str, ...] = ()
    backend: str = "salt"
    # A token minted only for this request (inline eauth on /run); revoke it after.
    ephemeral: bool = False
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_token_data(
        cls, tdata: dict[str, Any], backend: str, ephemeral: bool = False
    ) -> Identity:
        return cls(
            name=str(tdata.get("name", "")),
            eauth=str(tdata.get("eauth", "")),
            token=str(tdata["token"]),
            start=float(tdata.get("start", 0.0)),
            expire=float(tdata.get("expire", 0.0)),
            groups=tuple(tdata.get("groups") or ()),
            backend=backend,
            ephemeral=ephemeral,
            extra={"perms": tdata["perms"]} if "perms" in tdata else {},
        )

    def token_data(self) -> dict[str, Any]:
        """The Salt token structure (what Salt's ACL code expects)."""
        data: dict[str, Any] = {
            "token": self.token,
            "name": self.name,
            "eauth": self.eauth,
            "start": self.start,
            "expire": self.expire,
        }
        if self.groups:
            data["groups"] = list(self.groups)
        return data


class Authenticator(Protocol):
    """An authentication backend contributed through ``rest_authenticators``."""

    name: str

    async def authenticate(self, credentials: Credentials) -> Identity | None:
        """Return the identity these credentials prove, or ``None`` if not this backend's."""
        ...

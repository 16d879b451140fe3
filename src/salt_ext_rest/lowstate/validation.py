"""Validate lowstate chunks: per-client JSON Schemas (built once) and the master's
client allow-list. Only the client allow-list is checked before authentication
(:meth:`LowstateValidator.check_clients`, no walk of the body); the schemas and the
per-chunk rules run after it (:meth:`LowstateValidator.check`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import jsonschema
from jsonschema.protocols import Validator
from referencing import Registry, Resource

from salt_ext_rest.errors import BadRequest, Forbidden, ValidationFailed
from salt_ext_rest.schemas import describe, load_schema

ALL_CLIENTS = (
    "local",
    "local_async",
    "local_batch",
    "local_subset",
    "runner",
    "runner_async",
    "wheel",
    "wheel_async",
    "ssh",
)
#: every client but ``ssh`` (shell-injection history; enable it only on purpose): what
#: the demo, the tests and the benchmarks put in ``netapi_enable_clients``
NON_SSH_CLIENTS = tuple(client for client in ALL_CLIENTS if client != "ssh")


def _registry() -> Registry:
    common = load_schema("lowstate/common.json")
    resource = Resource.from_contents(common)
    return Registry().with_resources([(common["$id"], resource), ("common.json", resource)])


def builtin_schemas() -> dict[str, dict[str, Any]]:
    return {client: load_schema(f"lowstate/{client}.json") for client in ALL_CLIENTS}


class LowstateValidator:
    """Validators for each client, combining every schema contributed for it."""

    def __init__(
        self, schema_sets: Iterable[Mapping[str, Mapping[str, Any]]], opts: dict[str, Any]
    ):
        combined: dict[str, list[Mapping[str, Any]]] = {}
        for schemas in schema_sets:
            for client, schema in schemas.items():
                combined.setdefault(client, []).append(schema)
        #: the schemas contributed for each client (the OpenAPI document shows them)
        self.schemas = combined
        registry = _registry()
        self._validators: dict[str, Validator] = {}
        for client, parts in combined.items():
            schema = parts[0] if len(parts) == 1 else {"allOf": list(parts)}
            cls = jsonschema.validators.validator_for(parts[0])
            cls.check_schema(schema)
            self._validators[client] = cls(schema, registry=registry)
        self.enabled = tuple(c for c in opts.get("netapi_enable_clients") or () if c in combined)
        self.allow_raw_shell = bool(opts.get("netapi_allow_raw_shell"))
        self.ssh_keys = frozenset(load_schema("lowstate/ssh.json")["properties"])

    def check_clients(self, chunks: Iterable[Any]) -> None:
        """Before authentication: each ``client`` named is known and enabled, and an
        ``ssh`` chunk names only allow-listed keys (400). Cheap: values are not read."""
        for index, chunk in enumerate(chunks):
            if isinstance(chunk, Mapping) and "client" in chunk:
                self._check_client(index, chunk)
                if chunk["client"] == "ssh":
                    self._check_ssh_keys(index, chunk)

    def _check_ssh_keys(self, index: int, chunk: Mapping[str, Any]) -> None:
        """salt-ssh passes unknown keys on to ssh, its roster or the remote script."""
        unknown = sorted(str(key) for key in chunk if key not in self.ssh_keys)
        if unknown:
            names = ", ".join(repr(key) for key in unknown)
            raise ValidationFailed(f"$[{index}]: unknown key(s): {names}", path=f"$[{index}]")

    def check(self, chunks: list[dict[str, Any]]) -> None:
        """Raise a 400/403 naming the JSON path of the first problem; nothing has run yet."""
        for index, chunk in enumerate(chunks):
            self._check_client(index, chunk)
            errors = list(self._validators[chunk["client"]].iter_errors(chunk))
            if errors:
                error = jsonschema.exceptions.best_match(errors)
                raise ValidationFailed(
                    describe(error, root=f"$[{index}]"), path=_path(error, index)
                )
            if chunk.get("raw_shell") and not self.allow_raw_shell:
                raise Forbidden("Raw shell option not allowed.", path=f"$[{index}].raw_shell")
            if chunk["client"] == "ssh":
                _check_ssh(index, chunk)

    def _check_client(self, index: int, chunk: Mapping[str, Any]) -> None:
        client = chunk.get("client")
        path = f"$[{index}].client"
        if not isinstance(client, str) or client not in self._validators:
            raise ValidationFailed(
                f"{path}: must be one of {', '.join(sorted(self._validators))}", path=path
            )
        if client not in self.enabled:
            raise BadRequest(
                f"Client disabled: '{client}'. Add to 'netapi_enable_clients' master config "
                "option to enable.",
                path=path,
            )


def _path(error: jsonschema.ValidationError, index: int) -> str:
    return describe(error, root=f"$[{index}]").split(":", 1)[0]


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _check_ssh(index: int, chunk: dict[str, Any]) -> None:
    """salt-ssh builds an ssh command line: no option injection through any value."""
    for text in _strings(chunk):
        if "proxycommand" in text.lower():
            raise ValidationFailed(f"$[{index}]: ProxyCommand is not allowed", path=f"$[{index}]")
    tgt = chunk.get("tgt")
    for target in [tgt] if isinstance(tgt, str) else tgt or []:
        if target.startswith("-"):
            raise ValidationFailed(
                f"$[{index}].tgt: must not start with '-'", path=f"$[{index}].tgt"
            )

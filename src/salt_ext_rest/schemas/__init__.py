"""JSON Schemas shipped as package data, and the validators built from them (once)."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

import jsonschema
from jsonschema.protocols import Validator


def load_schema(name: str) -> dict[str, Any]:
    """Load ``schemas/<name>`` (e.g. ``config.json`` or ``lowstate/local.json``)."""
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    return json.loads(text)


def build_validator(schema: dict[str, Any]) -> Validator:
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@functools.lru_cache(maxsize=1)
def config_validator() -> Validator:
    return build_validator(load_schema("config.json"))


def json_path(error: jsonschema.ValidationError, root: str = "$") -> str:
    """The JSON path of a validation error, e.g. ``$[0].arg`` or ``rest_ext.port``."""
    path = root
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def describe(error: jsonschema.ValidationError, root: str = "$") -> str:
    """One line: where and why. Never echoes a whole document."""
    while error.parent is not None and error.parent.validator in ("anyOf", "oneOf"):
        error = error.parent
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return f"{json_path(error, root)}: unknown key(s): {', '.join(map(repr, extra))}"
    return f"{json_path(error, root)}: {_reason(error)}"


def _reason(error: jsonschema.ValidationError) -> str:
    """The reason, phrased without echoing the offending value (it may be a secret)."""
    value = error.validator_value
    reasons = {
        "type": lambda: f"must be of type {' or '.join(_as_list(value))}",
        "enum": lambda: f"must be one of {', '.join(map(repr, value))}",
        "const": lambda: f"must be {value!r}",
        "pattern": lambda: f"does not match the pattern {value!r}",
        "minLength": lambda: f"must be at least {value} characters long",
        "maxLength": lambda: f"must be at most {value} characters long",
        "minimum": lambda: f"must be at least {value}",
        "maximum": lambda: f"must be at most {value}",
        "minItems": lambda: f"must have at least {value} item(s)",
        "not": lambda: "is not allowed here",
    }
    if error.validator in reasons:
        return reasons[error.validator]()
    if error.validator in ("anyOf", "oneOf"):
        return error.schema.get("description") or "does not match any allowed form"
    return error.message


def _as_list(value: Any) -> list[str]:
    return list(value) if isinstance(value, list) else [str(value)]


def first_error_message(validator: Validator, instance: Any, root: str = "$") -> str | None:
    """The most relevant error as one line, or ``None`` when ``instance`` is valid."""
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    return describe(error, root) if error is not None else None

"""Load and validate the ``rest_ext`` block of the master configuration.

The schema is package data (``schemas/config.json``); a bad block raises
:class:`ConfigError` with one line naming the key, which the loader module turns
into a clean salt-api exit.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from typing import Any

from salt_ext_rest.schemas import config_validator, first_error_message

MODULE_KEY = "rest_ext"


class ConfigError(Exception):
    """The ``rest_ext`` configuration cannot be used."""


@dataclass(frozen=True)
class RestConfig:
    """The validated, typed ``rest_ext`` settings (rest_cherrypy/rest_tornado meaning)."""

    port: int
    host: str = "0.0.0.0"
    backlog: int = 128
    num_processes: int = 1
    thread_pool: int = 32
    auth_thread_pool: int = 4
    login_max_inflight: int = 64
    login_user_burst: int = 30
    login_user_rate: float = 2.0
    login_address_burst: int = 100
    login_address_rate: float = 10.0
    ssl_crt: str | None = None
    ssl_key: str | None = None
    ssl_chain: str | None = None
    disable_ssl: bool = False
    debug: bool = False
    websockets: bool = False
    cors_origin: tuple[str, ...] = ()
    webhook_url: str = "/hook"
    webhook_disable_auth: bool = False
    stats_disable_auth: bool = False
    static: str | None = None
    static_path: str = "/static"
    app: str | None = None
    app_path: str = "/app"
    favicon: str | None = None
    root_prefix: str = "/"
    max_request_body_size: int = 1024 * 1024
    max_body_depth: int = 64
    max_body_nodes: int = 100_000
    max_lowstate_chunks: int = 200
    expire_responses: bool = True
    collect_stats: bool = False
    log_access_file: str | None = None
    log_error_file: str | None = None
    # the audit log (docs/audit.rst): a file and/or syslog with a facility name
    audit_log_file: str | None = None
    audit_syslog: str | None = None
    audit_syslog_address: str | None = None
    cookie_samesite: str = "Lax"
    csrf_check: bool = True
    trusted_proxies: tuple[str, ...] = ()
    header_timeout: float = 60.0
    body_timeout: float = 120.0
    max_streams_per_token: int = 20
    token_cache_ttl: float = 2.0
    apikey_default_lifetime: int = 30 * 86400
    apikey_max_lifetime: int = 365 * 86400
    apikey_recheck_interval: float = 10.0
    ssl_client_ca: str | None = None
    client_cert_auth: str = "off"
    client_cert_user: str = "cn"
    jwt_jwks: str = ""
    jwt_issuer: str = ""
    jwt_audience: str = ""
    jwt_algorithms: tuple[str, ...] = ("RS256", "ES256")
    jwt_user_claim: str = "sub"
    jwt_groups_claim: str = "groups"
    jwt_jwks_ttl: float = 300.0
    jwt_leeway: float = 30.0
    event_visibility: str = "acl"
    # eauth backend -> user name, ``group%`` or ``*`` -> tag globs a restricted user sees
    event_visibility_tags: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    event_redact_keys: tuple[str, ...] = ()
    event_replay_size: int = 1000
    event_queue_size: int = 1000
    event_idle_hold: float = 0.02
    event_heartbeat: float = 15.0
    stream_recheck_interval: float = 5.0
    formatted_job_history: int = 100
    formatted_job_timeout: float = 0.0
    # "" = no shared store: one host (workers share state through a host-local file);
    # "redis://host:port/db" = Redis, for several hosts (a master cluster)
    shared_store: str = ""
    shared_store_timeout: float = 0.25
    shared_store_prefix: str = "rest_ext:"
    event_history_size: int = 10000
    # liveness and readiness probes (docs/probes.rst), mounted below root_prefix
    health_path: str = "/healthz"
    ready_path: str = "/readyz"
    probe_timeout: float = 2.0
    log_probes: bool = False
    # the job index behind GET /jobs?limit= (docs/jobs.rst); "" = <cachedir>/rest_ext-jobs.sqlite
    job_index: bool = True
    job_index_path: str = ""
    plugins: dict[str, Any] = field(default_factory=dict)
    # Prometheus /metrics (docs/metrics.rst): who may scrape, from where
    metrics: bool = True
    metrics_path: str = "/metrics"
    metrics_access: str = "token"  # token | open | addresses
    metrics_allow: tuple[str, ...] = ()

    @property
    def tls(self) -> bool:
        return not self.disable_ssl


_INT_KEYS = (
    "port",
    "backlog",
    "num_processes",
    "thread_pool",
    "auth_thread_pool",
    "login_max_inflight",
    "login_user_burst",
    "login_address_burst",
    "max_body_depth",
    "max_body_nodes",
    "max_lowstate_chunks",
    "max_request_body_size",
    "event_replay_size",
    "event_queue_size",
    "formatted_job_history",
    "max_streams_per_token",
    "event_history_size",
)


# Accepted for rest_cherrypy compatibility, without effect: CherryPy's response
# timeout monitor (expire_responses) and opt-in statistics (collect_stats; /stats
# always reports).
NOT_YET_ACTIVE = frozenset({"expire_responses", "collect_stats"})


def inactive_keys(opts: dict[str, Any]) -> list[str]:
    """Keys set in the block that this version accepts but does not act on."""
    return sorted(NOT_YET_ACTIVE & set(opts.get(MODULE_KEY) or {}))


def _normalise(raw: dict[str, Any]) -> dict[str, Any]:
    values = dict(raw)
    if "address" in values and "host" not in values:
        values["host"] = values["address"]
    values.pop("address", None)
    for alias in ("socket_queue_size", "queue_size"):
        if alias in values:
            values.setdefault("backlog", values[alias])
            values.pop(alias)
    for key in _INT_KEYS:
        if key in values:
            values[key] = int(values[key])
    if "event_redact_keys" in values:
        values["event_redact_keys"] = tuple(values["event_redact_keys"])
    if "event_visibility_tags" in values:
        values["event_visibility_tags"] = {
            eauth: {who: tuple(globs) for who, globs in (entries or {}).items()}
            for eauth, entries in values["event_visibility_tags"].items()
        }
    origins = values.get("cors_origin")
    if isinstance(origins, str):
        values["cors_origin"] = (origins,)
    elif origins is not None:
        values["cors_origin"] = tuple(origins)
    if "trusted_proxies" in values:
        values["trusted_proxies"] = tuple(values["trusted_proxies"])
    if values.get("audit_syslog") is False:
        values["audit_syslog"] = None
    if "metrics_allow" in values:
        values["metrics_allow"] = tuple(values["metrics_allow"])
    if "jwt_algorithms" in values:
        values["jwt_algorithms"] = tuple(values["jwt_algorithms"])
    return values


def _check_files(conf: RestConfig) -> None:
    if conf.tls and not conf.ssl_crt:
        raise ConfigError("'ssl_crt' is required unless 'disable_ssl' is true")
    keys = ["static", "app", "favicon"]
    if conf.tls:
        keys += ["ssl_crt", "ssl_key", "ssl_chain"]
    for key in keys:
        path = getattr(conf, key)
        if path and not os.path.exists(path):
            raise ConfigError(f"'{key}': file not found: {path}")
    if conf.static and not os.path.isdir(conf.static):
        raise ConfigError(f"'static': not a directory: {conf.static}")
    for key in ("log_access_file", "log_error_file", "audit_log_file"):
        path = getattr(conf, key)
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise ConfigError(f"'{key}': directory not found: {os.path.dirname(path)}")


#: first path segments rest_ext serves itself (a webhook_url there is never reached,
#: or, for ``/``, would catch every unmatched POST)
OWN_PATHS = frozenset(
    {"login", "logout", "token", "run", "events", "all_events", "formatted_events", "ws"}
    | {"stream", "minions", "jobs", "keys", "stats", "apikeys", "me"}
)


def _check_proxies(conf: RestConfig) -> None:
    for key in ("trusted_proxies", "metrics_allow"):
        for entry in getattr(conf, key):
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ConfigError(f"'{key}': {entry!r} is not an IP address or network") from None
    if conf.metrics_access == "addresses" and not conf.metrics_allow:
        raise ConfigError("'metrics_allow': list the addresses when metrics_access is addresses")


def _check_paths(conf: RestConfig) -> None:
    _check_probe_paths(conf)
    first = conf.webhook_url.strip("/").split("/")[0]
    taken = {
        path.strip("/").split("/")[0]
        for path in (conf.static_path, conf.app_path, conf.health_path, conf.ready_path)
    }
    if not first or first in OWN_PATHS or first in taken:
        raise ConfigError(
            f"'webhook_url': {conf.webhook_url!r} overlaps rest_ext's own URLs; "
            "give the webhook a prefix of its own, such as /hook"
        )
    mine = conf.metrics_path.strip("/").split("/")[0]
    if conf.metrics and (not mine or mine in OWN_PATHS or mine in taken or mine == first):
        raise ConfigError(
            f"'metrics_path': {conf.metrics_path!r} overlaps another of rest_ext's URLs"
        )


def _check_probe_paths(conf: RestConfig) -> None:
    health, ready = conf.health_path.strip("/"), conf.ready_path.strip("/")
    files = (conf.static_path, conf.app_path)
    taken = OWN_PATHS | {path.strip("/").split("/")[0] for path in files}
    for key, path in (("health_path", health), ("ready_path", ready)):
        if not path or path.split("/")[0] in taken:
            raise ConfigError(f"'{key}': {getattr(conf, key)!r} overlaps rest_ext's own URLs")
    if health == ready:
        raise ConfigError("'ready_path': must differ from 'health_path'")


def load_config(opts: dict[str, Any]) -> RestConfig:
    """Validate ``opts['rest_ext']`` and return it as a :class:`RestConfig`."""
    raw = opts.get(MODULE_KEY)
    if not isinstance(raw, dict):
        raise ConfigError(f"'{MODULE_KEY}' must be a mapping of settings")
    message = first_error_message(config_validator(), raw, root=MODULE_KEY)
    if message:
        raise ConfigError(message)
    conf = RestConfig(**_normalise(raw))
    _check_paths(conf)
    _check_proxies(conf)
    _check_files(conf)
    _check_jwt(conf)
    _check_client_certs(conf)
    return conf


def _check_client_certs(conf: RestConfig) -> None:
    if conf.client_cert_auth == "off":
        return
    if not conf.tls or not conf.ssl_client_ca:
        raise ConfigError("'client_cert_auth': needs TLS and 'ssl_client_ca'")
    if not os.path.exists(conf.ssl_client_ca):
        raise ConfigError(f"'ssl_client_ca': file not found: {conf.ssl_client_ca}")


def _check_jwt(conf: RestConfig) -> None:
    if conf.jwt_jwks and not (conf.jwt_issuer and conf.jwt_audience):
        raise ConfigError("'jwt_jwks': set 'jwt_issuer' and 'jwt_audience' as well")

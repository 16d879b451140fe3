"""Bind, fork the configured number of workers, serve, and stop cleanly on SIGTERM.

With ``num_processes`` above 1 each worker binds its own ``SO_REUSEPORT`` socket
after the fork, so the kernel spreads connections over the workers.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os
import signal
import ssl
import tempfile
from typing import Any

import tornado.httpserver
import tornado.netutil

from salt_ext_rest import logfiles, logredact, workers
from salt_ext_rest.assembly import build_context, start_streams, stop_streams
from salt_ext_rest.config import RestConfig, inactive_keys, load_config
from salt_ext_rest.http.app import make_app
from salt_ext_rest.operations import metrics

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 10.0


def ssl_context(config: RestConfig) -> ssl.SSLContext | None:
    """The server's TLS context: ``ssl_crt`` followed by the ``ssl_chain`` certificates,
    all sent to clients in the handshake (the chain is not a set of trusted CAs)."""
    if not config.tls:
        return None
    assert config.ssl_crt is not None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    if config.client_cert_auth != "off" and config.ssl_client_ca:
        # Client certificates (mTLS): OpenSSL checks the chain and validity dates.
        context.load_verify_locations(cafile=config.ssl_client_ca)
        required = config.client_cert_auth == "required"
        context.verify_mode = ssl.CERT_REQUIRED if required else ssl.CERT_OPTIONAL
    if not config.ssl_chain:
        context.load_cert_chain(config.ssl_crt, config.ssl_key or None)
        return context
    # OpenSSL takes a served chain only from the certificate file itself: load a
    # private, short-lived copy with the chain appended (it may hold the key too).
    with open(config.ssl_crt, "rb") as crt, open(config.ssl_chain, "rb") as chain:
        pem = crt.read().rstrip(b"\n") + b"\n" + chain.read()
    with tempfile.TemporaryDirectory(prefix="rest_ext-tls-") as private:
        combined = os.path.join(private, "served-chain.pem")
        with open(os.open(combined, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            out.write(pem)
        context.load_cert_chain(combined, config.ssl_key or None)
    return context


def serve(opts: dict[str, Any]) -> None:
    """Entry point called by the loader module in salt-api's netapi process."""
    logredact.install()
    config = load_config(opts)
    try:
        logfiles.install(config)
    except OSError as exc:
        log.critical("rest_ext: cannot open a log file: %s", exc)
        raise SystemExit(1) from None
    for key in inactive_keys(opts):
        log.warning("rest_ext: option %r is accepted but has no effect in this version", key)
    tls = ssl_context(config)
    metrics_dir = _metrics_directory(opts, config)
    if config.num_processes > 1:
        _serve_workers(opts, config, tls, metrics_dir)
        return
    sockets = _listen(config)
    if sockets is None:
        raise SystemExit(1)
    asyncio.run(_serve(opts, config, sockets, tls))


def _listen(config: RestConfig, reuse_port: bool = False) -> list | None:
    """The listening sockets, or ``None`` (logged) when the port cannot be had."""
    try:
        return tornado.netutil.bind_sockets(
            config.port, address=config.host or None, backlog=config.backlog, reuse_port=reuse_port
        )
    except OSError as exc:
        log.critical("rest_ext: cannot listen on %s:%s: %s", config.host, config.port, exc)
        return None


def _metrics_directory(opts: dict[str, Any], config: RestConfig) -> str | None:
    """The deployment's metric files' directory, emptied, named for every worker."""
    if not config.metrics:
        return None
    directory = metrics.prepare_directory(metrics.metrics_directory(opts, config.port))
    os.environ[metrics.ENV] = directory
    return directory


def _serve_workers(
    opts: dict[str, Any], config: RestConfig, tls: Any, metrics_dir: str | None = None
) -> None:
    """``num_processes`` workers, each with its own ``SO_REUSEPORT`` socket.

    Workers forked onto one shared socket do not share the load: whichever worker's
    loop wakes first accepts, and under load one worker took most connections. With
    a socket per worker the kernel spreads new connections over them. The supervisor
    checks the port is free first (a port taken by another program must stop salt-api,
    not be shared with it), then listens on none.
    """
    probe = _listen(config)
    if probe is None:
        raise SystemExit(1)
    shared = config.port == 0  # a kernel-chosen port: one socket for all, as before
    if not shared:
        for sock in probe:
            sock.close()
    # With several workers, this process supervises them and returns once they stopped.
    on_exit = None
    if metrics_dir is not None:
        on_exit = functools.partial(metrics.mark_process_dead, metrics_dir)
    if workers.fork_workers(config.num_processes, 2 * SHUTDOWN_GRACE + 5, on_exit) is None:
        for sock in probe if shared else ():
            sock.close()
        return
    sockets = probe if shared else _listen(config, reuse_port=True)
    if sockets is None:
        raise SystemExit(1)  # the supervisor restarts this worker a few times
    asyncio.run(_serve(opts, config, sockets, tls))


async def _serve(opts: dict[str, Any], config: RestConfig, sockets: list, tls: Any) -> None:
    context = build_context(opts, config)
    start_streams(context)
    app = make_app(context)
    server = tornado.httpserver.HTTPServer(
        app,
        ssl_options=tls,
        max_body_size=config.max_request_body_size * 2 + 65536,
        # A client gets this long to send its request headers (and an idle keep-alive
        # connection is closed after it), and body_timeout to send the body. Neither
        # applies once a handler runs: event streams are never cut by them.
        idle_connection_timeout=config.header_timeout,
        body_timeout=config.body_timeout,
    )
    try:
        await context.gateway.token_reader.warm()  # token reads ready before requests
    except Exception:  # the first token read will build it (and say what fails)
        log.warning("rest_ext: could not prepare token reads", exc_info=True)
    server.add_sockets(sockets)
    # What starting built (Salt's loaders and modules, the configuration, the app, the
    # token reader's LoadAuth) lives as long as the process. Freezing it keeps Python's
    # full collections from walking it again and again: they paused the loop for
    # 50-75 ms under load (the event fan-out's p99), 12-20 ms after the freeze.
    gc.collect()
    gc.freeze()
    log.info(
        "rest_ext: serving on %s://%s:%s", "https" if tls else "http", config.host, config.port
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    log.info("rest_ext: stopping")
    server.stop()
    # In-flight requests finish (streams excepted) before connections are closed.
    if not await app.stats.drain(SHUTDOWN_GRACE):
        log.warning("rest_ext: requests still running after %ss; closing", SHUTDOWN_GRACE)
    try:
        await asyncio.wait_for(server.close_all_connections(), SHUTDOWN_GRACE)
    except asyncio.TimeoutError:
        log.warning("rest_ext: connections still open after %ss; closing", SHUTDOWN_GRACE)
    await stop_streams(context)
    context.close()

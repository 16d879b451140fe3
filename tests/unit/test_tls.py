"""The TLS context: ``ssl_chain`` is served after the certificate, never trusted."""

import socket
import ssl
import tempfile
import threading

import pytest

from salt_ext_rest.config import load_config
from salt_ext_rest.server import ssl_context
from tests.support.certs import make_server_certs


def handshake(server_context, root_ca):
    """Complete a handshake with a client trusting only ``root_ca``; the cipher."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        conn, _ = listener.accept()
        try:
            with server_context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client = ssl.create_default_context(cafile=str(root_ca))
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as sock,
            client.wrap_socket(sock, server_hostname="127.0.0.1") as tls,
        ):
            return tls.cipher()
    finally:
        thread.join(10)
        listener.close()


@pytest.mark.parametrize("key_in_crt", [False, True])
def test_chain_is_served_not_trusted(tmp_path, monkeypatch, key_in_crt):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    certs = make_server_certs(tmp_path)
    conf = {"port": 1, "ssl_crt": str(certs.crt), "ssl_chain": str(certs.chain)}
    if key_in_crt:
        certs.crt.write_text(certs.key.read_text() + certs.crt.read_text())
    else:
        conf["ssl_key"] = str(certs.key)
    context = ssl_context(load_config({"rest_ext": conf}))
    names = [dict(x[0] for x in ca["subject"]) for ca in context.get_ca_certs()]
    assert {"commonName": "test intermediate CA"} not in names  # not a client CA
    assert handshake(context, certs.root_ca)
    assert list(scratch.iterdir()) == []  # the combined copy is gone


@pytest.mark.parametrize(
    ("mode", "verify"),
    [("off", ssl.CERT_NONE), ("optional", ssl.CERT_OPTIONAL), ("required", ssl.CERT_REQUIRED)],
)
def test_client_certificates_are_asked_for_by_client_cert_auth(tmp_path, mode, verify):
    from tests.support.certs import make_client_certs

    server = make_server_certs(tmp_path)
    clients = make_client_certs(tmp_path, "carol")
    block = {"port": 1, "ssl_crt": str(server.crt), "ssl_key": str(server.key)}
    block.update({"ssl_client_ca": clients.ca, "client_cert_auth": mode})
    context = ssl_context(load_config({"rest_ext": block}))
    assert context.verify_mode == verify


def test_client_cert_auth_needs_tls_and_a_ca(tmp_path):
    from salt_ext_rest.config import ConfigError

    with pytest.raises(ConfigError, match="client_cert_auth"):
        load_config({"rest_ext": {"port": 1, "disable_ssl": True, "client_cert_auth": "optional"}})
    with pytest.raises(ConfigError, match="jwt_jwks"):
        load_config({"rest_ext": {"port": 1, "disable_ssl": True, "jwt_jwks": "/x"}})

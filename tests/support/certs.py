"""Throw-away X.509 certificates for TLS tests: a root CA, an intermediate CA and a
server certificate for 127.0.0.1 signed by the intermediate."""

import datetime
import ipaddress

import attr
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@attr.s(frozen=True)
class ServerCerts:
    root_ca = attr.ib()  # path of the root CA certificate (what clients trust)
    chain = attr.ib()  # path of the intermediate CA certificate
    crt = attr.ib()  # path of the server certificate
    key = attr.ib()  # path of the server's private key


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject, key, issuer, issuer_key, ca, san=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def make_server_certs(directory, host="127.0.0.1"):
    """Write the certificates and key into ``directory``; return their paths."""
    root_key, mid_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _certificate("test root CA", root_key, "test root CA", root_key, ca=True)
    mid = _certificate("test intermediate CA", mid_key, "test root CA", root_key, ca=True)
    san = [x509.IPAddress(ipaddress.ip_address(host))]
    leaf = _certificate(host, leaf_key, "test intermediate CA", mid_key, ca=False, san=san)
    paths = ServerCerts(
        root_ca=directory / "root-ca.pem",
        chain=directory / "chain.pem",
        crt=directory / "server.crt",
        key=directory / "server.key",
    )
    paths.root_ca.write_bytes(_pem(root))
    paths.chain.write_bytes(_pem(mid))
    paths.crt.write_bytes(_pem(leaf))
    paths.key.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    paths.key.chmod(0o600)
    return paths


@attr.s(frozen=True)
class ClientCerts:
    ca = attr.ib()  # path of the client CA certificate (ssl_client_ca)
    valid = attr.ib()  # (certificate path, key path) of a valid client certificate
    expired = attr.ib()  # the same user's certificate, expired yesterday
    foreign = attr.ib()  # the same user's certificate, signed by another CA


def _client_certificate(user, issuer, issuer_key, key, days):
    now = datetime.datetime.now(datetime.timezone.utc)
    end = now + datetime.timedelta(days=days)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(user))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(min(now, end) - datetime.timedelta(days=2))
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.RFC822Name(f"{user}@example.test")]),
            critical=False,
        )
        .sign(issuer_key, hashes.SHA256())
    )


def _write_pair(directory, name, cert, key):
    crt, pem_key = directory / f"{name}.crt", directory / f"{name}.key"
    crt.write_bytes(_pem(cert))
    pem_key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pem_key.chmod(0o600)
    return str(crt), str(pem_key)


def make_client_certs(directory, user):
    """A client CA and three certificates naming ``user`` (CN and an email SAN)."""
    ca_key, other_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    ca = _certificate("test client CA", ca_key, "test client CA", ca_key, ca=True)
    other = _certificate("another CA", other_key, "another CA", other_key, ca=True)
    (directory / "client-ca.pem").write_bytes(_pem(ca))
    pairs = {}
    for name, issuer, issuer_key, days in (
        ("valid", "test client CA", ca_key, 1),
        ("expired", "test client CA", ca_key, -1),
        ("foreign", "another CA", other_key, 1),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        pairs[name] = _write_pair(
            directory, name, _client_certificate(user, issuer, issuer_key, key, days), key
        )
    del other
    return ClientCerts(ca=str(directory / "client-ca.pem"), **pairs)

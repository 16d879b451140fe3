"""
The layout of a test master cluster: addresses, ports free on every address, the
directories the masters share, the master-config keys that join them, and the wait
for the cluster to settle before minions authenticate. Used by
:mod:`salt_ext_rest.testing.cluster`.
"""

from __future__ import annotations

import logging
import pathlib
import shutil
import socket
import time
from typing import Any

log = logging.getLogger(__name__)

#: the masters' addresses, in order; master 0 is the minions' master.
ADDRESSES = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
CLUSTER_ID = "rest_ext_cluster"
#: directories of a master's ``root_dir`` replaced by links to the shared ones.
SHARED_LINKS = ("cache", "tokens")
START_TIMEOUT = 120
#: master log lines (INFO) that tell the cluster is up and its AES keys have settled.
READY_LINE = "cluster ready"
AES_KEY_LINE = "Received new AES key"
SETTLE_QUIET = 2.0
SETTLE_TIMEOUT = 60.0


def free_port_on(addresses: tuple[str, ...] | list[str]) -> int:
    """A TCP port free on every address (bound then released)."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind((addresses[0], 0))
            port = int(first.getsockname()[1])
            if all(_bindable(address, port) for address in addresses[1:]):
                return port
    raise RuntimeError(f"no TCP port free on all of {addresses}")


def _bindable(address: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def shared_dirs(root: pathlib.Path) -> dict[str, pathlib.Path]:
    """Create the directories the masters share under ``root``."""
    dirs = {
        "pki": root / "pki",
        "cache": root / "cache",
        "tokens": root / "cache" / "tokens",
        "file_roots": root / "srv" / "salt",
        "pillar_roots": root / "srv" / "pillar",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    (dirs["pki"] / "peers").mkdir(exist_ok=True)
    return dirs


def write_cluster_key(pki: pathlib.Path) -> None:
    """
    Create the cluster's key pair (``cluster.pem``/``cluster.pub``) as Salt would
    (RSA 2048, PEM) before any master starts. Masters that start together otherwise may
    each generate one and keep their own in memory while the file holds another's: a
    minion then gets an auth reply it cannot verify ("Unable to decrypt message").
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for name, data in (("cluster.pem", private), ("cluster.pub", public)):
        path = pki / name
        path.write_bytes(data)
        path.chmod(0o400)


def cluster_master_overrides(
    index: int, count: int, dirs: dict[str, pathlib.Path], ports: dict[str, int]
) -> dict[str, Any]:
    """Master-config keys that make master ``index`` a member of the cluster (a lone
    master is a plain master: Salt refuses a ``cluster_id`` without peers)."""
    address = ADDRESSES[index]
    config = {
        "interface": address,
        "file_roots": {"base": [str(dirs["file_roots"])]},
        "pillar_roots": {"base": [str(dirs["pillar_roots"])]},
        **ports,
    }
    if count > 1:
        config["cluster_id"] = CLUSTER_ID
        config["cluster_peers"] = [a for a in ADDRESSES[:count] if a != address]
        config["cluster_pki_dir"] = str(dirs["pki"])
    return config


def link_shared(master: Any, dirs: dict[str, pathlib.Path]) -> None:
    """Point the master's ``cache`` and ``tokens`` (under ``root_dir``) at the shared ones."""
    root = pathlib.Path(master.config["root_dir"])
    for name in SHARED_LINKS:
        link = root / name
        if link.is_symlink():
            continue
        if link.is_dir():
            shutil.rmtree(link)  # empty directories salt-factories made; Salt fills them
        link.symlink_to(dirs[name], target_is_directory=True)


def _master_log(master: Any) -> str:
    path = pathlib.Path(master.config["log_file"])
    path = path if path.is_absolute() else pathlib.Path(master.config["root_dir"]) / path
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""


def wait_settled(masters: list[Any], timeout: float = SETTLE_TIMEOUT) -> None:
    """
    Wait until every master opened its request gate and the masters stopped handing
    each other new AES keys for ``SETTLE_QUIET`` seconds. A minion that authenticates
    while the keys still move can get a reply it cannot decrypt, and keeps the wrong
    master key (seen with Salt 3008.3 on a loaded machine). Reads the masters' log
    files, so their ``log_level_logfile`` must be ``info`` or finer; without the lines
    the wait gives up after ``timeout`` seconds with a warning.
    """
    deadline, last, quiet_since = time.monotonic() + timeout, -1, time.monotonic()
    while time.monotonic() < deadline:
        logs = [_master_log(m) for m in masters]
        changes = sum(text.count(AES_KEY_LINE) for text in logs)
        if changes != last:
            last, quiet_since = changes, time.monotonic()
        ready = all(READY_LINE in text for text in logs)
        if ready and time.monotonic() - quiet_since >= SETTLE_QUIET:
            return
        time.sleep(0.2)
    log.warning("cluster did not settle in %ss; starting minions anyway", timeout)


def forget_master_key(minion: Any) -> None:
    """Before a (re)start: drop the master key a failed start may have cached."""
    pki = pathlib.Path(minion.config["pki_dir"])
    pki = pki if pki.is_absolute() else pathlib.Path(minion.config["root_dir"]) / pki
    (pki / "minion_master.pub").unlink(missing_ok=True)

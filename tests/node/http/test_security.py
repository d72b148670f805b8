"""Secure by default: Raft password always, Raft bound to its address, tokens, TLS."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lithair_node.client.blocking_api import http_json
from lithair_node.lab.local_cluster import LocalCluster, free_ports
from tests.cluster_fixtures import start_cluster
from tests.http_helpers import get, post_json, wait_for

READING = {"sensor_id": "sec", "timestamp": 1, "temperature": 1.0}


def serve_command(tmp: Path, *extra: str) -> tuple[list[str], int, int]:
    http_port, raft_port = free_ports(2)
    command = [sys.executable, "-m", "lithair_node", "serve", "--node-id", "solo",
               "--http", f"127.0.0.1:{http_port}", "--raft", f"127.0.0.1:{raft_port}",
               "--data-dir", str(tmp / "solo"), *extra]
    return command, http_port, raft_port


def test_a_node_without_raft_password_refuses_to_start(tmp_path) -> None:
    command, _, _ = serve_command(tmp_path)
    done = subprocess.run(command, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.returncode != 0
    assert "Raft password is required" in done.stderr


def test_raft_binds_only_to_the_configured_address(tmp_path) -> None:
    (tmp_path / "pw").write_text("secret\n")
    command, http_port, raft_port = serve_command(tmp_path, "--raft-password-file",
                                                  str(tmp_path / "pw"))
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: http_json(f"http://127.0.0.1:{http_port}/readyz")[0] == 200,
                 what="single node ready")
        with socket.create_connection(("127.0.0.1", raft_port), timeout=2):
            pass  # the configured address accepts
        with pytest.raises(OSError), socket.create_connection(("127.0.0.2", raft_port), timeout=2):
            pass  # another local address does not: Raft is not on 0.0.0.0
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_node_with_the_wrong_password_cannot_join(tmp_path) -> None:
    cluster = LocalCluster(tmp_path, nodes=3)
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-cluster-password\n")
    try:
        cluster.start_node(0)
        cluster.start_node(1)
        cluster.wait_ready(indexes=[0, 1])
        cluster.password_file = wrong
        cluster.start_node(2)
        wait_for(lambda: http_json(f"{cluster.urls[2]}/health")[0] == 200, what="node3 up")
        assert post_json(cluster.urls[0], {"readings": [READING]}).status == 200
        # Observe for well over two election timeouts: node3 must never be let in.
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            status = cluster.status(2)
            assert status["leader"] is None and status["total_readings"] == 0
            peers = {p["node_id"]: p["connected"] for p in cluster.status(0)["peers"]}
            assert peers.get("node3") is not True
            time.sleep(0.2)
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory) -> str:
    """A single node with a write token and a read token; yields its URL."""
    tmp = tmp_path_factory.mktemp("tokens")
    (tmp / "pw").write_text("secret\n")
    command, http_port, _ = serve_command(tmp, "--raft-password-file", str(tmp / "pw"),
                                          "--token", "w-secret", "--read-token", "r-secret")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{http_port}"
    try:
        wait_for(lambda: http_json(f"{url}/readyz")[0] == 200, what="guarded node ready")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_write_routes_need_the_write_token(guarded: str) -> None:
    url = guarded
    body = {"readings": [READING]}
    assert post_json(url, body).error["code"] == "unauthorized"
    assert post_json(url, body).status == 401
    assert post_json(url, body, headers=auth("nope")).status == 401
    read_only = post_json(url, body, headers=auth("r-secret"))
    assert read_only.status == 403 and read_only.error["code"] == "forbidden"
    assert post_json(url, body, headers=auth("w-secret")).status == 200


def test_read_routes_need_a_token_when_a_read_token_is_set(guarded: str) -> None:
    url = guarded
    assert get(f"{url}/api/v1/stats").status == 401
    assert get(f"{url}/api/v1/stats", headers=auth("r-secret")).status == 200
    assert get(f"{url}/api/v1/stats", headers=auth("w-secret")).status == 200
    assert get(f"{url}/health").status == 200  # liveness stays open for orchestrators
    assert get(f"{url}/readyz").status == 200


def test_reads_are_open_when_only_a_write_token_is_set(tmp_path) -> None:
    running = start_cluster(tmp_path, nodes=1, extra_args=("--token", "w-secret"))
    try:
        url = running.urls[0]
        assert get(f"{url}/api/v1/stats").status == 200
        assert post_json(url, {"readings": [READING]}).status == 401
    finally:
        running.stop()


def self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_https_when_a_certificate_is_given(tmp_path) -> None:
    cert, key = self_signed(tmp_path)
    (tmp_path / "pw").write_text("secret\n")
    command, http_port, _ = serve_command(tmp_path, "--raft-password-file", str(tmp_path / "pw"),
                                          "--tls-cert", str(cert), "--tls-key", str(key))
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    context = ssl.create_default_context(cafile=str(cert))
    url = f"https://127.0.0.1:{http_port}"

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/readyz", context=context, timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    try:
        wait_for(ready, what="https node ready")
        with urllib.request.urlopen(f"{url}/api/v1/cluster/status", context=context) as answer:
            assert answer.status == 200
            assert b'"http_url":"https://' in answer.read()
        # Plain HTTP on the same port is not served.
        assert http_json(f"http://127.0.0.1:{http_port}/health")[0] != 200
    finally:
        process.terminate()
        process.wait(timeout=30)

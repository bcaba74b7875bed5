"""HTTPS as the rest of the Python stack trusts it: the system's store
(``SSL_CERT_FILE``, ``SSL_CERT_DIR``), ``ca_file`` (a private CA, or the
server's own self-signed certificate, as curl, requests and httpx accept
it), ``verify=False`` (warned about), and a client certificate (``cert``)
for a server that asks for one. Servers are asyncio's, with ``ssl``, on
127.0.0.1; certificates are made here with ``cryptography``."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import pathlib
import ssl
import subprocess
import sys
import textwrap
from typing import AsyncIterator, Optional, Tuple

import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import gather_fetch
from conftest import LoopbackServer


Made = Tuple[bytes, bytes]  # (certificate PEM, key PEM)


def _make(name: str, *, ca: bool, issuer: Optional[Tuple[x509.Certificate, ec.EllipticCurvePrivateKey]] = None,
          ip: bool = True) -> Tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ip:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    signer = issuer[1] if issuer else key
    return builder.sign(signer, hashes.SHA256()), key


def _pem(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Made:
    return (
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption()),
    )


class TlsServer(LoopbackServer):
    """HTTPS on 127.0.0.1 answering every request with ``secure``; with
    ``client_ca``, it asks each client for a certificate that CA signed."""

    def __init__(self, cert: Made, tmp: pathlib.Path, client_ca: Optional[bytes] = None) -> None:
        super().__init__()
        (tmp / "server.pem").write_bytes(cert[0])
        (tmp / "server.key").write_bytes(cert[1])
        self.ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ssl_context.load_cert_chain(tmp / "server.pem", tmp / "server.key")
        if client_ca is not None:
            self.ssl_context.verify_mode = ssl.CERT_REQUIRED
            self.ssl_context.load_verify_locations(cadata=client_ca.decode())

    @property
    def url(self) -> str:
        return self.base + "/"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecure")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()


@pytest_asyncio.fixture
async def private_ca(tmp_path: pathlib.Path) -> AsyncIterator[Tuple[TlsServer, pathlib.Path]]:
    """A server whose certificate a private CA signed, and that CA's file."""
    ca = _make("Company CA", ca=True, ip=False)
    leaf = _make("127.0.0.1", ca=False, issuer=ca)
    ca_file = tmp_path / "company-ca.pem"
    ca_file.write_bytes(_pem(*ca)[0])
    server = await TlsServer(_pem(*leaf), tmp_path).start()
    try:
        yield server, ca_file
    finally:
        await server.stop()


@pytest.mark.asyncio
async def test_a_private_ca_is_trusted_as_ca_file_and_refused_without(private_ca):
    server, ca_file = private_ca
    [page] = await gather_fetch.fetch([server.url], ca_file=ca_file)
    assert page.text == "secure"
    [refused] = await gather_fetch.fetch([server.url], return_exceptions=True)
    assert isinstance(refused, gather_fetch.TLSError), refused


@pytest.mark.asyncio
async def test_the_usual_self_signed_certificate_given_as_ca_file_is_trusted(tmp_path):
    # What `openssl req -x509 -addext subjectAltName=IP:127.0.0.1` makes:
    # self-signed, and CA:TRUE.
    made = _pem(*_make("127.0.0.1", ca=True))
    server = await TlsServer(made, tmp_path).start()
    try:
        mine = tmp_path / "self-signed.pem"
        mine.write_bytes(made[0])
        [page] = await gather_fetch.fetch([server.url], ca_file=mine)
        assert page.text == "secure"
        other = tmp_path / "other.pem"
        other.write_bytes(_pem(*_make("127.0.0.1", ca=True))[0])
        [refused] = await gather_fetch.fetch([server.url], ca_file=other, return_exceptions=True)
        assert isinstance(refused, gather_fetch.TLSError), refused
    finally:
        await server.stop()


def test_the_system_store_is_read_from_ssl_cert_file(tmp_path):
    # The store is read once per process: a process of its own, with
    # SSL_CERT_FILE naming the company's CA and no ca_file.
    ca = _make("Company CA", ca=True, ip=False)
    leaf = _make("127.0.0.1", ca=False, issuer=ca)
    (tmp_path / "ca.pem").write_bytes(_pem(*ca)[0])
    made = _pem(*leaf)
    (tmp_path / "server.pem").write_bytes(made[0])
    (tmp_path / "server.key").write_bytes(made[1])
    code = textwrap.dedent(f"""
        import asyncio, ssl, gather_fetch
        async def main():
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain({str(tmp_path / "server.pem")!r}, {str(tmp_path / "server.key")!r})
            async def serve(reader, writer):
                await reader.readuntil(b"\\r\\n\\r\\n")
                writer.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: 6\\r\\nConnection: close\\r\\n\\r\\nsecure")
                await writer.drain()
                writer.close()
            server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
            port = server.sockets[0].getsockname()[1]
            [page] = await gather_fetch.fetch([f"https://127.0.0.1:{{port}}/"])
            print(page.text)
        asyncio.run(main())
    """)
    env = {"SSL_CERT_FILE": str(tmp_path / "ca.pem"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "secure"


@pytest.mark.asyncio
async def test_verify_false_accepts_any_certificate_and_warns(private_ca):
    server, _ = private_ca
    with pytest.warns(gather_fetch.InsecureRequestWarning, match="verify=False"):
        [page] = await gather_fetch.fetch([server.url], verify=False)
    assert page.text == "secure"


@pytest.mark.asyncio
async def test_cert_shows_a_client_certificate_to_a_server_that_asks(tmp_path):
    server_ca = _make("Server CA", ca=True, ip=False)
    client_ca = _make("Client CA", ca=True, ip=False)
    leaf = _make("127.0.0.1", ca=False, issuer=server_ca)
    client = _pem(*_make("client", ca=False, issuer=client_ca, ip=False))
    server = await TlsServer(_pem(*leaf), tmp_path, client_ca=_pem(*client_ca)[0]).start()
    try:
        ca_file = tmp_path / "server-ca.pem"
        ca_file.write_bytes(_pem(*server_ca)[0])
        cert, key = tmp_path / "client.pem", tmp_path / "client.key"
        cert.write_bytes(client[0])
        key.write_bytes(client[1])
        both = tmp_path / "client-both.pem"
        both.write_bytes(client[0] + client[1])
        for given in ((cert, key), both):
            [page] = await gather_fetch.fetch([server.url], ca_file=ca_file, cert=given)
            assert page.text == "secure"
        [refused] = await gather_fetch.fetch([server.url], ca_file=ca_file, return_exceptions=True)
        assert isinstance(refused, gather_fetch.FetchError), refused
        with pytest.raises(ValueError, match="cert"):
            await gather_fetch.fetch([server.url], cert=(cert, ca_file))
    finally:
        await server.stop()

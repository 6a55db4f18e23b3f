"""A Splunk HEC collector over HTTPS with a self-signed certificate (the sink's TLS tests).

A collector a SOC runs with its own certificate: a sink that verifies TLS (the default)
refuses it, one told ``hec_verify_tls=false`` delivers to it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from http.server import ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.revoker.servers import HTTPServer
from tests.sinks.receivers import HecBehaviour


def self_signed(tmp: Path) -> ssl.SSLContext:
    """A server context for 127.0.0.1 whose certificate no public CA signed."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_pem, key_pem = tmp / "hec.crt", tmp / "hec.key"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_pem, key_pem)
    return ctx


class TlsHecServer(HTTPServer):
    """The recording HEC server (:class:`tests.sinks.receivers.HecBehaviour`) over HTTPS.

    A client that refuses the certificate fails the handshake; the server drops that
    connection (it never becomes a request).
    """

    def __init__(self, behaviour: HecBehaviour, tmp: Path) -> None:
        self._ctx = self_signed(tmp)
        super().__init__(behaviour)

    def __post_init__(self) -> None:
        orig = ThreadingHTTPServer.server_bind
        ctx = self._ctx

        def bind(srv: ThreadingHTTPServer) -> None:
            orig(srv)
            srv.socket = ctx.wrap_socket(srv.socket, server_side=True)

        ThreadingHTTPServer.server_bind = bind  # type: ignore[method-assign,assignment]
        try:
            super().__post_init__()
        finally:
            ThreadingHTTPServer.server_bind = orig  # type: ignore[method-assign]

    def url(self, path: str = "/") -> str:
        return f"https://127.0.0.1:{self.port}{path}"

"""Shared scaffolding for the HTTP wire tests: a bare listener, raw-byte clients, a scripted upstream."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from multidict import CIMultiDict

from proxy.wire.answers import Answer
from proxy.wire.listener import HttpListener, Request
from proxy.wire.upstream import UpstreamPool

OK = Answer(200, CIMultiDict({"Content-Type": "text/plain"}), b"hello")


# ---- the listener side -------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def listening(handler: Callable[[Request], Awaitable[Answer | None]]) -> AsyncIterator[int]:
    listener = HttpListener(handler)
    port = await listener.start("127.0.0.1", 0)
    try:
        yield port
    finally:
        await listener.close(grace=1)


async def read_all(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.read(-1), 5)


async def exchange(port: int, data: bytes) -> bytes:
    """Send raw bytes, return everything written back until the proxy closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    try:
        return await read_all(reader)
    finally:
        writer.close()


def seen_by(requests: list[Request], answer: Answer | None = OK):
    """A handler that keeps every request it gets and answers each with `answer`."""

    async def handler(request: Request) -> Answer | None:
        requests.append(request)
        return answer

    return handler


def echo_target(started: list[str], slow: str = "", delay: float = 0.2):
    """A handler answering each request with its target; `slow` is answered after `delay`."""

    async def handler(request: Request) -> Answer:
        started.append(request.target)
        if request.target == slow:
            await asyncio.sleep(delay)
        return Answer(200, CIMultiDict(), request.target.encode())

    return handler


async def request(port: int, data: bytes) -> tuple[bytes, bytes]:
    """One request on a fresh connection that asks to be closed; the head and body of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    try:
        raw = await asyncio.wait_for(reader.read(-1), 10)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return head, body


def first_status_line(raw: bytes) -> bytes:
    return raw.split(b"\r\n", 1)[0]


def port_of(proxy, exchange: str = "kalshi") -> int:
    return int(proxy.url(exchange).rsplit(":", 1)[1])


def content_length(head: bytes) -> int:
    return next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
    )


async def read_message(reader: asyncio.StreamReader, seconds: float | None = None) -> tuple[bytes, bytes]:
    """One HTTP message framed by Content-Length (or none): its head and its body."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), seconds)
    return head, await asyncio.wait_for(reader.readexactly(content_length(head)), seconds)


# ---- the upstream side -------------------------------------------------------------------------


class Scripted:
    """An upstream that reads whole requests and writes the next scripted bytes back, each in one write;
    a float in the script is a pause (seconds) before the answer that follows it. The connection stays
    open until the client closes it, unless `close_after` closes it after one answer."""

    def __init__(self, *answers: bytes | float, close_after: bool = False) -> None:
        self.answers = list(answers)
        self.close_after = close_after
        self.connections = 0
        self.requests: list[bytes] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                self.requests.append(b"".join(await read_message(reader)))
                answer = self.answers.pop(0)
                if isinstance(answer, float):  # a pause, then the next scripted bytes
                    await asyncio.sleep(answer)
                    answer = self.answers.pop(0)
                writer.write(answer)
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


@contextlib.asynccontextmanager
async def scripted(upstream: Scripted) -> AsyncIterator[str]:
    server = await asyncio.start_server(upstream.serve, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


async def send(
    pool: UpstreamPool,
    url: str,
    method: str = "GET",
    target: str = "/x",
    body: bytes = b"",
    headers: CIMultiDict[str] | None = None,
):
    return await pool.send(url, method, target, headers or CIMultiDict(), body)


def self_signed(directory) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key, as PEM files (test material, made fresh each run)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tradetape test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)

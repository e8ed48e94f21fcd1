"""A minimal S3 sink on loopback for the upload benchmark: PutObject, HeadObject, ListObjectsV2, after a sleep.

Why: the emulator (moto under werkzeug, one process, one GIL) spends milliseconds of CPU per PutObject, so on a
2-core machine it, not the client, can cap the throughput a benchmark sees. This sink answers the same calls in
one asyncio loop for a few tens of microseconds each, after the same simulated latency, so what it measures is
the client's own ceiling. It keeps each object's size and MD5 (so a re-run is skipped, as against S3) but not
its bytes. Path-style addressing only; no auth checks. Loopback only; stops on SIGTERM/SIGINT.

    python include/dev/s3_sink.py --port 0 --latency-ms 100   # prints the URL on the first line of stdout
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import signal
import sys
from urllib.parse import parse_qs, quote, unquote, urlsplit
from xml.sax.saxutils import escape

__all__ = ["S3Sink", "list_objects_xml", "main"]

PAGE = 1000


def list_objects_xml(bucket: str, objects: dict[str, tuple[int, str]], query: dict[str, list[str]]) -> bytes:
    """A ListObjectsV2 answer for ``objects`` (``{key: (size, md5)}``), one page of up to 1,000 keys."""
    prefix = query.get("prefix", [""])[0]
    after = query.get("continuation-token", query.get("start-after", [""]))[0]
    url = query.get("encoding-type", [""])[0] == "url"
    keys = sorted(key for key in objects if key.startswith(prefix) and key > after)
    page, truncated = keys[:PAGE], len(keys) > PAGE
    contents = "".join(
        f"<Contents><Key>{escape(quote(key) if url else key)}</Key><Size>{objects[key][0]}</Size>"
        f"<ETag>&quot;{objects[key][1]}&quot;</ETag><StorageClass>STANDARD</StorageClass></Contents>"
        for key in page
    )
    token = f"<NextContinuationToken>{escape(page[-1])}</NextContinuationToken>" if truncated else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"<Name>{escape(bucket)}</Name><Prefix>{escape(prefix)}</Prefix><KeyCount>{len(page)}</KeyCount>"
        f"<MaxKeys>{PAGE}</MaxKeys><IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
        f"{'<EncodingType>url</EncodingType>' if url else ''}{contents}{token}</ListBucketResult>"
    ).encode()


def _decode_aws_chunked(body: bytes) -> bytes:
    """The payload of an ``aws-chunked`` body (``<hex size>[;ext]\\r\\n<data>\\r\\n`` ... ``0\\r\\n`` trailers)."""
    out, position = bytearray(), 0
    while True:
        end = body.index(b"\r\n", position)
        size = int(body[position:end].split(b";", 1)[0], 16)
        if size == 0:
            return bytes(out)
        out += body[end + 2 : end + 2 + size]
        position = end + 2 + size + 2


class S3Sink:
    """The sink's state (objects per bucket) and its request handler."""

    def __init__(self, latency_ms: float) -> None:
        self.latency = latency_ms / 1000.0
        self.buckets: dict[str, dict[str, tuple[int, str]]] = {}
        self.requests = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one keep-alive connection until the client closes it."""
        try:
            while True:
                line = await reader.readline()
                if not line.strip():
                    return
                method, target, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while (raw := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = raw.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                if headers.get("expect", "").lower() == "100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                if headers.get("transfer-encoding", "").lower() == "chunked":
                    body = await self._read_chunked(reader)
                else:
                    body = await reader.readexactly(int(headers.get("content-length") or 0))
                if "aws-chunked" in headers.get("content-encoding", ""):
                    body = _decode_aws_chunked(body)
                status, extra, payload = self._answer(method, target, body)
                await asyncio.sleep(self.latency)
                self.requests += 1
                head = [f"HTTP/1.1 {status}", f"Content-Length: {len(payload)}", "x-amz-request-id: sink", *extra]
                if payload:
                    head.append("Content-Type: application/xml")
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + (b"" if method == "HEAD" else payload))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        out = bytearray()
        while True:
            size = int((await reader.readline()).split(b";", 1)[0], 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(out)
            out += await reader.readexactly(size)
            await reader.readline()

    def _answer(self, method: str, target: str, body: bytes) -> tuple[str, list[str], bytes]:
        parts = urlsplit(target)
        bucket, _, key = unquote(parts.path).lstrip("/").partition("/")
        objects = self.buckets.setdefault(bucket, {})
        if method == "PUT" and key:
            digest = hashlib.md5(body, usedforsecurity=False).hexdigest()
            objects[key] = (len(body), digest)
            return "200 OK", [f'ETag: "{digest}"'], b""
        if method == "HEAD" and key:
            if key not in objects:
                return "404 Not Found", [], b""
            size, digest = objects[key]
            return "200 OK", [f'ETag: "{digest}"', f"x-amz-meta-size: {size}"], b""
        if method == "GET" and not key:
            return "200 OK", [], list_objects_xml(bucket, objects, parse_qs(parts.query))
        return "200 OK", [], b""  # CreateBucket, HeadBucket and the like


async def _serve(host: str, port: int, latency_ms: float) -> None:
    sink = S3Sink(latency_ms)
    server = await asyncio.start_server(sink.handle, host, port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    print(f"http://{host}:{bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    # Not ``async with server``: from Python 3.12.1 its exit waits for every client connection to close, and a
    # client's keep-alive pool keeps them open; asyncio.run cancels the open handlers instead.
    server.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point: serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the sink serves loopback only")
    asyncio.run(_serve(args.host, args.port, args.latency_ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())

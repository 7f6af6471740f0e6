"""Raw HTTP/1.1 over loopback sockets, for tests that need what a client library hides:
chunked uploads cut mid-body, the server's temp files while it reads them."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any

import orjson

SEND_AT_MOST = 64 * 1024 * 1024  # bound on what a test sends when the server never answers
READ_BOUND_S = 30.0


class Upload:
    """One raw HTTP request whose body is sent chunk by chunk until the server answers."""

    def __init__(self, srv: Any, path: str, headers: dict[str, str]) -> None:
        self.srv, self.path, self.headers = srv, path, headers
        self.sent = 0
        self.on_chunk = lambda: None  # called after each chunk is handed to the socket

    async def send(self, first: bytes, filler: bytes) -> tuple:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.srv.port)
        head = f"POST {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
        head += "Transfer-Encoding: chunked\r\n"
        writer.write(head.encode() + b"\r\n")
        answer = asyncio.ensure_future(read_response(reader))
        try:
            piece = first
            while not answer.done() and self.sent < SEND_AT_MOST:
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                drained = asyncio.ensure_future(writer.drain())
                await asyncio.wait({drained, answer}, return_when=asyncio.FIRST_COMPLETED)
                if not drained.done():
                    drained.cancel()
                elif drained.exception() is not None:
                    break  # the server closed while we were still sending
                self.sent += len(piece)
                self.on_chunk()
                piece = filler
            return await asyncio.wait_for(answer, READ_BOUND_S)
        finally:
            answer.cancel()
            writer.close()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict, dict]:
    """One response (head, then a Content-Length body), read as soon as it arrives: a client
    still sending its body stops once the answer is in."""
    head = await reader.readuntil(b"\r\n\r\n")
    status, _, headers = parse(head + b"null")
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, orjson.loads(body), headers


def parse(raw: bytes) -> tuple[int, dict, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = {
        k.decode().lower(): v.decode() for k, v in (line.split(b": ", 1) for line in lines[1:])
    }
    if headers.get("transfer-encoding") == "chunked":
        size, _, rest = body.partition(b"\r\n")
        body = rest[: int(size, 16)]
    return int(lines[0].split()[1]), orjson.loads(body), headers


def open_temp_files(pid: int, tmp: Path) -> dict[str, int]:
    """Sizes of the files process ``pid`` holds open under ``tmp``, unlinked temp files
    included (a spooled upload never shows up in a directory listing)."""
    sizes = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(str(tmp)):
                sizes[fd] = os.stat(f"/proc/{pid}/fd/{fd}").st_size
    return sizes

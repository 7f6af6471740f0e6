"""The limits hold on `tokenomist serve` itself (the CLI's uvicorn, its own process): a chunked
upload is cut without the server's temp files growing past the limit, and idle connections
cannot starve a server of file descriptors."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import uuid

import httpx
import pytest

from tests.support.rawhttp import SEND_AT_MOST, Upload, open_temp_files
from tests.support.servers import server_process

pytestmark = pytest.mark.slow

LIMIT = 4 * 1024 * 1024
READ_BOUND_S = 60.0
PASSWORD = "correct horse battery staple 42"


async def test_chunked_multipart_upload_to_serve_does_not_grow_its_temp_dir(tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    env = {"TOKENOMIST_MAX_BODY_BYTES": str(LIMIT), "TMPDIR": str(spool)}
    with server_process(env, tmp_path / "data") as srv:
        async with httpx.AsyncClient(base_url=srv.url, timeout=READ_BOUND_S) as client:
            email = f"serve-{uuid.uuid4().hex[:10]}@example.com"
            resp = await client.post("/auth/register", json={"email": email, "password": PASSWORD})
            token = resp.json()["access_token"]
        upload = Upload(
            srv,
            "/api/v1/usage/import",
            {
                "Authorization": f"Bearer {token}",
                "Content-Type": "multipart/form-data; boundary=b0undary",
            },
        )
        peak = 0

        def sample() -> None:
            nonlocal peak
            peak = max([peak, *open_temp_files(srv.proc.pid, spool).values()])

        upload.on_chunk = sample
        part = (
            b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="u.csv"\r\n'
            b"Content-Type: text/csv\r\n\r\n"
        )
        status, body, _ = await upload.send(part, b"a" * 256 * 1024)
        assert (status, body["error"]["code"]) == (413, "payload_too_large")
        assert upload.sent < SEND_AT_MOST
        assert 0 < peak <= LIMIT  # it did spool to disk (so the sampling sees it), within limit


async def test_idle_connections_cannot_starve_serve_of_file_descriptors(tmp_path):
    """The server gets 20 spare descriptors. 50 sockets that never send a byte used to take them
    all, and the event loop then dropped every new connection (a real request saw the server
    hang up); now the oldest idle ones make room."""
    with server_process({}, tmp_path / "data") as srv:
        in_use = len(os.listdir(f"/proc/{srv.proc.pid}/fd"))
        _, hard = resource.prlimit(srv.proc.pid, resource.RLIMIT_NOFILE)
        resource.prlimit(srv.proc.pid, resource.RLIMIT_NOFILE, (in_use + 20, hard))
        idle = [await asyncio.open_connection("127.0.0.1", srv.port) for _ in range(50)]
        try:
            async with httpx.AsyncClient(base_url=srv.url, timeout=READ_BOUND_S) as client:
                resp = await client.get("/health/live")
            assert resp.status_code == 200
        finally:
            for _, writer in idle:
                with contextlib.suppress(OSError):
                    writer.close()

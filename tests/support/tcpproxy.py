"""A local TCP proxy that adds latency or drops connections, to fault a real dependency
without touching product code."""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, *, delay_s: float = 0.0) -> None:
        self.target = (target_host, target_port)
        self.delay_s = delay_s
        self._next_reply_delay_s = 0.0  # see delay_next_reply
        self.drop = False  # when True, accepted connections are closed at once
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    def delay_next_reply(self, seconds: float) -> None:
        """Hold the next chunk coming back from the target (on any connection) this long: the
        target has run the command by the time the client gives up on the answer."""
        self._next_reply_delay_s = seconds

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if self.drop:
                return
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            await asyncio.gather(
                self._pipe(reader, up_writer),
                self._pipe(up_reader, writer, reply=True),
                return_exceptions=True,
            )
        except OSError:
            pass
        finally:
            writer.close()
            self._tasks.discard(task)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, reply: bool = False
    ) -> None:
        try:
            while data := await reader.read(65536):
                delay = self.delay_s
                if reply and self._next_reply_delay_s:
                    delay, self._next_reply_delay_s = delay + self._next_reply_delay_s, 0.0
                if delay:
                    await asyncio.sleep(delay)
                if self.drop:
                    break
                writer.write(data)
                await writer.drain()
        finally:
            with contextlib.suppress(OSError):
                writer.close()

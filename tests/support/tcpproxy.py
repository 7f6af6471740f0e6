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
        self._drop = False
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()  # both ends of every live connection

    @property
    def drop(self) -> bool:
        return self._drop

    @drop.setter
    def drop(self, value: bool) -> None:
        """An outage: live connections are reset at once (an idle pooled connection would
        otherwise live on until it next carried data) and new ones are closed on accept."""
        self._drop = value
        if value:
            self._reset_all()

    def _reset_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()

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
        self._reset_all()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        up_writer: asyncio.StreamWriter | None = None
        try:
            if self.drop:
                return
            async with asyncio.timeout(10):
                up_reader, up_writer = await asyncio.open_connection(*self.target)
            self._writers.add(up_writer)
            if self.drop:  # the outage began while this connection was being opened
                return
            await asyncio.gather(
                self._pipe(reader, up_writer),
                self._pipe(up_reader, writer, reply=True),
                return_exceptions=True,
            )
        except (OSError, TimeoutError):
            pass
        finally:
            for end in (writer, up_writer):
                if end is not None:
                    end.close()
                    self._writers.discard(end)
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

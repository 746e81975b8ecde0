"""Serving a process's HTTP (health, metrics) from its first second, while its FastStream application
starts behind it.

Uvicorn binds its socket only after the ASGI lifespan's start-up is complete, and FastStream's start-up
waits for the broker (up to ``DANBAO_BROKER_WAIT_SECONDS``): ``/health/live`` would not answer for that
long, and a Kubernetes liveness probe would kill a pod that only waits. Here the lifespan completes at
once and the application starts in a task: ``/health/live`` answers at once, ``/health/ready`` answers
503 with the reasons until the process is ready. A start-up that fails (the broker never answered) stops
the server and the process exits with status 3, as uvicorn's own start-up failure does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
import uvloop
from faststream.asgi import AsgiFastStream

log = logging.getLogger("danbao.serving")

STARTUP_FAILURE = 3


class StartBehind:
    """An ASGI app: HTTP goes to ``app`` at once; ``start`` (``app.start`` for a FastStream application) runs in
    the background, and ``stop`` at shutdown. ``app``'s own lifespan is not run."""

    def __init__(self, app: Any, name: str, start: Callable[[], Awaitable[Any]] | None = None,
                 stop: Callable[[], Awaitable[Any]] | None = None) -> None:
        self.app = app
        self.name = name
        self.start: Callable[[], Awaitable[Any]] = start or app.start
        self.stop: Callable[[], Awaitable[Any]] = stop or app.stop
        self.started = False
        self.failure: BaseException | None = None
        self.server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        else:
            await self.app(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        await receive()  # lifespan.startup
        self._task = asyncio.create_task(self._start(), name=f"{self.name}-start")
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        if not self._task.done():
            self._task.cancel()  # still waiting for the broker: stop waiting
        await asyncio.gather(self._task, return_exceptions=True)
        try:
            await self.stop()  # shutdown hooks, then the broker
        except Exception:  # noqa: BLE001 - stopping what never fully started may fail; exit anyway
            log.exception("%s: stopping after an incomplete start failed", self.name)
        await send({"type": "lifespan.shutdown.complete"})

    async def _start(self) -> None:
        try:
            await self.start()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - reported, then the process exits
            self.failure = exc
            text = str(exc) if str(exc).startswith(type(exc).__name__) else f"{type(exc).__name__}: {exc}"
            log.error("%s could not start: %s", self.name, text)
            if self.server is not None:
                self.server.should_exit = True
            return
        self.started = True


async def serve_async(front: StartBehind, host: str, port: int, **options: Any) -> StartBehind:
    config = uvicorn.Config(front, host=host, port=port, log_level="warning", lifespan="on", log_config=None, **options)
    front.server = uvicorn.Server(config)
    await front.server.serve()
    return front


def serve(app: AsgiFastStream | Any, name: str, host: str, port: int, start: Callable[[], Awaitable[Any]] | None = None,
          stop: Callable[[], Awaitable[Any]] | None = None, **options: Any) -> None:
    """Run until SIGTERM or SIGINT; exit with status 3 if the application could not start. ``options`` go to uvicorn."""
    front = uvloop.run(serve_async(StartBehind(app, name, start, stop), host, port, **options))
    if front.failure is not None:
        raise SystemExit(STARTUP_FAILURE)

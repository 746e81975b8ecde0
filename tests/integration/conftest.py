"""Integration fixtures: a real Tansu broker and the real service processes, stopped by process id."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from ops.broker import TansuBroker, create_topics
from ops.kafka import read
from ops.platform import EDGES, SERVICES, SIMULATORS, LocalPlatform
from tests.conftest import BACKENDS, SHARED_ID, create_pg_database, drop_pg_database

pytestmark = pytest.mark.integration


@asynccontextmanager
async def bare_broker(data_dir: Path, topics: list[str], partitions: int) -> AsyncIterator[TansuBroker]:
    """A broker of its own with ``topics`` and nothing else running, stopped by its process id."""
    running = TansuBroker(log_path=data_dir / "broker.log")
    running.start()
    try:
        await create_topics(running.bootstrap, topics, partitions=partitions)
        yield running
    finally:
        running.stop()


@contextmanager
def running_platform(backend: str, data_dir: Path, extra_env: dict[str, str] | None = None,
                     names: tuple[str, ...] = SERVICES + SIMULATORS) -> Iterator[LocalPlatform]:
    """The broker and every process in test mode (``names``: the services and simulators, and the web edge if
    asked for), on SQLite files or fresh PostgreSQL databases."""
    env = {"DANBAO_MODE": "test", "DANBAO_LOG_LEVEL": "INFO", **(extra_env or {})}
    databases: list[str] = []
    if backend == "postgres":
        for service in [n for n in names if n in SERVICES or n in EDGES]:
            url = asyncio.run(create_pg_database())
            databases.append(url)
            env[f"DANBAO_{service.upper()}_DATABASE_URL"] = url
    running = LocalPlatform(data_dir=data_dir, extra_env=env, names=names)
    try:
        running.start(ready_timeout=90)
        yield running
    finally:
        running.stop()
        for url in databases:
            asyncio.run(drop_pg_database(url))


# The shared platforms running in this process, by store, and the stores whose platform was stopped for good.
_SHARED: dict[str, ExitStack] = {}
_STOPPED: set[str] = set()


@pytest.fixture(scope="session", params=BACKENDS, ids=lambda store: f"{SHARED_ID}{store}")
def platform(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    """One platform per store for every module that needs no settings of its own: each test works with its own
    orders, merchants and cases, as tenants of one real platform would, so a platform start (about 15 s of ten
    processes importing and migrating on two cores) is paid once per store, not once per module. Modules that need
    other settings start their own (``running_platform``). It is stopped right after the last test that uses it
    (``pytest_runtest_teardown``), not at the end of the session."""
    store = str(request.param)
    stack = ExitStack()
    running = stack.enter_context(running_platform(store, tmp_path_factory.mktemp("platform"),
                                                   names=SERVICES + SIMULATORS + EDGES))
    _SHARED[store] = stack
    try:
        yield running
    finally:
        _stop_shared(store)


def on_shared_platform(item: pytest.Item | None) -> str | None:
    """The store of the shared platform ``item`` runs on; None when it needs none, or starts one of its module's own."""
    callspec = getattr(item, "callspec", None)
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {}).get("platform")
    if callspec is None or "platform" not in callspec.params or not definitions or definitions[-1].scope != "session":
        return None
    return str(callspec.params["platform"])


def _stop_shared(store: str) -> None:
    stack = _SHARED.pop(store, None)
    if stack is not None:
        _STOPPED.add(store)
        stack.close()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests on the shared platforms come first, one store after the other: a worker starts on them at once
    (they are the longest group), and each shared platform is started once and stopped after its last test, so it
    never runs idle beside the rest. (After pytest's own ordering, which groups tests by their fixtures' parameters.)"""
    stores = {item: on_shared_platform(item) for item in items}
    order = {store: n for n, store in enumerate(BACKENDS)}
    items[:] = sorted((item for item in items if stores[item] is not None), key=lambda item: order[stores[item]]) + [
        item for item in items if stores[item] is None]


def pytest_runtest_setup(item: pytest.Item) -> None:
    store = on_shared_platform(item)
    if store in _STOPPED:
        pytest.fail(f"the shared {store} platform was stopped before this test: the tests on it must run together")


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    store = on_shared_platform(item)
    if store is not None and on_shared_platform(nextitem) != store:
        _stop_shared(store)


class Kafka:
    """A plain Kafka client, as an outside system would use: no project code."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap

    async def send(self, topic: str, value: bytes | dict[str, Any], key: str | None = None) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap)
        await producer.start()
        try:
            body = value if isinstance(value, bytes) else json.dumps(value, ensure_ascii=False).encode()
            await producer.send_and_wait(topic, body, key=key.encode() if key else None)
        finally:
            await producer.stop()

    async def read_until(
        self, topic: str, done: Callable[[list[dict[str, Any]]], bool], timeout: float = 45.0,
    ) -> list[dict[str, Any]]:
        """Read ``topic`` from the start until ``done(messages)`` holds; returns the messages read."""
        messages: list[dict[str, Any]] = []

        async def _read() -> None:
            async for record in read(self.bootstrap, topic):
                messages.append(json.loads(record.value))
                if done(messages):
                    return

        try:
            await asyncio.wait_for(_read(), timeout)
        except TimeoutError:
            raise AssertionError(f"{topic}: condition not met in {timeout}s; read {len(messages)} messages: "
                                 + json.dumps(messages[-5:], ensure_ascii=False)[:2000]) from None
        return messages


@pytest.fixture
def kafka(platform: LocalPlatform) -> Kafka:
    assert platform.broker is not None
    return Kafka(platform.broker.bootstrap)


def of(type_: str, **data: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m.get("type") == type_ and all(m["data"].get(k) == v for k, v in data.items())


def data_dir(platform: LocalPlatform) -> Path:
    return platform.data_dir

"""Fixtures: a real redis-server per session, flushed per test; HTTP servers per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.revoker.servers import Behaviour, HTTPServer, RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(Path(tmp_path_factory.mktemp("redis")))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    assert redis_server.command("FLUSHALL") == b"+OK\r\n"
    return redis_server.url


@pytest.fixture
def http_server() -> Iterator[Callable[[Behaviour], HTTPServer]]:
    started: list[HTTPServer] = []

    def start(behaviour: Behaviour) -> HTTPServer:
        s = HTTPServer(behaviour)
        started.append(s)
        return s

    try:
        yield start
    finally:
        for s in started:
            s.close()

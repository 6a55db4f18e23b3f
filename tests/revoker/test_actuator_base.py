"""The HTTP error mapping every HTTP actuator shares (base.py), against a real local server.

An actuator's error text is the ack's ``detail`` and part of the ``revocation_failed``
alert's reason, and its ``retryable`` decides whether the revoker tries again: which
statuses are retried, what the text quotes of the reply, and what it says of a transport
error are what an operator reads when a revocation did not happen.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import pytest

from monitor.revoker.actuators.webhook import SignedWebhook
from monitor.revoker.exceptions import ActuatorError
from tests.revoker.servers import Behaviour, HTTPServer, Reply, closed_url
from tests.revoker.support import command

Start = Callable[[Behaviour], HTTPServer]


def fail(url: str, timeout: float = 2.0) -> ActuatorError:
    """The error of one webhook delivery to ``url`` (which must fail)."""

    async def go() -> None:
        act = SignedWebhook(url, "whsec-test", timeout=timeout)
        try:
            await act.apply(command())
        finally:
            await act.aclose()

    with pytest.raises(ActuatorError) as err:
        asyncio.run(go())
    return err.value


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (302, False),  # a redirect is not followed: the URL is wrong
        (400, False),
        (401, False),
        (404, False),
        (407, False),
        (408, True),  # Request Timeout: the server gave up waiting, try again
        (409, False),
        (428, False),
        (429, True),  # Too Many Requests: try again later
        (430, False),
        (499, False),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
    ],
)
def test_408_429_and_5xx_are_retried_every_other_status_is_final(
    http_server: Start, status: int, retryable: bool
) -> None:
    srv = http_server(lambda r: Reply(status, b"nope"))
    err = fail(srv.url("/soar"))
    assert err.retryable is retryable
    assert str(err) == f"webhook: HTTP {status} from {srv.url('/soar')}: nope"


def test_the_error_quotes_the_first_200_characters_of_the_reply(http_server: Start) -> None:
    """A long error page is cut to 200 characters, so a detail stays readable in an ack."""
    srv = http_server(lambda r: Reply(500, b"x" * 200 + b"TAIL" * 50, content_type="text/html"))
    assert str(fail(srv.url("/soar"))).endswith(": " + "x" * 200)


def test_the_quoted_reply_is_trimmed_of_white_space(http_server: Start) -> None:
    srv = http_server(lambda r: Reply(503, b"\n  Vault is sealed \r\n", content_type="text/plain"))
    assert str(fail(srv.url("/soar"))).endswith(f"{srv.url('/soar')}: Vault is sealed")


def test_a_transport_error_keeps_its_own_words() -> None:
    """A refused connection says so: the error's text follows its kind, retryably."""
    err = fail(closed_url("/soar"))
    assert err.retryable
    kind, _, words = str(err).removeprefix("webhook: ").partition(": ")
    assert kind == "ConnectError"
    assert words and words != "no detail"


def test_a_transport_error_without_words_says_no_detail(http_server: Start) -> None:
    """Defect fixed: httpx's timeouts carry no text, and the error read
    ``webhook: ReadTimeout: `` with nothing after the colon (the fallback tested the
    exception object, which is always true, instead of its text)."""
    srv = http_server(lambda r: Reply(202, delay=2.0))
    err = fail(srv.url("/soar"), timeout=0.2)
    assert err.retryable
    # a loaded machine may not even connect within 0.2 s: either timeout has no text
    assert re.fullmatch(r"webhook: (Connect|Read)Timeout: no detail", str(err)), str(err)

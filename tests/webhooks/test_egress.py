"""Where webhook connections are made: the dispatcher resolves a receiver's host once, through a
resolver the tests make lie, checks every address it gets, and connects to a checked address, or
fails the delivery without connecting. A loopback listener is the receiver; a recording network
backend shows every connection the dispatcher made."""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import timedelta
from typing import Any

import httpcore
import httpx
import pytest
import sqlalchemy as sa

from hotswap.container import Container, build_container
from hotswap.core.clock import ManualClock
from hotswap.core.ids import new_id
from hotswap.settings import Settings
from hotswap.webhooks.addresses import Refused
from hotswap.webhooks.dispatcher import WebhookDispatcher
from hotswap.webhooks.egress import GuardedBackend, guarded_transport
from hotswap.webhooks.tables import webhooks
from tests.conftest import START
from tests.helpers import Auth, Headers
from tests.webhooks.support import INTERNAL_SPELLINGS, ROLLBACK, log_of, queue, subscribe


class Listener:
    """A receiver on 127.0.0.1: counts connections, keeps each request's head, answers `reply`."""

    def __init__(self) -> None:
        self.connections = 0
        self.heads: list[str] = []
        self.reply = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            length = re.search(r"(?im)^content-length: *(\d+)", head)
            await reader.readexactly(int(length.group(1)) if length else 0)
            self.heads.append(head)
            writer.write(self.reply)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def header(self, name: str) -> list[str]:
        return [m.group(1) for h in self.heads for m in re.finditer(rf"(?im)^{name}: *(.*?)\r$", h)]


class Recording(httpcore.AsyncNetworkBackend):
    """The real network backend, keeping the host and port of each connection it is asked for."""

    def __init__(self) -> None:
        self.inner = httpcore.AnyIOBackend()
        self.connects: list[tuple[str, int]] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connects.append((host, port))
        return await self.inner.connect_tcp(host, port, timeout=timeout, local_address=local_address)


class Lying:
    """A resolver that answers from a script: `answers[host]`, or, when it is a list of lists, the
    next list on each call (a name that changes its answer between lookups)."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append((host, port))
        answer = self.answers[host]
        if isinstance(answer, Exception):
            raise answer
        if answer and isinstance(answer[0], list):
            return list(answer[min(len(self.calls), len(answer)) - 1])
        return list(answer)


@pytest.fixture
async def admin(auth: Auth) -> Headers:
    return await auth("admin", "ada", ttl=timedelta(days=60))


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    found = Listener()
    server = await asyncio.start_server(found.handle, "127.0.0.1", 0)
    found.port = server.sockets[0].getsockname()[1]
    async with server:
        yield found


@pytest.fixture
def network() -> Recording:
    return Recording()


@pytest.fixture
async def make(container: Container, clock: ManualClock, network: Recording) -> AsyncIterator[Any]:
    """Dispatchers that build their own guarded client, resolving with `resolver`."""
    made: list[WebhookDispatcher] = []

    def dispatcher(resolver: Any, *, allow_private: bool = False) -> WebhookDispatcher:
        egress = GuardedBackend(resolver, allow_private=allow_private, inner=network)
        made.append(WebhookDispatcher(container.uow, clock, egress=egress, metrics=container.metrics))
        return made[-1]

    yield dispatcher
    for d in made:
        await d.stop()


async def only_delivery(client: httpx.AsyncClient, admin: Headers, hook_id: str) -> dict[str, Any]:
    [delivery] = (await log_of(client, admin, hook_id))["items"]
    found: dict[str, Any] = delivery
    return found


def refusals(container: Container, kind: str) -> float:
    value = container.metrics.registry.get_sample_value("hotswap_webhook_deliveries_refused_total", {"kind": kind})
    return value or 0.0


# -- a name that resolves to an address no webhook may reach ---------------------------------


@pytest.mark.parametrize(
    ("answers", "kind", "shown"),
    [
        (["169.254.169.254"], "metadata", "169.254.169.254, a cloud metadata address"),
        (["::ffff:a9fe:a9fe"], "metadata", "::ffff:a9fe:a9fe, which is 169.254.169.254, a cloud metadata address"),
        (["64:ff9b::a9fe:a9fe"], "metadata", "64:ff9b::a9fe:a9fe, which is 169.254.169.254, a cloud metadata"),
        (["127.0.0.1"], "loopback", "127.0.0.1, a loopback address (set HOTSWAP_WEBHOOK_ALLOW_PRIVATE_NETWORKS"),
        (["93.184.215.14", "10.0.0.5"], "private", "10.0.0.5, a private address"),
        (["2606:4700::1111", "fe80::1"], "link-local", "fe80::1, a link-local address"),
        (["0.0.0.0"], "unspecified", "0.0.0.0, an unspecified address"),  # noqa: S104 - judged, not bound
    ],
)
async def test_a_name_resolving_to_an_internal_address_is_refused_without_connecting(
    client: httpx.AsyncClient,
    admin: Headers,
    container: Container,
    clock: ManualClock,
    make: Any,
    network: Recording,
    listener: Listener,
    answers: list[str],
    kind: str,
    shown: str,
) -> None:
    hook = await subscribe(client, admin, url=f"http://receiver.test:{listener.port}/hook")  # names pass
    await queue(container, ROLLBACK)
    resolver = Lying({"receiver.test": answers})
    assert await make(resolver).run_due() == 1
    delivery = await only_delivery(client, admin, hook["id"])
    assert (delivery["status"], delivery["attempts"], delivery["nextAttemptAt"]) == ("failed", 1, None)
    assert delivery["lastStatusCode"] is None
    assert delivery["lastError"].startswith(f"refused: receiver.test resolves to {shown}"), delivery["lastError"]
    assert resolver.calls == [("receiver.test", listener.port)]
    assert network.connects == []
    assert listener.connections == 0
    assert refusals(container, kind) == 1
    clock.advance(timedelta(days=1))  # refused for good: never tried again
    assert await make(resolver).run_due() == 0
    assert network.connects == []


async def test_private_networks_allowed_still_refuse_the_metadata_address(
    client: httpx.AsyncClient, admin: Headers, container: Container, make: Any, network: Recording
) -> None:
    hook = await subscribe(client, admin, url="https://receiver.test/hook")
    await queue(container, ROLLBACK)
    assert await make(Lying({"receiver.test": ["10.0.0.5", "169.254.169.254"]}), allow_private=True).run_due() == 1
    delivery = await only_delivery(client, admin, hook["id"])
    assert delivery["status"] == "failed"
    assert delivery["lastError"] == "refused: receiver.test resolves to 169.254.169.254, a cloud metadata address"
    assert network.connects == []


# -- a checked address is the one connected to ------------------------------------------------


async def test_the_checked_address_is_connected_to_with_the_names_host_header(
    client: httpx.AsyncClient,
    admin: Headers,
    container: Container,
    make: Any,
    network: Recording,
    listener: Listener,
) -> None:
    url = f"http://receiver.test:{listener.port}/hook"
    hook = await subscribe(client, admin, url=url)
    await queue(container, ROLLBACK)
    # A second lookup would answer the metadata address (DNS rebinding): there is none.
    resolver = Lying({"receiver.test": [["127.0.0.1"], ["169.254.169.254"]]})
    assert await make(resolver, allow_private=True).run_due() == 1
    delivery = await only_delivery(client, admin, hook["id"])
    assert (delivery["status"], delivery["lastStatusCode"]) == ("delivered", 204), delivery
    assert resolver.calls == [("receiver.test", listener.port)]
    assert network.connects == [("127.0.0.1", listener.port)]
    assert listener.connections == 1
    assert listener.header("host") == [f"receiver.test:{listener.port}"]
    assert listener.heads[0].startswith("POST /hook HTTP/1.1\r\n")


async def test_the_next_checked_address_is_tried_when_one_does_not_answer(
    client: httpx.AsyncClient,
    admin: Headers,
    container: Container,
    make: Any,
    network: Recording,
    listener: Listener,
) -> None:
    # Nothing listens on the first address's port on 127.0.0.2 (loopback, so no packet leaves).
    hook = await subscribe(client, admin, url=f"http://receiver.test:{listener.port}/")
    await queue(container, ROLLBACK)
    assert await make(Lying({"receiver.test": ["127.0.0.2", "127.0.0.1"]}), allow_private=True).run_due() == 1
    assert (await only_delivery(client, admin, hook["id"]))["status"] == "delivered"
    assert network.connects == [("127.0.0.2", listener.port), ("127.0.0.1", listener.port)]
    assert listener.connections == 1


async def test_a_literal_spelling_connects_to_the_address_it_was_read_as(
    client: httpx.AsyncClient,
    admin: Headers,
    container: Container,
    make: Any,
    network: Recording,
    listener: Listener,
) -> None:
    url = f"http://0x7f.1:{listener.port}/"
    await _store_hook(container, url)  # the API refuses it without private networks; stored as an older release did
    await queue(container, ROLLBACK)
    resolver = Lying({})
    assert await make(resolver, allow_private=True).run_due() == 1
    assert resolver.calls == []  # an address is not looked up
    assert network.connects == [("127.0.0.1", listener.port)]
    assert listener.header("host") == [f"0x7f.1:{listener.port}"]


@pytest.mark.parametrize("url", [*INTERNAL_SPELLINGS, "http://127.0.0.1:{port}/", "http://0x7f.1:{port}/"])
async def test_a_stored_url_the_rules_now_refuse_is_not_sent(
    client: httpx.AsyncClient,
    admin: Headers,
    container: Container,
    make: Any,
    network: Recording,
    listener: Listener,
    url: str,
) -> None:
    hook_id = await _store_hook(container, url.format(port=listener.port))
    await queue(container, ROLLBACK)
    assert await make(Lying({})).run_due() == 1
    delivery = await only_delivery(client, admin, hook_id)
    assert delivery["status"] == "failed"
    assert delivery["lastError"].startswith("refused: the URL must "), delivery["lastError"]
    assert network.connects == []
    assert listener.connections == 0


async def test_tls_is_started_with_the_urls_name_on_the_checked_address(
    client: httpx.AsyncClient, admin: Headers, container: Container, clock: ManualClock
) -> None:
    """The certificate is verified for, and SNI names, the URL's host: only the address is pinned."""
    started: list[str] = []
    connects: list[tuple[str, int]] = []

    class NoTls(httpcore.AsyncMockStream):
        async def start_tls(
            self,
            ssl_context: ssl.SSLContext,
            server_hostname: str | None = None,
            timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        ) -> httpcore.AsyncNetworkStream:
            started.append(server_hostname or "")
            raise httpcore.ConnectError("no TLS here")

    class Network(httpcore.AsyncNetworkBackend):
        async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
            connects.append((host, port))
            return NoTls([])

    hook = await subscribe(client, admin, url="https://receiver.test/hook")
    await queue(container, ROLLBACK)
    egress = GuardedBackend(Lying({"receiver.test": ["93.184.215.14"]}), allow_private=False, inner=Network())
    dispatcher = WebhookDispatcher(container.uow, clock, egress=egress)
    try:
        assert await dispatcher.run_due() == 1
    finally:
        await dispatcher.stop()
    assert connects == [("93.184.215.14", 443)]
    assert started == ["receiver.test"]
    delivery = await only_delivery(client, admin, hook["id"])
    assert (delivery["status"], delivery["lastError"]) == ("pending", "ConnectError: no TLS here")  # retried


async def test_a_redirect_to_an_internal_address_is_not_followed(
    client: httpx.AsyncClient,
    admin: Headers,
    container: Container,
    make: Any,
    network: Recording,
    listener: Listener,
) -> None:
    listener.reply = (
        b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://169.254.169.254/\r\nContent-Length: 0\r\n\r\n"
    )
    hook = await subscribe(client, admin, url=f"http://receiver.test:{listener.port}/")
    await queue(container, ROLLBACK)
    assert await make(Lying({"receiver.test": ["127.0.0.1"]}), allow_private=True).run_due() == 1
    delivery = await only_delivery(client, admin, hook["id"])
    assert (delivery["status"], delivery["lastStatusCode"]) == ("pending", 307)
    assert network.connects == [("127.0.0.1", listener.port)]


async def test_a_name_that_does_not_resolve_is_retried(
    client: httpx.AsyncClient, admin: Headers, container: Container, make: Any, network: Recording
) -> None:
    hook = await subscribe(client, admin, url="https://receiver.test/hook")
    await queue(container, ROLLBACK)
    failing = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert await make(Lying({"receiver.test": failing})).run_due() == 1
    delivery = await only_delivery(client, admin, hook["id"])
    assert delivery["status"] == "pending"
    assert delivery["lastError"].startswith("ConnectError: receiver.test does not resolve: "), delivery["lastError"]
    assert delivery["nextAttemptAt"] is not None  # the name may resolve later
    assert network.connects == []


# -- the network backend alone ----------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "::ffff:169.254.169.254",
        "::ffff:a9fe:a9fe",
        "2852039166",
        "0xa9fea9fe",
        "0251.0376.0251.0376",
        "169.254.43518",
        "64:ff9b::a9fe:a9fe",
        "0",
        "1.2.3.256",
    ],
)
async def test_the_backend_refuses_each_spelling_as_httpcore_passes_it(host: str, network: Recording) -> None:
    resolver = Lying({})
    backend = GuardedBackend(resolver, allow_private=True, inner=network)
    with pytest.raises(Refused):
        await backend.connect_tcp(host, 80, timeout=1.0)
    assert resolver.calls == []
    assert network.connects == []


async def test_the_guarded_client_sends_through_the_backend(network: Recording, listener: Listener) -> None:
    """httpx keeps no place for a network backend: the transport's pool is replaced, and this
    fails if that ever stops reaching the connections."""
    backend = GuardedBackend(Lying({"receiver.test": ["127.0.0.1"]}), allow_private=True, inner=network)
    async with httpx.AsyncClient(transport=guarded_transport(backend)) as http:
        r = await http.post(f"http://receiver.test:{listener.port}/x", content=b"{}")
    assert r.status_code == 204
    assert network.connects == [("127.0.0.1", listener.port)]


async def test_the_container_passes_the_setting_to_registration_and_dispatch(
    settings: Settings, clock: ManualClock
) -> None:
    for allowed in (False, True):
        built = build_container(settings.model_copy(update={"webhook_allow_private_networks": allowed}), clock=clock)
        try:
            assert built.webhooks.allow_private_networks is allowed
            assert built.dispatcher.egress.allow_private is allowed
            assert built.dispatcher.metrics is built.metrics
        finally:
            await built.aclose()


async def _store_hook(container: Container, url: str) -> str:
    """A subscription written past the API's checks, as rows from before a rule tightened are."""
    hook_id = new_id("wh")
    values = {
        "id": hook_id,
        "url": url,
        "secret": "s" * 32,
        "events": ["*"],
        "enabled": True,
        "created_at": START,
        "created_by": "ada",
    }
    async with container.engine.begin() as conn:
        await conn.execute(sa.insert(webhooks).values(values))
    return hook_id

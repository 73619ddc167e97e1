"""Where webhook connections are made: a host is resolved once, every address it resolves to is
judged by `addresses`, and the connection goes to one of those judged addresses.

The check lives in the network backend of the dispatcher's HTTP client (httpcore's
`connect_tcp`), the one place every connection passes, so no path around it exists: not a second
lookup that could answer differently (DNS rebinding: a name that resolves to a public address when
checked and to the metadata address when connected), not a redirect (the dispatcher follows none,
and a followed one would connect here again), not an environment proxy (the client ignores them).
httpcore still starts TLS with the URL's host name, so the certificate is verified for that name
and SNI names it, and httpx sends the URL's `Host` header: only the address is pinned.

If any address of a name is refused, the connection is refused: a receiver's name that resolves
to an internal address too is a misconfiguration or an attack, and trying the public ones first
would make the answer depend on the order the resolver chose.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence

import httpcore
import httpx

from hotswap.webhooks.addresses import IPAddress, Kind, Refused, check_address, parse_address

# host, port -> the addresses it resolves to, as text (what `getaddrinfo` answers).
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    """The system's resolver (`getaddrinfo`, off the event loop), each address once, in its order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that connects only to addresses the policy allows, and to the
    very addresses it checked. `inner` makes the connections (tests pass one that records them)."""

    def __init__(
        self, resolver: Resolver, *, allow_private: bool, inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self.resolver = resolver
        self.allow_private = allow_private
        self.inner = inner or httpcore.AnyIOBackend()

    async def addresses(self, host: str, port: int) -> list[IPAddress]:
        """The addresses to connect to for `host`, each checked; `Refused` if any is refused."""
        literal = parse_address(host)  # raises Refused for a numeric host that is no address
        if literal is not None:
            check_address(literal, allow_private=self.allow_private, spelled=host)
            return [literal]
        try:
            answers = await self.resolver(host, port)
        except OSError as exc:  # the name does not resolve (now): a connection error, retried
            raise httpcore.ConnectError(f"{host} does not resolve: {exc}") from exc
        if not answers:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        found = []
        for answer in answers:
            try:
                address = ipaddress.ip_address(answer)
            except ValueError:
                raise Refused(f"{host} resolves to {answer!r}, not an address", Kind.INVALID) from None
            try:
                check_address(address, allow_private=self.allow_private)
            except Refused as exc:
                raise Refused(f"{host} resolves to {exc}", exc.kind) from None
            found.append(address)
        return found

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self.addresses(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"{host} did not resolve within {timeout:g} s") from exc
        failure: httpcore.ConnectError | None = None
        for address in addresses:  # in the resolver's order, as a plain connect would try them
            try:
                return await self.inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except httpcore.ConnectError as exc:
                failure = exc
        assert failure is not None  # `addresses` is never empty
        raise failure

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def guarded_transport(backend: GuardedBackend) -> httpx.AsyncHTTPTransport:
    """httpx's own transport, its connection pool built on `backend`. httpx takes no network
    backend of its own, so the pool it builds is replaced by one like it (the same TLS context
    and limits) on `backend`; the tests that connect through it fail if that ever stops holding."""
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)
    transport = httpx.AsyncHTTPTransport(trust_env=False, limits=limits)
    if not isinstance(getattr(transport, "_pool", None), httpcore.AsyncConnectionPool):
        raise RuntimeError("this httpx keeps its connection pool elsewhere; the webhook address guard needs it")
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(),  # as httpx's default: SSL_CERT_FILE and SSL_CERT_DIR apply
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=backend,
    )
    return transport

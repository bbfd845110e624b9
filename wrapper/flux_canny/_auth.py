"""The x-key header, sent only where it belongs.

The key goes to the configured API host and to trusted hosts (https only); never to a
delivery host, a webhook, or a polling URL someone slipped us. Deciding per request in
an httpx.Auth keeps that rule in one place for every request either client makes.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from collections.abc import Generator, Iterable
from typing import TypeVar

import httpx

from .errors import REDACTED, ConfigurationError, redact_bytes

DEFAULT_TRUSTED_HOSTS = ("*.bfl.ai",)

E = TypeVar("E", bound=BaseException)


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost: the only places the key may go in clear."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _port(url: httpx.URL) -> int | None:
    return url.port if url.port is not None else _DEFAULT_PORTS.get(url.scheme)


_DEFAULT_PORTS = {"http": 80, "https": 443}


class HostPolicy:
    """Which URLs may see the API key: the configured API origin (scheme, host and port),
    and https on port 443 of the trusted host patterns. Nothing else, on any hop."""

    def __init__(
        self,
        base_url: httpx.URL,
        trusted_hosts: Iterable[str],
        servers: Iterable[httpx.URL] = (),
    ) -> None:
        """`servers`: the spec's own API origins, which operations are sent to when no base
        URL is configured; each is trusted as the base URL is, whatever `trusted_hosts`."""
        self.base_host = base_url.host.lower()
        self.base_scheme = base_url.scheme
        self.base_port = _port(base_url)
        self.origins = frozenset((u.host.lower(), u.scheme, _port(u)) for u in (base_url, *servers))
        self.patterns = _patterns(trusted_hosts)

    def is_trusted(self, url: httpx.URL) -> bool:
        host = url.host.lower()
        if (host, url.scheme, _port(url)) in self.origins:
            return True
        if url.scheme != "https" or _port(url) != 443:
            return False
        return any(
            fnmatch.fnmatchcase(host, p) or host == p.removeprefix("*.") for p in self.patterns
        )


def _patterns(trusted_hosts: Iterable[str]) -> tuple[str, ...]:
    """Host names, or `*.` and a domain of at least two labels. A string given for the
    list was read a character at a time, and "*.example.com" then held "*", which trusts
    every https host with the key; so is a bare "*" or "*.com" refused."""
    if isinstance(trusted_hosts, str | bytes):
        raise ConfigurationError(
            f"trusted_hosts must be a list of host patterns such as ['*.bfl.ai'], not the "
            f"string {trusted_hosts!r}"
        )
    patterns = []
    for pattern in trusted_hosts:
        name = pattern.lower() if isinstance(pattern, str) else ""
        domain = name.removeprefix("*.")
        labels = domain.split(".")
        if (
            not all(labels)
            or any(c in domain for c in "*?[]/:@ ")
            or (name != domain and len(labels) < 2)
        ):
            raise ConfigurationError(
                f"trusted host {pattern!r} must be a host name, or '*.' and a domain such as "
                "'*.bfl.ai' (the key goes to every host it matches)"
            )
        patterns.append(name)
    return tuple(patterns)


class _Keyless(httpx.Auth):
    """No API key header on a request, whatever the httpx client adds: a client passed
    in with `headers={"x-key": ...}` (as BFL's examples build one) sent it to the
    delivery host with every image download."""

    def __init__(self, header: str) -> None:
        self._header = header

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.pop(self._header, None)
        yield request


class KeyAuth(httpx.Auth):
    """Adds the API key header to requests for trusted URLs only."""

    def __init__(self, key: str, header: str, hosts: HostPolicy) -> None:
        self._key = key
        self._header = header
        self._hosts = hosts
        #: for the requests that carry no key on any host (image downloads)
        self.keyless: httpx.Auth = _Keyless(header)

    def __repr__(self) -> str:
        return f"KeyAuth(header={self._header!r}, key='***')"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._hosts.is_trusted(request.url):
            request.headers[self._header] = self._key
        else:
            request.headers.pop(self._header, None)
        yield request

    def scrubbed(self, response: httpx.Response) -> httpx.Response:
        """A read answer to a request that carried the key, with the key taken out of its
        bytes before anything parses them: a server that echoes it (in a 422's detail, a
        task's error text, even an id) leaves it in no result, error, log or ledger."""
        if self._header in response.request.headers:
            response._content = redact_bytes(response.content)
        return response

    def disarmed(self, error: E) -> E:
        """`error` (an httpx failure) with the key masked in every request it or its
        causes hold: httpx masks only Authorization in a request's repr, and these become
        the cause of the typed error the caller catches."""
        seen: set[int] = set()
        links: list[BaseException | None] = [error]
        while links:
            link = links.pop()
            if link is None or id(link) in seen:
                continue
            seen.add(id(link))
            request = getattr(link, "_request", None)  # httpx.RequestError's, maybe unset
            if isinstance(request, httpx.Request) and self._header in request.headers:
                request.headers[self._header] = REDACTED
            links += [link.__cause__, link.__context__]
        return error

"""What FluxCanny and AsyncFluxCanny share: settings, the key, and the flows' Core.

The faces differ only in how they perform an effect; everything else is built here once.
"""

from __future__ import annotations

import functools
import os
import re
import ssl
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import httpx

from ._auth import DEFAULT_TRUSTED_HOSTS, HostPolicy, KeyAuth, is_loopback
from ._checks import check_flag, check_number
from ._flow import Core
from ._operations import CANNY, operations, origin
from ._params import PrepareCalls
from ._spec import packaged_spec
from ._wire import SubmitBody
from .clock import Clock, SystemClock
from .conformance import CHECK_RESPONSES_ENV
from .errors import ClientClosedError, ConfigurationError, MissingAPIKeyError, keep_secret
from .ledger import Ledger
from .policy import DurationModel, PollPolicy, RetryPolicy
from .validation import validate_inputs

if TYPE_CHECKING:
    from .conformance import ConformanceReport, ResponseChecker

DEFAULT_BASE_URL = "https://api.us1.bfl.ai"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0, write=120.0)
API_KEY_ENV = "BFL_API_KEY"
BASE_URL_ENV = "BFL_BASE_URL"
_KEY_SHAPE = re.compile(r"^[\x21-\x7e]+$")

HttpT = TypeVar("HttpT", httpx.Client, httpx.AsyncClient)


def shared_tls() -> ssl.SSLContext:
    """One TLS context per process (per SSL_CERT_FILE / SSL_CERT_DIR, which httpx honours
    and so does this): making one loads the CA bundle, 20-50 ms for every client built."""
    return _tls_for(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.cache
def _tls_for(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    return httpx.create_ssl_context(trust_env=True)


def wanted_from_env() -> bool:
    """Live conformance asked for by the environment (FLUX_CANNY_CHECK_RESPONSES=1)."""
    return os.environ.get(CHECK_RESPONSES_ENV, "").strip().lower() in ("1", "true", "yes", "on")


@functools.cache
def _checker() -> ResponseChecker:
    from .conformance import ResponseChecker  # jsonschema: the [conformance] extra

    return ResponseChecker(packaged_spec())


def _ledger(choice: Ledger | str | os.PathLike[str] | bool | None) -> Ledger | None:
    if choice is False:
        return None
    if choice is None or choice is True:
        return Ledger()
    if isinstance(choice, Ledger):
        return choice
    if not isinstance(choice, str | os.PathLike):
        raise ConfigurationError(
            "ledger must be a path, a Ledger, None or True (the default ledger) or False "
            f"(record nothing), got {choice!r}"
        )
    return Ledger(choice)


def _check_limits(
    timeout: httpx.Timeout | float | None,
    wait_timeout: float | None,
    max_download_bytes: int,
    download_deadline: float,
) -> None:
    """Refused here, not mid-request: a negative timeout surfaced as an httpx error at the
    first request, a NaN wait as a wait that never ended."""
    if timeout is not None and not isinstance(timeout, httpx.Timeout):
        check_number("timeout", timeout, above=True)
    if wait_timeout is not None:
        check_number("wait_timeout", wait_timeout)
    check_number("max_download_bytes", max_download_bytes, above=True, integer=True)
    check_number("download_deadline", download_deadline, above=True)


def resolve_key(api_key: str | None) -> str:
    if api_key is not None and not isinstance(api_key, str):  # named by its type, never shown
        raise MissingAPIKeyError(f"api_key must be a str, got {type(api_key).__name__}")
    key = (api_key if api_key is not None else os.environ.get(API_KEY_ENV, "")).strip()
    if not key:
        raise MissingAPIKeyError(f"no API key: pass api_key=... or set {API_KEY_ENV}")
    if not _KEY_SHAPE.match(key):
        raise MissingAPIKeyError("the API key contains spaces or control characters; check it")
    keep_secret(key)  # from here on, no message, log line or ledger text shows it
    return key


#: plain http never goes through a proxy (HTTP_PROXY, ALL_PROXY): a proxy for http reads
#: the request, key and all; and plain http is only ever to this machine. https keeps the
#: environment's proxies, which see only the tunnel (CONNECT).
_DIRECT_HTTP = {"http://": None}
_PROXY_VARIABLES = ("ALL_PROXY", "HTTPS_PROXY", "HTTP_PROXY")


def _socks_variables() -> list[str]:
    """The proxy variables set to a SOCKS proxy, named, never shown (they may hold a
    password)."""
    return [
        name
        for upper in _PROXY_VARIABLES
        for name in (upper, upper.lower())
        if os.environ.get(name, "").lower().startswith("socks")
    ]


def _proxied(http: httpx.Client | httpx.AsyncClient, url: httpx.URL) -> bool:
    """Whether `http` would send requests for `url` through a proxy rather than its own
    transport (httpx's choice, read where httpx keeps it)."""
    choose = getattr(http, "_transport_for_url", None)
    return choose is not None and choose(url) is not getattr(http, "_transport", None)


class ClientBase(PrepareCalls, Generic[HttpT]):
    """Settings shared by both faces. Subclasses provide the httpx client and the I/O."""

    _http: HttpT
    #: the face's httpx client class
    _http_class: type[HttpT]

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: httpx.Timeout | float | None = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        poll: PollPolicy | None = None,
        trusted_hosts: Iterable[str] = DEFAULT_TRUSTED_HOSTS,
        wait_timeout: float | None = 600.0,
        validate: bool = True,
        transport: Any = None,
        http_client: HttpT | None = None,
        clock: Clock | None = None,
        check_responses: bool | None = None,
        ledger: Ledger | str | os.PathLike[str] | bool | None = None,
        max_download_bytes: int = 128 << 20,
        download_deadline: float = 300.0,
    ) -> None:
        """`ledger`: where every submit is written down before it is sent (see
        `flux_canny.ledger`). The default is the user's ledger in FLUX_CANNY_STATE_DIR or the
        platform's state folder; a path or a Ledger chooses another; False records nothing.

        `max_download_bytes` (decompressed) and `download_deadline` (seconds, however steadily
        the bytes come) bound what an image download may cost; API answers have their own
        bounds (8 MiB, 120 s)."""
        source = "base_url"
        #: none configured: each operation goes to its spec entry's server
        routed = base_url is None and not os.environ.get(BASE_URL_ENV)
        if base_url is None:  # like the CLI: the environment, then BFL's US cluster
            base_url = os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
            source = BASE_URL_ENV if os.environ.get(BASE_URL_ENV) else source
        if not isinstance(base_url, str | httpx.URL):
            raise ConfigurationError(f"{source} must be a str, got {base_url!r:.80}")
        try:
            url = httpx.URL(base_url)
        except httpx.InvalidURL as error:
            raise ConfigurationError(f"{source} {base_url!r} is not a URL: {error}") from error
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigurationError(
                f"{source} must be an http(s) URL such as {DEFAULT_BASE_URL}, got {base_url!r}"
            )
        if url.scheme == "http" and not is_loopback(url.host):
            raise ConfigurationError(
                f"refusing to send the API key in clear text to {url.host}: use https "
                "(plain http is allowed only to this machine, e.g. the mock-server)"
            )
        _check_limits(timeout, wait_timeout, max_download_bytes, download_deadline)
        check_flag("validate", validate)
        check_flag("check_responses", check_responses)
        servers = [httpx.URL(origin(op)) for op in operations().values()] if routed else []
        hosts = HostPolicy(url, trusted_hosts, servers)
        auth = KeyAuth(resolve_key(api_key), packaged_spec().security_header(), hosts)
        self._owns_http = http_client is None
        self._transport, self._timeout = transport, timeout
        if http_client is not None and url.scheme == "http" and _proxied(http_client, url):
            raise ConfigurationError(
                f"the http_client given would send requests for {url.host} through a proxy, "
                "and plain http would show it the API key: use a client without a proxy for "
                "http:// (mounts={'http://': None}), or https"
            )
        self._http = http_client if http_client is not None else self._new_http()
        self._closed = False
        if check_responses is None:
            check_responses = wanted_from_env()
        #: deviations of the live API from its spec (None unless check_responses is on)
        self.conformance: ConformanceReport | None = None
        if check_responses:
            from .conformance import ConformanceReport

            self.conformance = ConformanceReport()
        self._core = Core(
            base_url=url,
            hosts=hosts,
            clock=clock or SystemClock(),
            retry=retry or RetryPolicy(),
            poll=poll or PollPolicy(),
            durations=DurationModel(),
            validate=validate,
            wait_timeout=wait_timeout,
            responses=_checker() if check_responses else None,
            report=self.conformance,
            ledger=_ledger(ledger),
            max_download_bytes=max_download_bytes,
            download_deadline=download_deadline,
            routed=routed,
        )
        self._owns_ledger = not isinstance(ledger, Ledger)
        self._auth = auth  # sent per request: a client passed in is used, not altered
        #: async submits that run shielded from cancellation (see AsyncFluxCanny.aclose)
        self._submits_in_flight: set[Any] = set()

    def _prepare(self, endpoint: str, validate: bool | None, fields: dict[str, Any]) -> SubmitBody:
        """Validate the fields of `endpoint`'s request and encode its images, with no
        network call: bad input fails here, before anything could be paid for."""
        return self._core.build_body(endpoint, fields, validate)

    if not TYPE_CHECKING:  # typed per endpoint by PrepareCalls' overloads

        def prepare(
            self, *, endpoint: str = CANNY, validate: bool | None = None, **fields: Any
        ) -> SubmitBody:
            """Validate the fields and encode the images, with no network call: bad input
            fails here, before anything could be paid for. Send it with `submit_prepared`."""
            return self._prepare(endpoint, validate, fields)

    @staticmethod
    def validate_inputs(body: Mapping[str, Any], endpoint: str = CANNY) -> list[Any]:
        """The errors the server would answer for this request body of `endpoint`
        (`flux_canny.validate_inputs`); no network call."""
        return validate_inputs(body, endpoint)

    @property
    def ledger(self) -> Ledger | None:
        """The ledger this client writes every submit to (None when turned off)."""
        return self._core.ledger

    def _close_ledger(self) -> None:
        if self._owns_ledger and self._core.ledger is not None:
            self._core.ledger.close()

    def _new_http(self) -> HttpT:
        """The face's own httpx client: plain http straight to its host, https through the
        environment's proxy if one is set."""
        try:
            return self._http_class(
                transport=self._transport,
                timeout=self._timeout,
                verify=shared_tls(),
                mounts=_DIRECT_HTTP,
            )
        except ImportError as error:  # httpx: a SOCKS proxy, and no socksio to speak it
            named = " / ".join(_socks_variables()) or "a proxy variable"
            raise ConfigurationError(
                f"{named} names a SOCKS proxy, which needs the socksio package: "
                "pip install 'httpx[socks]', or unset it"
            ) from error

    def _check_open(self) -> None:
        """Refuse a call on a closed client before anything is written or sent (httpx
        raised a bare RuntimeError mid-call, after the ledger's write-ahead)."""
        if self._closed:
            raise ClientClosedError(
                f"this {type(self).__name__} is closed; nothing was sent. Make a new one "
                "(or use it in a `with` block that ends after its last call)"
            )
        if self._http.is_closed:
            raise ClientClosedError(
                f"the http_client this {type(self).__name__} was given is closed; nothing "
                "was sent. Pass one that is open"
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={str(self._core.base_url)!r})"

    @property
    def durations(self) -> DurationModel:
        """Task durations this client has seen; the poll schedule learns from them."""
        return self._core.durations

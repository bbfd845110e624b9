"""Command-line options: the request's from the spec, the connection's from the user.

Every request parameter flag is made from the endpoint's request schema (name, type,
enum, bounds, default and description), so a new spec re-aims the CLI as it re-aims the
client. Image inputs are options named after their fields (`--input-image-2`, `--mask`);
only the canny finetune's control image is special: it is the positional argument.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import functools
import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import click

from .._base import API_KEY_ENV, BASE_URL_ENV, DEFAULT_BASE_URL, resolve_key
from .._operations import CANNY, operation
from .._spec import Spec, packaged_spec
from ..aclient import AsyncFluxCanny
from ..client import FluxCanny
from ..errors import ConfigurationError, MissingAPIKeyError
from ._exit import BadInput

__all__ = [
    "BASE_URL_ENV",
    "IMAGE_FIELD",
    "ApiSettings",
    "api_options",
    "make_async_client",
    "make_client",
    "request_fields",
    "request_params",
]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


IMAGE_FIELD = "control_image"
#: extra constructor arguments for the clients the commands build (see wired_to)
_client_options: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "flux_canny_cli_client_options", default=types.MappingProxyType({})
)


@contextlib.contextmanager
def wired_to(**options: Any) -> Iterator[None]:
    """Build the commands' clients with these extra arguments (a transport, a clock): how
    tests, and programs that embed the CLI, point it at a fake. Scoped to this context."""
    token = _client_options.set(dict(options))
    try:
        yield
    finally:
        _client_options.reset(token)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _variants(spec: Spec, prop: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    branches = prop.get("anyOf") or prop.get("oneOf") or [prop]
    return [spec.resolve(b) for b in branches if spec.resolve(b).get("type") != "null"]


def _number(value: float | None, kind: str | None) -> str:
    if value is None:
        return "…"
    return str(int(value)) if kind == "integer" else f"{value:g}"


def _describe(spec: Spec, prop: Mapping[str, Any]) -> tuple[Any, str]:
    """The click type and the help suffix (range, choices, default) of one property."""
    variants = _variants(spec, prop)
    main = variants[0] if variants else {}
    kind = main.get("type")
    notes = []
    if "enum" in main:
        click_type: Any = click.Choice([str(v) for v in main["enum"]])
    elif kind == "integer":
        click_type = click.INT
    elif kind == "number":
        click_type = click.FLOAT
    else:
        click_type = click.STRING
    low, high = main.get("minimum"), main.get("maximum")
    if low is not None or high is not None:
        notes.append(f"{_number(low, kind)}–{_number(high, kind)}")
    if "default" in prop:
        default = prop["default"]
        notes.append(f"default: {str(default).lower() if isinstance(default, bool) else default}")
    return click_type, f" [{'; '.join(notes)}]" if notes else ""


def request_fields(spec: Spec | None = None, endpoint: str = CANNY) -> dict[str, Mapping[str, Any]]:
    """`endpoint`'s request properties, except the canny finetune's control image (its
    positional argument)."""
    spec = spec or packaged_spec()
    op = operation(endpoint)
    props = spec.request_schema(op.path, op.method).get("properties", {})
    return {name: prop for name, prop in props.items() if name != IMAGE_FIELD}


def _help_of(name: str, prop: Mapping[str, Any]) -> str:
    return " ".join(str(prop.get("description", prop.get("title", name))).split())


def _image_option(name: str, prop: Mapping[str, Any], *, required: bool, url: bool) -> click.Option:
    """An image input as an option named after its field: a file, - for stdin, a URL where
    the spec takes one (the spec's own words follow, for what the field is for)."""
    takes = "An image file (PNG, JPEG or WebP), - for stdin" + (", or an https URL" if url else "")
    return click.Option(
        [_flag(name), name],
        type=click.STRING,
        required=required,
        metavar="IMAGE",
        help=f"{takes}. {_help_of(name, prop)}",
    )


def _option(spec: Spec, name: str, prop: Mapping[str, Any], *, required: bool) -> click.Option:
    variants = _variants(spec, prop)
    if variants and variants[0].get("type") == "boolean":
        default_said = f" [default: {str(prop['default']).lower()}]" if "default" in prop else ""
        return click.Option(
            [f"{_flag(name)}/--no-{name.replace('_', '-')}", name],
            default=None,
            help=_help_of(name, prop) + default_said,
        )
    click_type, suffix = _describe(spec, prop)
    # no default at all for a required option: click 8.2+ counts an explicit None as one,
    # and would then let the option be left out
    default: dict[str, Any] = {} if required else {"default": None}
    return click.Option(
        [_flag(name), name],
        type=click_type,
        required=required,
        help=_help_of(name, prop) + suffix,
        **default,
    )


@functools.cache
def request_params(endpoint: str = CANNY) -> tuple[click.Option, ...]:
    """One option per request field of `endpoint` (its image inputs included, the canny
    finetune's control image aside), in the spec's order; their values arrive by field
    name, None for those not given."""
    spec = packaged_spec()
    op = operation(endpoint)
    made = []
    for name, prop in request_fields(spec, endpoint).items():
        required = name in op.required
        if name in op.image_fields:
            made.append(_image_option(name, prop, required=required, url=name in op.url_fields))
        else:
            made.append(_option(spec, name, prop, required=required))
    return tuple(made)


def collect_params(values: Mapping[str, Any], endpoint: str = CANNY) -> dict[str, Any]:
    """The request parameters the user set, by their spec names."""
    fields = request_fields(endpoint=endpoint)
    return {name: value for name, value in values.items() if name in fields and value is not None}


class ApiSettings:
    """Where to send requests and with which key, from flags or the environment."""

    def __init__(self, api_key: str | None, base_url: str | None, debug: bool) -> None:
        self.api_key = api_key
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        #: the user named an API root (flag or environment): every endpoint goes there;
        #: else each goes to the server its spec entry names, as the library routes it
        self.configured = bool(base_url)
        self.debug = debug

    def at(self, base_url: str) -> ApiSettings:
        """The same key and debug, with every request to `base_url`."""
        return ApiSettings(self.api_key, base_url, self.debug)

    def key(self) -> str:
        try:
            return resolve_key(self.api_key)
        except MissingAPIKeyError as error:
            if "spaces" in str(error):
                raise
            raise MissingAPIKeyError(f"no API key: set {API_KEY_ENV} or pass --api-key") from None


def api_options(func: F) -> F:
    """--api-key, --base-url and --debug, each also from the environment."""
    func = click.option(
        "--debug", is_flag=True, help="Show tracebacks and log every request on stderr."
    )(func)
    func = click.option(
        "--base-url",
        envvar=BASE_URL_ENV,
        show_envvar=True,
        default=None,
        help="API root for every endpoint [default: the server each endpoint's spec entry "
        f"names: {DEFAULT_BASE_URL} for the finetunes, https://api.bfl.ai for the others].",
    )(func)
    func = click.option(
        "--api-key",
        envvar=API_KEY_ENV,
        show_envvar=True,
        default=None,
        help="BFL API key (prefer the environment variable: flags show up in `ps`).",
    )(func)
    return func


def settings_from(values: dict[str, Any]) -> ApiSettings:
    """Pop the api_options values out of a command's keyword arguments."""
    return ApiSettings(
        values.pop("api_key", None), values.pop("base_url", None), values.pop("debug", False)
    )


def _client_kwargs(settings: ApiSettings, options: Mapping[str, Any]) -> dict[str, Any]:
    options = dict(options)
    wait = options.get("wait_timeout")
    if wait is not None:  # --timeout bounds the download too, not only the wait
        options.setdefault("download_deadline", min(300.0, float(wait)))
    return {
        "api_key": settings.key(),
        "base_url": settings.base_url if settings.configured else None,
        **options,
        **_client_options.get(),
    }


def make_client(settings: ApiSettings, **options: Any) -> FluxCanny:
    with _settings_named():
        return FluxCanny(**_client_kwargs(settings, options))


def make_async_client(settings: ApiSettings, **options: Any) -> AsyncFluxCanny:
    with _settings_named():
        return AsyncFluxCanny(**_client_kwargs(settings, options))


@contextlib.contextmanager
def _settings_named() -> Iterator[None]:
    """A setting the client refuses is named as the user gave it: the flag or variable."""
    try:
        yield
    except ConfigurationError as error:
        said = str(error).replace("base_url", f"--base-url / {BASE_URL_ENV}", 1)
        raise ConfigurationError(said) from error


#: --port of the commands that listen on this machine (mock-server, webhook-listen)
port_option = click.option(
    "--port", type=click.IntRange(0, 65535), default=0, help="Port [default: a free one]."
)


def bind(make: Callable[[], T], port: int) -> T:
    """Make a listening server; a port in use is bad input naming the port."""
    try:
        return make()
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise BadInput(f"port {port} is already in use; pick another with --port") from None
        raise

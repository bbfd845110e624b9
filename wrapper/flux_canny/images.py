"""Input images in (the canny finetune's control image, and every other endpoint's image
fields), generated images out. Every message about an input names the field it was given
for (`field`, "control_image" by default), never another's.

Incoming PNG, JPEG and WebP bytes are checked structurally (signature, dimensions,
complete chunk/segment layout) but never decoded or re-encoded: the server receives the
user's exact bytes, and a 24-megapixel file costs little more than its base64. PIL images
and numpy arrays are encoded once, as PNG.
"""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import io
import logging
import os
import stat
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import attrs

from ._files import TEMP_NAME_EXTRA, write_atomic
from ._image_formats import (
    MAX_PIXELS,
    ImageInfo,
    advise,
    image_label,
    inspect_image,
    sniff_format,
)
from .errors import (
    ConfigurationError,
    FluxCannyError,
    ImageDecodeError,
    ImageExistsError,
    ImageInputError,
    ImageSaveError,
    InvalidArgumentError,
)

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "MAX_PIXELS",
    "TEMP_NAME_EXTRA",
    "CheckedImageFile",
    "GeneratedImage",
    "ImageInfo",
    "base64_control_image",
    "check_image_file",
    "encode_control_image",
    "inspect_image",
    "read_image_file",
    "sniff_format",
    "write_atomic",
]

#: BFL's documented input limits (its official SDK checks them before sending): at most
#: 20 MB of base64, at most 20 megapixels, at least 256 px a side. Over the base64 limit
#: the request cannot succeed, so it is an error here; what the server does with other
#: sizes is not documented, so those are a warning.
BFL_MAX_BASE64 = 20_000_000
#: the most a control image file may hold: its base64 must fit BFL_MAX_BASE64
MAX_CONTROL_BYTES = BFL_MAX_BASE64 * 3 // 4
log = logging.getLogger("flux_canny")
_MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def _from_base64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def read_image_file(path: Path, *, field: str = "control_image") -> bytes:
    """The file's bytes, or an ImageInputError that names the problem (and `field`).

    Only a regular file of at most MAX_CONTROL_BYTES is read: a FIFO or /dev/zero would
    otherwise be read forever, and a 10 GB file into memory."""
    what = image_label(field)
    try:
        # stat before open: opening a FIFO blocks until someone writes to it
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            raise ImageInputError(f"{what} path is {kind}: {path}")
        with open(path, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):  # swapped meanwhile
                raise ImageInputError(f"{what} path is not a regular file: {path}")
            return _capped(handle.read(MAX_CONTROL_BYTES + 1), str(path), what)
    except FileNotFoundError:
        raise ImageInputError(f"{what} file not found: {path}") from None
    except IsADirectoryError:
        raise ImageInputError(f"{what} path is a directory: {path}") from None
    except OSError as exc:
        raise ImageInputError(f"cannot read {what} {path}: {exc.strerror}") from None
    except ValueError as exc:  # a NUL in the path
        raise ImageInputError(f"{what} path {str(path)!r} is not usable: {exc}") from None


@attrs.frozen
class CheckedImageFile:
    """A control image file already checked (a batch checks every job's before the first
    submit): read again when sent, and checked again only if it changed meanwhile, so a
    batch walks each image's chunks and CRCs once, not twice."""

    path: Path
    size: int
    mtime_ns: int
    info: ImageInfo

    def read(self) -> tuple[bytes, bool]:
        """The bytes, and whether they are still the ones checked (same size and mtime)."""
        try:
            with open(self.path, "rb") as handle:
                now = os.fstat(handle.fileno())
                data = _capped(handle.read(MAX_CONTROL_BYTES + 1), str(self.path), "control image")
        except OSError as exc:
            raise ImageInputError(
                f"cannot read control image {self.path}: {exc.strerror}"
            ) from None
        same = now.st_size == self.size == len(data) and now.st_mtime_ns == self.mtime_ns
        return data, same


def check_image_file(path: Path, *, advice: bool = True) -> tuple[CheckedImageFile, bytes]:
    """Read and check a control image file once; the bytes are for a caller's hash.
    `advice=False` when the caller has already advised on this file (a batch whose jobs
    share one control image logs its size advice once, not once a job)."""
    data = read_image_file(path)
    info = inspect_image(data)
    if advice:
        advise(info)
    stat_now = os.stat(path)
    checked = CheckedImageFile(Path(path), len(data), stat_now.st_mtime_ns, info)
    return checked, data


def _capped(data: bytes, where: str, what: str) -> bytes:
    if len(data) > MAX_CONTROL_BYTES:
        raise ImageInputError(
            f"the {what} {where} is larger than {MAX_CONTROL_BYTES >> 20} MiB; BFL "
            f"accepts at most {BFL_MAX_BASE64 // 1_000_000} MB of base64: downscale or "
            "recompress it"
        )
    return data


def _encode_pil(image: Image.Image, what: str) -> bytes:
    if image.mode not in ("1", "L", "LA", "RGB", "RGBA", "I;16", "P"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    buffer = io.BytesIO()
    try:
        image.save(buffer, format="PNG")
    except (OSError, ValueError) as exc:
        raise ImageInputError(f"cannot encode the PIL {what} as PNG: {exc}") from None
    return buffer.getvalue()


_PILLOW_HINT = "pip install 'flux-canny[images]'"


def _pillow(needed_for: str, error: type[FluxCannyError]) -> Any:
    """Pillow, loaded when first needed (the [images] extra), or `error` saying so."""
    try:
        from PIL import Image
    except ImportError:
        raise error(
            f"{needed_for} needs Pillow, which comes with the [images] extra: {_PILLOW_HINT}"
        ) from None
    return Image


def _encode_array(array: Any, what: str) -> bytes:
    Image = _pillow(f"a numpy {what} (encoded once as PNG)", ImageInputError)

    if array.dtype.name != "uint8":
        raise ImageInputError(
            f"a numpy {what} must be uint8, got {array.dtype.name}; "
            "scale to 0-255 and use .astype('uint8')"
        )
    shape = tuple(array.shape)
    if len(shape) == 3 and shape[2] == 1:
        array = array[:, :, 0]
        shape = shape[:2]
    if not (len(shape) == 2 or (len(shape) == 3 and shape[2] in (3, 4))) or 0 in shape:
        raise ImageInputError(
            f"numpy {what} has shape {shape}; expected (H, W), (H, W, 3) or (H, W, 4)"
        )
    return _encode_pil(Image.fromarray(array), what)


def _to_bytes(image: Any, field: str) -> bytes | str:
    """Bytes of an image file, or an already-base64 string (returned as str)."""
    what = image_label(field)
    if isinstance(image, bytes | bytearray | memoryview):
        return bytes(image)
    if isinstance(image, os.PathLike):
        return read_image_file(Path(image), field=field)
    if isinstance(image, str):
        if image.startswith("data:"):
            header, sep, payload = image.partition(",")
            if not sep or ";base64" not in header:
                raise ImageInputError(f"{what} data URI must be base64 (data:image/...;base64,...)")
            return payload
        if image[:8].lower().startswith(("http://", "https://")):
            # read as a path, it was "file not found: https:/host/...": an address is
            # sent as it is only where the spec takes one (an https URL), never fetched
            raise ImageInputError(
                f"the {what} is a web address ({image!r:.80}); give the image itself "
                "(a path, bytes, a file object, a PIL image, a numpy array, base64 or a data "
                "URI): an https address is passed on only to fields whose spec takes one"
            )
        if len(image) < 4096 and (os.sep in image or "." in image[-6:]):
            # a path, unless it is an image's base64: "/data/edges" decodes as base64 too,
            # and sent as such it was refused as "not a PNG" instead of "not found"
            decoded = _from_base64(image)
            if decoded is None or sniff_format(decoded) is None:
                return read_image_file(Path(image), field=field)
        if len(image) < 4096 and Path(image).is_file():
            return read_image_file(Path(image), field=field)
        return image
    if hasattr(image, "read"):
        return _read_file(image, what)
    module = type(image).__module__
    if module.startswith("PIL."):
        return _encode_pil(image, what)
    if module == "numpy" and hasattr(image, "dtype"):
        return _encode_array(image, what)
    raise ImageInputError(
        f"unsupported {what} type {type(image).__name__}: pass a path, bytes, a binary "
        "file object, a PIL image, a numpy array, or a base64 string / data URI"
    )


def _read_file(handle: IO[Any], what: str) -> bytes:
    """A file object's bytes. A closed file (ValueError) or a `read` that takes no size
    (TypeError) failed as such, raw, through every image field."""
    try:
        data = handle.read(MAX_CONTROL_BYTES + 1)
    except (OSError, ValueError, TypeError) as exc:
        raise ImageInputError(f"cannot read the {what} file object: {exc}") from None
    if isinstance(data, str):
        raise ImageInputError(f"the {what} file was opened in text mode; open it with 'rb'")
    return _capped(bytes(data), "file object", what)


def encode_control_image(image: Any, *, field: str = "control_image") -> str:
    """The base64 string the API wants, after checking that it holds a real image.

    Accepts a path, bytes, a binary file object, a PIL image, a numpy array, or a ready
    base64 string / data URI. Raises ImageInputError naming the cause and the request
    field the image is for (`field`: "input_image_2", "mask"...; the control image's by
    default).
    """
    return base64_control_image(image, field=field).decode("ascii")


def base64_control_image(
    image: Any, *, advised: set[bytes] | None = None, field: str = "control_image"
) -> bytes:
    """`encode_control_image` as ASCII bytes, which is what goes on the wire.

    The client splices these bytes straight into the request body: a 32 MB str would cost
    a decode now and an encode later, each a full copy of the image.
    """
    what = image_label(field)
    if isinstance(image, CheckedImageFile):
        data, unchanged = image.read()
        if not unchanged:  # edited since it was checked: check it again
            inspect_image(data, field=field)
        return _within_bfl_limit(base64.b64encode(data), what)
    raw = _to_bytes(image, field)
    if isinstance(raw, str):
        text = "".join(raw.split()) if any(c.isspace() for c in raw[:4096]) else raw
        decoded = _from_base64(text)
        if decoded is None:
            raise ImageInputError(
                f"the {what} string is neither an existing file path nor valid base64"
            )
        _advise(decoded, advised, field)
        encoded = text.encode("ascii")  # b64decode(validate=True) admitted only ASCII
    else:
        _advise(raw, advised, field)
        encoded = base64.b64encode(raw)
    return _within_bfl_limit(encoded, what)


def _advise(data: bytes, advised: set[bytes] | None, field: str) -> None:
    """BFL's size advice, once per image of a run that shares `advised` (many jobs of
    one control image warn once, as the command line does)."""
    info = inspect_image(data, field=field)
    if advised is not None:
        digest = hashlib.blake2b(data, digest_size=16).digest()
        if digest in advised:
            return
        advised.add(digest)
    advise(info, field=field)


def _within_bfl_limit(encoded: bytes, what: str) -> bytes:
    if len(encoded) > BFL_MAX_BASE64:
        raise ImageInputError(
            f"the {what} is {len(encoded):,} bytes of base64; BFL accepts at most "
            f"{BFL_MAX_BASE64:,}: downscale or recompress it"
        )
    return encoded


@attrs.frozen(repr=False)
class GeneratedImage:
    """A downloaded result: its bytes, format, and where it came from."""

    data: bytes
    format: str
    task_id: str | None = None
    seed: int | None = None
    sample_url: str | None = None

    def __repr__(self) -> str:
        size = len(self.data)
        return f"GeneratedImage(format={self.format!r}, bytes={size}, task_id={self.task_id!r})"

    @property
    def media_type(self) -> str:
        return _MEDIA_TYPES.get(self.format, "application/octet-stream")

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = True) -> Path:
        """Write atomically, so a crash never leaves a half-written image at `path`.

        With overwrite=False an existing file is kept and ImageExistsError (a
        FileExistsError) raised; any other failure is ImageSaveError (an OSError).
        """
        if not isinstance(path, str | os.PathLike):
            raise InvalidArgumentError(f"save() takes a path, got {path!r:.80}")
        try:
            if os.fspath(path) == "" or "\0" in os.fspath(path):  # as the system refuses others
                raise OSError(errno.EINVAL, "not a file path", os.fspath(path))
            return write_atomic(path, self.data, overwrite=overwrite)
        except FileExistsError as error:
            exists = ImageExistsError(error.errno, error.strerror, os.fspath(path))
            exists.attach_task(self.task_id, None)
            raise exists from error
        except OSError as error:
            said = (error.errno, error.strerror, os.fspath(path))
            failed = ImageSaveError(*said) if error.errno is not None else ImageSaveError(error)
            failed.attach_task(self.task_id, None)
            raise failed from error

    def to_pil(self) -> Image.Image:
        """Decode with Pillow. A decompression bomb (more than Pillow's pixel limit) or a
        file Pillow cannot read is an ImageDecodeError naming the task, not PIL's own."""
        pil = _pillow("GeneratedImage.to_pil()", ConfigurationError)

        try:
            image: Image.Image = pil.open(io.BytesIO(self.data))
            image.load()
        except (pil.DecompressionBombError, OSError, ValueError, SyntaxError) as error:
            raise ImageDecodeError(
                f"the image of task {self.task_id} cannot be decoded: {error}",
                task_id=self.task_id,
            ) from error
        return image

"""Control images in, generated images out.

Incoming PNG, JPEG and WebP bytes are checked structurally (signature, dimensions,
complete chunk/segment layout) but never decoded or re-encoded: the server receives the
user's exact bytes, and a 24-megapixel file costs little more than its base64. PIL images
and numpy arrays are encoded once, as PNG.
"""

from __future__ import annotations

import base64
import binascii
import errno
import io
import logging
import os
import stat
import struct
import tempfile
import zlib
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import attrs

from .errors import (
    ConfigurationError,
    FluxCannyError,
    ImageDecodeError,
    ImageExistsError,
    ImageInputError,
    ImageSaveError,
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
    "write_atomic",
]

# Pillow's own decompression-bomb threshold: beyond it no sane control image lies.
MAX_PIXELS = 89_478_485
#: BFL's documented input limits (its official SDK checks them before sending): at most
#: 20 MB of base64, at most 20 megapixels, at least 256 px a side. Over the base64 limit
#: the request cannot succeed, so it is an error here; what the server does with other
#: sizes is not documented, so those are a warning.
BFL_MAX_BASE64 = 20_000_000
BFL_MAX_PIXELS = 20_000_000
BFL_MIN_SIDE = 256
#: the most a control image file may hold: its base64 must fit BFL_MAX_BASE64
MAX_CONTROL_BYTES = BFL_MAX_BASE64 * 3 // 4
_PNG_SIG = b"\x89PNG\r\n\x1a\n"
log = logging.getLogger("flux_canny")
_MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


@attrs.frozen
class ImageInfo:
    format: str
    width: int
    height: int


def inspect_image(data: bytes | memoryview) -> ImageInfo:
    """Format and size of PNG/JPEG/WebP bytes; ImageInputError if broken or unsupported."""
    view = memoryview(data)
    if len(view) == 0:
        raise ImageInputError("the control image is empty (0 bytes)")
    head = bytes(view[:16])
    kinds = {"png": _inspect_png, "jpeg": _inspect_jpeg, "webp": _inspect_webp}
    kind = (
        "png"
        if head.startswith(_PNG_SIG)
        else "jpeg"
        if head.startswith(b"\xff\xd8\xff")
        else "webp"
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP"
        else None
    )
    if kind is not None:
        try:
            info = kinds[kind](view)
        except (struct.error, IndexError, ValueError) as broken:  # a field cut short
            raise _truncated(kind.upper() if kind != "webp" else "WebP") from broken
    else:
        raise ImageInputError(
            "the control image is not a PNG, JPEG or WebP image "
            f"(it starts with {head[:8]!r}); convert it to one of those formats"
        )
    if info.width <= 0 or info.height <= 0:
        raise ImageInputError(f"the control image has no pixels ({info.width}x{info.height})")
    if info.width * info.height > MAX_PIXELS:
        raise ImageInputError(
            f"the control image is {info.width}x{info.height}, more than {MAX_PIXELS:,} pixels; "
            "downscale it"
        )
    return info


def _advise(info: ImageInfo) -> None:
    """BFL's documented pixel limits, as a warning: the request is still valid to send."""
    if info.width * info.height > BFL_MAX_PIXELS or min(info.width, info.height) < BFL_MIN_SIDE:
        log.warning(
            "the control image is %dx%d; BFL documents at most %d megapixels and at least "
            "%d px a side: the server may resize or refuse it",
            info.width,
            info.height,
            BFL_MAX_PIXELS // 1_000_000,
            BFL_MIN_SIDE,
        )


def _truncated(kind: str) -> ImageInputError:
    return ImageInputError(f"the control image is a truncated or corrupt {kind} file")


def _inspect_png(view: memoryview) -> ImageInfo:
    pos, size, width, height = 8, len(view), -1, -1
    while True:
        if pos + 12 > size:
            raise _truncated("PNG")
        length, ctype = struct.unpack(">I4s", view[pos : pos + 8])
        end = pos + 12 + length
        if end > size:
            raise _truncated("PNG")
        (crc,) = struct.unpack(">I", view[end - 4 : end])
        if zlib.crc32(view[pos + 4 : end - 4]) != crc:
            raise ImageInputError(f"the control image is a corrupt PNG file (bad {ctype!r} CRC)")
        if ctype == b"IHDR":
            width, height = struct.unpack(">II", view[pos + 8 : pos + 16])
        elif width < 0:
            raise _truncated("PNG")
        if ctype == b"IEND":
            return ImageInfo("png", width, height)
        pos = end


_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _inspect_jpeg(view: memoryview) -> ImageInfo:
    pos, size, dims = 2, len(view), None
    while pos + 4 <= size:
        if view[pos] != 0xFF:
            raise _truncated("JPEG")
        marker = view[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):
            pos += 2
            continue
        (length,) = struct.unpack(">H", view[pos + 2 : pos + 4])
        if marker in _SOF_MARKERS and pos + 9 <= size:
            height, width = struct.unpack(">HH", view[pos + 5 : pos + 9])
            dims = (width, height)
        if marker == 0xDA:  # start of scan: entropy-coded data runs to the EOI marker
            if dims is None:
                raise _truncated("JPEG")
            if bytes(view[-2:]) != b"\xff\xd9" and bytes(view).rfind(b"\xff\xd9", pos) < 0:
                raise _truncated("JPEG")
            return ImageInfo("jpeg", *dims)
        pos += 2 + length
    raise _truncated("JPEG")


def _inspect_webp(view: memoryview) -> ImageInfo:
    (riff_size,) = struct.unpack("<I", view[4:8])
    if riff_size + 8 > len(view) or len(view) < 30:
        raise _truncated("WebP")
    chunk = bytes(view[12:16])
    body = view[20:]
    if chunk == b"VP8 " and bytes(body[3:6]) == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", body[6:10])
        return ImageInfo("webp", w & 0x3FFF, h & 0x3FFF)
    if chunk == b"VP8L" and body[0] == 0x2F:
        (bits,) = struct.unpack("<I", body[1:5])
        return ImageInfo("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X":
        w = int.from_bytes(body[4:7], "little") + 1
        h = int.from_bytes(body[7:10], "little") + 1
        return ImageInfo("webp", w, h)
    raise _truncated("WebP")


def _from_base64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def read_image_file(path: Path) -> bytes:
    """The file's bytes, or an ImageInputError that names the problem.

    Only a regular file of at most MAX_CONTROL_BYTES is read: a FIFO or /dev/zero would
    otherwise be read forever, and a 10 GB file into memory."""
    try:
        # stat before open: opening a FIFO blocks until someone writes to it
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            raise ImageInputError(f"control image path is {kind}: {path}")
        with open(path, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):  # swapped meanwhile
                raise ImageInputError(f"control image path is not a regular file: {path}")
            return _capped(handle.read(MAX_CONTROL_BYTES + 1), str(path))
    except FileNotFoundError:
        raise ImageInputError(f"control image file not found: {path}") from None
    except IsADirectoryError:
        raise ImageInputError(f"control image path is a directory: {path}") from None
    except OSError as exc:
        raise ImageInputError(f"cannot read control image {path}: {exc.strerror}") from None
    except ValueError as exc:  # a NUL in the path
        raise ImageInputError(f"control image path {str(path)!r} is not usable: {exc}") from None


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
                data = _capped(handle.read(MAX_CONTROL_BYTES + 1), str(self.path))
        except OSError as exc:
            raise ImageInputError(
                f"cannot read control image {self.path}: {exc.strerror}"
            ) from None
        same = now.st_size == self.size == len(data) and now.st_mtime_ns == self.mtime_ns
        return data, same


def check_image_file(path: Path) -> tuple[CheckedImageFile, bytes]:
    """Read and check a control image file once; the bytes are for a caller's hash."""
    data = read_image_file(path)
    info = inspect_image(data)
    _advise(info)
    stat_now = os.stat(path)
    checked = CheckedImageFile(Path(path), len(data), stat_now.st_mtime_ns, info)
    return checked, data


def _capped(data: bytes, where: str) -> bytes:
    if len(data) > MAX_CONTROL_BYTES:
        raise ImageInputError(
            f"the control image {where} is larger than {MAX_CONTROL_BYTES >> 20} MiB; BFL "
            f"accepts at most {BFL_MAX_BASE64 // 1_000_000} MB of base64: downscale or "
            "recompress it"
        )
    return data


def _encode_pil(image: Image.Image) -> bytes:
    if image.mode not in ("1", "L", "LA", "RGB", "RGBA", "I;16", "P"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    buffer = io.BytesIO()
    try:
        image.save(buffer, format="PNG")
    except (OSError, ValueError) as exc:
        raise ImageInputError(f"cannot encode the PIL image as PNG: {exc}") from None
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


def _encode_array(array: Any) -> bytes:
    Image = _pillow("a numpy control image (encoded once as PNG)", ImageInputError)

    if array.dtype.name != "uint8":
        raise ImageInputError(
            f"numpy control images must be uint8, got {array.dtype.name}; "
            "scale to 0-255 and use .astype('uint8')"
        )
    shape = tuple(array.shape)
    if len(shape) == 3 and shape[2] == 1:
        array = array[:, :, 0]
        shape = shape[:2]
    if not (len(shape) == 2 or (len(shape) == 3 and shape[2] in (3, 4))) or 0 in shape:
        raise ImageInputError(
            f"numpy control image has shape {shape}; expected (H, W), (H, W, 3) or (H, W, 4)"
        )
    return _encode_pil(Image.fromarray(array))


def _to_bytes(image: Any) -> bytes | str:
    """Bytes of an image file, or an already-base64 string (returned as str)."""
    if isinstance(image, bytes | bytearray | memoryview):
        return bytes(image)
    if isinstance(image, os.PathLike):
        return read_image_file(Path(image))
    if isinstance(image, str):
        if image.startswith("data:"):
            header, sep, payload = image.partition(",")
            if not sep or ";base64" not in header:
                raise ImageInputError(
                    "control image data URI must be base64 (data:image/...;base64,...)"
                )
            return payload
        if (
            len(image) < 4096
            and (os.sep in image or "." in image[-6:])
            and _from_base64(image) is None
        ):
            return read_image_file(Path(image))
        if len(image) < 4096 and Path(image).is_file():
            return read_image_file(Path(image))
        return image
    if hasattr(image, "read"):
        return _read_file(image)
    module = type(image).__module__
    if module.startswith("PIL."):
        return _encode_pil(image)
    if module == "numpy" and hasattr(image, "dtype"):
        return _encode_array(image)
    raise ImageInputError(
        f"unsupported control image type {type(image).__name__}: pass a path, bytes, a binary "
        "file object, a PIL image, a numpy array, or a base64 string / data URI"
    )


def _read_file(handle: IO[Any]) -> bytes:
    try:
        data = handle.read(MAX_CONTROL_BYTES + 1)
    except OSError as exc:
        raise ImageInputError(f"cannot read the control image file object: {exc}") from None
    if isinstance(data, str):
        raise ImageInputError("the control image file was opened in text mode; open it with 'rb'")
    return _capped(bytes(data), "file object")


def encode_control_image(image: Any) -> str:
    """The base64 string the API wants, after checking that it holds a real image.

    Accepts a path, bytes, a binary file object, a PIL image, a numpy array, or a ready
    base64 string / data URI. Raises ImageInputError naming the cause.
    """
    return base64_control_image(image).decode("ascii")


def base64_control_image(image: Any) -> bytes:
    """`encode_control_image` as ASCII bytes, which is what goes on the wire.

    The client splices these bytes straight into the request body: a 32 MB str would cost
    a decode now and an encode later, each a full copy of the image.
    """
    if isinstance(image, CheckedImageFile):
        data, unchanged = image.read()
        if not unchanged:  # edited since it was checked: check it again
            inspect_image(data)
        return _within_bfl_limit(base64.b64encode(data))
    raw = _to_bytes(image)
    if isinstance(raw, str):
        text = "".join(raw.split()) if any(c.isspace() for c in raw[:4096]) else raw
        decoded = _from_base64(text)
        if decoded is None:
            raise ImageInputError(
                "the control image string is neither an existing file path nor valid base64"
            )
        _advise(inspect_image(decoded))
        encoded = text.encode("ascii")  # b64decode(validate=True) admitted only ASCII
    else:
        _advise(inspect_image(raw))
        encoded = base64.b64encode(raw)
    return _within_bfl_limit(encoded)


def _within_bfl_limit(encoded: bytes) -> bytes:
    if len(encoded) > BFL_MAX_BASE64:
        raise ImageInputError(
            f"the control image is {len(encoded):,} bytes of base64; BFL accepts at most "
            f"{BFL_MAX_BASE64:,}: downscale or recompress it"
        )
    return encoded


def sniff_format(data: bytes) -> str | None:
    if data.startswith(_PNG_SIG):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _umask() -> int:
    """The process's umask, read without changing it where Linux tells (os.umask can only
    be read by setting it, which would race with other threads creating files)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_TEMP_SUFFIX = ".part"
#: bytes write_atomic's temporary name adds to the target's: "." + name + "." + 8 random
#: characters (tempfile's) + ".part"; a name within NAME_MAX less this is writable
TEMP_NAME_EXTRA = 2 + 8 + len(_TEMP_SUFFIX)


def write_atomic(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = True) -> Path:
    """Write through a temporary file in the same folder, fsynced, then renamed into place.

    Readers see the old file or the whole new one, never a part. With overwrite=False the
    final step is a hard link, which fails atomically (FileExistsError) if `path` exists,
    even when another process created it a moment ago.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError as error:  # a file where a folder should be: not "the image exists"
        raise NotADirectoryError(errno.ENOTDIR, "Not a directory", str(error.filename)) from error
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=_TEMP_SUFFIX, dir=target.parent
    )
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; an image is no secret
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


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
        try:
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

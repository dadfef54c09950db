"""Reading a model file's archive safely: bounded, streamed, every failure a ``ValueError``.

A model file is a zip archive of ``.npy`` entries (what :func:`numpy.savez_compressed`
writes). This module opens it with :mod:`zipfile` and reads

* the zip directory and every entry's ``.npy`` header (dtype, shape) first, which costs a few
  hundred bytes per entry, so that declared sizes can be checked before any data is
  decompressed: a numeric dtype, C order, a size consistent with the zip directory, and a
  total under a ceiling;
* then the data, in chunks, into one buffer per array while the SHA-256 digest is updated, so
  that checking a file never holds it twice.

Nothing here unpickles: object arrays are refused from their header. Every error names the
file and says what is wrong with it; none points at pickle.
"""

import hashlib
import math
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np

__all__ = ["DEFAULT_MAX_BYTES", "ModelArchive", "open_archive", "resolve_model_path"]

#: Default ceiling on the decompressed size of a model file's arrays (4 GiB).
DEFAULT_MAX_BYTES = 4 * 2**30
# The metadata is JSON text of hyper-parameters and array names: megabytes at most.
_MAX_METADATA_BYTES = 64 * 2**20
_MAX_CHECKSUM_BYTES = 4096
_CHUNK_BYTES = 2**20
_NUMERIC_KINDS = "biufc"


def resolve_model_path(path):
    """The model file ``path`` names: as given, or with ``.npz`` appended, as ``save`` does."""
    path = Path(path)
    if path.is_file():
        return path
    with_suffix = path.with_name(path.name + ".npz")
    if path.suffix != ".npz" and with_suffix.is_file():
        return with_suffix
    tried = f" (nor {with_suffix})" if path.suffix != ".npz" else ""
    raise ValueError(f"Expected a wpokernel model file at {path}, got no such file{tried}.")


class ModelArchive:
    """The entries of an open model file: headers read, data read on demand."""

    def __init__(self, zip_file, path):
        self.zip_file, self.path = zip_file, path
        self.infos = {}
        for info in zip_file.infolist():
            if not info.filename.endswith(".npy") or "/" in info.filename:
                raise self.error(f"it holds an entry {info.filename!r}, which model files do not")
            self.infos[info.filename[:-4]] = info
        self.headers = {key: self._header(key) for key in self.infos}

    def error(self, reason):
        return ValueError(f"{self.path} is not a readable wpokernel model file: {reason}.")

    def _header(self, key):
        """(dtype, shape, offset) of an entry, from its first bytes, checked."""
        info = self.infos[key]
        with self._stream(key) as stream:
            version = np.lib.format.read_magic(stream)
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)
            shape, fortran_order, dtype = read(stream, max_header_size=2**16)
            offset = stream.tell()
        if dtype.hasobject or dtype.kind not in _NUMERIC_KINDS + "U":
            raise self.error(f"entry {key!r} holds dtype {dtype}, not numbers")
        if fortran_order:
            raise self.error(f"entry {key!r} is in Fortran order, which model files never are")
        size = math.prod(shape) * dtype.itemsize
        if offset + size != info.file_size:
            raise self.error(f"entry {key!r} declares {size} bytes of data but the archive "
                             f"{info.file_size - offset}")
        return dtype, tuple(shape), offset

    @contextmanager
    def _stream(self, key):
        try:
            with self.zip_file.open(self.infos[key]) as stream:
                yield stream
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
            if isinstance(exc, ValueError) and str(exc).startswith(str(self.path)):
                raise
            raise self.error(f"entry {key!r} is damaged ({' '.join(str(exc).split())})") from exc

    def nbytes(self, keys):
        """Decompressed size of the data of the entries ``keys``."""
        return sum(math.prod(self.headers[k][1]) * self.headers[k][0].itemsize for k in keys)

    def read(self, key, digest=None, max_bytes=_MAX_METADATA_BYTES):
        """The array of entry ``key``, read in chunks; ``digest`` is updated with
        ``key:dtype:shape`` and the bytes, as :func:`wpokernel.persistence` hashes them."""
        dtype, shape, offset = self.headers[key]
        size = math.prod(shape) * dtype.itemsize
        if size > max_bytes:
            raise self.error(f"entry {key!r} declares {size} bytes, more than the {max_bytes} "
                             "allowed")
        buffer = bytearray(size)
        view = memoryview(buffer)
        if digest is not None:
            digest.update(f"{key}:{dtype.str}:{shape}".encode())
        with self._stream(key) as stream:
            stream.read(offset)
            for start in range(0, size, _CHUNK_BYTES):
                chunk = view[start:start + _CHUNK_BYTES]
                if stream.readinto(chunk) != len(chunk):
                    raise self.error(f"entry {key!r} ends early")
                if digest is not None:
                    digest.update(chunk)
            stream.read(1)  # reaching the end makes zipfile check the entry's CRC
        return np.frombuffer(buffer, dtype=dtype).reshape(shape)

    def read_text(self, key, max_bytes):
        """A 0-d string entry (metadata, checksum) of at most ``max_bytes``."""
        if key not in self.headers:
            raise self.error(f"it has no {key!r} entry")
        value = self.read(key, max_bytes=max_bytes)
        if value.dtype.kind != "U" or value.ndim != 0:
            raise self.error(f"its {key!r} entry is not text")
        return str(value)

    def read_arrays(self, keys, digest):
        """Every array entry of ``keys``, hashed in sorted order into ``digest``."""
        for key in keys:
            if self.headers[key][0].kind == "U":
                raise self.error(f"entry {key!r} holds text, not numbers")
        return {key: self.read(key, digest, max_bytes=math.inf) for key in sorted(keys)}


@contextmanager
def open_archive(path):
    """Open a model file: a :class:`ModelArchive`, or a ``ValueError`` naming the file."""
    try:
        zip_file = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise ValueError(f"{path} is not a wpokernel model file: it is not an .npz archive "
                         f"({' '.join(str(exc).split())}).") from exc
    with zip_file:
        yield ModelArchive(zip_file, path)


def new_digest(metadata):
    """SHA-256 of the metadata text, to be continued with the arrays."""
    return hashlib.sha256(metadata.encode("utf-8"))

"""Locations as URIs, input files listed and identified through Spark's Hadoop FileSystem.

Input and output may be plain paths, ``file:///...`` URIs or object-store URIs
(``s3a://bucket/landing``, ``abfss://...``, ``gs://...``). Nothing here touches the local disk
directly: files are listed with Spark's ``binaryFile`` source (``path``, ``length``,
``modificationTime``; public API, so it works over Spark Connect and on object storage). A
file's content hash is streamed from the local disk when this process sees the listed file
there, and computed by Spark from the bytes it reads otherwise.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from etl_app.errors import InputError, StorageUnavailableError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pyspark.sql import SparkSession

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_uri(location: str) -> bool:
    """Whether ``location`` carries a scheme (``s3a://b/k``, ``file:///x``), not a plain path."""
    return bool(_SCHEME.match(location))


def resolve(location: str | Path, base: Path | None = None) -> str:
    """A location as Spark should see it: URIs as given, plain paths made absolute.

    Args:
        location: A URI or a path.
        base: Folder a relative path is resolved against (the working directory when None).

    Returns:
        The URI without a trailing slash, or the absolute path.
    """
    text = str(location)
    if is_uri(text):
        return text.rstrip("/") if not text.endswith(":///") else text
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    return str(path.resolve())


def join(root: str, *parts: str) -> str:
    """``root`` and ``parts`` joined with ``/`` (a URI stays a URI)."""
    return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts)])


def local_path(location: str) -> Path | None:
    """The local path of a plain path or ``file:`` URI; None for any other scheme."""
    if location.startswith("file:"):
        return Path(re.sub(r"^file:(//)?", "", location))
    return None if is_uri(location) else Path(location)


@dataclass(frozen=True)
class InputFile:
    """One input file as the FileSystem lists it.

    Attributes:
        path: Full URI (``file:/in/orders_0001.json``, ``s3a://b/in/orders_0001.json``).
        length: Size in bytes.
        modified_ms: Modification time, epoch milliseconds.
    """

    path: str
    length: int
    modified_ms: int

    @property
    def name(self) -> str:
        """The file name (last path segment)."""
        return self.path.rstrip("/").rsplit("/", 1)[-1]


def list_files(spark: SparkSession, folder: str, pattern: str) -> list[InputFile]:
    """The files directly in ``folder`` whose name matches the glob ``pattern``, by path.

    Args:
        spark: Session (the listing runs through its Hadoop FileSystem).
        folder: Folder URI or path.
        pattern: File name glob (``orders_*.json``).

    Returns:
        The files, sorted by path. Their content is not read.

    Raises:
        FileNotFoundError: The folder does not exist.
    """
    from pyspark.errors import AnalysisException

    try:
        frame = spark.read.format("binaryFile").option("pathGlobFilter", pattern).load(folder)
        listing = frame.select("path", "length", "modificationTime").collect()
        names = frame.inputFiles()
    except AnalysisException as exc:
        if "PATH_NOT_FOUND" in str(exc) or "Path does not exist" in str(exc):
            raise FileNotFoundError(folder) from None
        raise
    files = {
        _normal(str(row["path"])): InputFile(
            _normal(str(row["path"])),
            int(row["length"]),
            int(row["modificationTime"].timestamp() * 1000),
        )
        for row in listing
    }
    # Spark's scan leaves 0-byte files out; the file index still lists them: empty batches.
    for name in names:
        files.setdefault(_normal(name), InputFile(_normal(name), 0, 0))
    return sorted(files.values(), key=lambda f: f.path)


def _normal(uri: str) -> str:
    """One spelling of a local file URI (``file:///x`` and ``file:/x`` are the same file)."""
    return re.sub(r"^file:///", "file:/", uri)


def content_hash(spark: SparkSession, path: str, length: int | None = None) -> str:
    """SHA-256 of one file's bytes, computed by Spark from what it reads (any FileSystem).

    It equals ``hashlib.sha256`` of the file, so a hash recorded by etl-app 0.2 from the local
    file matches. A file this process can read locally, with the listed length, is streamed in
    1 MiB blocks (an input file of any size, no Spark job); any other file is read by Spark's
    ``binaryFile`` source, which holds the whole file in memory. Spark reads no row from a
    0-byte file: pass ``length=0`` (from the listing) for those.

    Raises:
        FileNotFoundError: Spark read no row for ``path`` (absent, or empty without ``length``).
        InputError: A file Spark would have to read is longer than its ``binaryFile`` source
            accepts (``spark.sql.sources.binaryFile.maxLength``, at most 2 GiB - 1 byte).
    """
    from pyspark.sql import functions as F  # noqa: N812

    if length == 0:
        return hashlib.sha256(b"").hexdigest()
    local = _readable_here(path, length)
    if local is not None:
        return _sha256_of(local)
    limit = _binary_file_limit(spark)
    if length is not None and length > limit:
        raise InputError(
            f"input file {path} has {length} bytes; its content hash is computed by Spark, "
            f"which reads a file of this store as one value of at most {limit} bytes "
            f"(spark.sql.sources.binaryFile.maxLength). Split the file into parts below "
            f"that size at the source, or give the driver the input folder as a local or "
            f"mounted path, where any size is hashed as a stream."
        )
    # Spark's binaryFile source holds a file's whole content as one value, so a file read this
    # way must fit in an executor's memory (and under 2 GB): only object-store files, or files
    # on a Spark Connect server's disk, take this path.
    from pyspark.errors import AnalysisException

    try:
        row = (
            spark.read.format("binaryFile")
            .load(path)
            .select(F.sha2(F.col("content"), 256).alias("sha256"))
            .collect()
        )
    except AnalysisException:
        raise FileNotFoundError(path) from None
    if len(row) != 1:
        raise FileNotFoundError(path)
    return str(row[0]["sha256"])


#: Spark's own ceiling for one ``binaryFile`` value (a Java array).
_BINARY_FILE_MAX = 2_147_483_647


def _binary_file_limit(spark: SparkSession) -> int:
    """The longest file Spark's ``binaryFile`` source reads in this session."""
    try:
        configured = spark.conf.get("spark.sql.sources.binaryFile.maxLength", None)
    except Exception:  # a Connect server that does not answer: Spark's ceiling
        configured = None
    try:
        return min(int(configured), _BINARY_FILE_MAX) if configured else _BINARY_FILE_MAX
    except ValueError:
        return _BINARY_FILE_MAX


def _readable_here(path: str, length: int | None) -> Path | None:
    """The local file behind ``path`` when this process can read it with the listed length.

    Over Spark Connect a ``file:`` path names the server's disk; a client that holds no such
    file (or a different one) leaves the hash to Spark.
    """
    local = local_path(path)
    if local is None:
        return None
    try:
        size = local.stat().st_size
    except OSError:
        return None
    if not local.is_file() or (length is not None and size != length):
        return None
    return local


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def storage_failure(
    exc: BaseException, spark: SparkSession, locations: Sequence[str]
) -> StorageUnavailableError | None:
    """The app's error when ``exc`` is an object store that could not be reached, else None.

    delta-safe-writer classifies its own writes; the app's reads (the input listing, the
    ledger, the report) fail with Spark's exceptions, classified the same way. The endpoint is
    the one configured for the first of ``locations`` the failure names (input, output root),
    else for the last one. Other exceptions (the app's own, a Python error) give None.

    Args:
        exc: What the run raised.
        spark: The run's session (its settings name the endpoint and the secrets to hide).
        locations: The run's input and output locations.
    """
    from delta_safe_writer import StorageUnavailableError as WriterStorageError
    from delta_safe_writer import storage_error

    found = exc if isinstance(exc, WriterStorageError) else None
    # Only Spark's own failures are read: a Python error's text ("Connection refused" from a
    # metrics push, say) says nothing about the lake's storage.
    if found is None and type(exc).__module__.split(".")[0] in {"pyspark", "py4j"}:
        named = [location for location in locations if location in str(exc)]
        location = named[0] if named else locations[-1]
        found = storage_error(exc, spark=spark, operation="etl-app run", table=location)
    if found is None:
        return None
    return StorageUnavailableError(
        f"the lake's storage endpoint {found.endpoint} could not be reached or refused the "
        f"request ({found.reason}). The step that failed committed nothing and the ledger "
        f"records only committed batches: fix the endpoint, the network path or the "
        f"credentials (for s3a: spark.conf fs.s3a.endpoint, AWS_ACCESS_KEY_ID / "
        f"AWS_SECRET_ACCESS_KEY in the environment), then run again.",
        endpoint=found.endpoint,
    )

"""Model artifacts: fetch (file://, http(s)://) into the cache directory, verify sha256, then load.

Adapter layer (file system and HTTP). The artifact is copied into the cache and hashed there, and
the verified copy is what gets loaded, so bytes that change at the source after the check can
never be served. A mismatch is a ``ModelIntegrityError`` whose message goes to the pod's
termination log ("model sha256 mismatch: expected X got Y"); the scorer refuses to start.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20


class ModelArtifactError(Exception):
    """The artifact could not be fetched or loaded (bad URI, missing file, HTTP error, bad format)."""


class ModelIntegrityError(ModelArtifactError):
    """The artifact's sha256 differs from the expected one; never load it."""


def sha256_of_file(path: Path) -> str:
    """Lowercase hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def cache_path_for(uri: str, sha256: str, cache_dir: Path) -> Path:
    """Where the verified artifact lives in the cache: ``<cache_dir>/<sha256><suffix of the URI path>``."""
    suffix = "".join(Path(urlsplit(uri).path).suffixes[-1:])
    return cache_dir / f"{sha256}{suffix}"


def _copy_file(uri: str, target: Path) -> None:
    source = Path(unquote(urlsplit(uri).path))
    if not source.is_file():
        raise ModelArtifactError(f"SCORER_MODEL_URI {uri!r}: no such file {source}")
    shutil.copyfile(source, target)


def _download(uri: str, target: Path, *, attempts: int, backoff_seconds: float, timeout_seconds: float) -> None:
    for attempt in range(1, attempts + 1):
        try:
            with httpx.stream("GET", uri, timeout=timeout_seconds, follow_redirects=True) as response:
                if response.status_code in (401, 403, 404):
                    raise ModelArtifactError(f"SCORER_MODEL_URI {uri!r}: HTTP {response.status_code}")
                response.raise_for_status()
                with target.open("wb") as stream:
                    for chunk in response.iter_bytes(CHUNK_BYTES):
                        stream.write(chunk)
            return
        except httpx.HTTPError as error:
            if attempt == attempts:
                raise ModelArtifactError(f"SCORER_MODEL_URI {uri!r}: {error} after {attempts} attempts") from error
            delay = backoff_seconds * 2 ** (attempt - 1)
            logger.warning(
                "model fetch failed, retrying",
                extra={"uri": uri, "attempt": attempt, "error": str(error), "retry_in_seconds": delay},
            )
            time.sleep(delay)


def fetch_artifact(
    uri: str,
    *,
    sha256: str,
    cache_dir: Path,
    attempts: int = 5,
    backoff_seconds: float = 0.5,
    timeout_seconds: float = 30.0,
) -> Path:
    """Return the path of a verified local copy of the artifact at ``uri``.

    A cached copy whose hash matches is reused. Otherwise the artifact is copied (``file://``)
    or downloaded (``http(s)://``, retried ``attempts`` times with exponential backoff) into
    ``cache_dir`` and hashed. Raises ModelIntegrityError on a hash mismatch, ModelArtifactError
    on an unsupported scheme or a fetch that keeps failing.
    """
    scheme = urlsplit(uri).scheme.lower()
    if scheme not in ("file", "http", "https"):
        raise ModelArtifactError(f"SCORER_MODEL_URI {uri!r}: scheme must be file://, http:// or https://")
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_path_for(uri, sha256, cache_dir)
    if target.is_file() and sha256_of_file(target) == sha256:
        logger.info("model artifact found in cache", extra={"path": str(target)})
        return target
    handle, temporary_name = tempfile.mkstemp(dir=cache_dir, prefix=".fetch-")
    os.close(handle)
    temporary = Path(temporary_name)
    try:
        if scheme == "file":
            _copy_file(uri, temporary)
        else:
            _download(
                uri, temporary, attempts=attempts, backoff_seconds=backoff_seconds, timeout_seconds=timeout_seconds
            )
        actual = sha256_of_file(temporary)
        if actual != sha256:
            raise ModelIntegrityError(f"model sha256 mismatch: expected {sha256} got {actual} ({uri})")
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)
    logger.info("model artifact fetched and verified", extra={"uri": uri, "path": str(target), "sha256": sha256})
    return target

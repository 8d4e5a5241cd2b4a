"""The serving model store (§8.2): immutable ONNX artifacts and the one manifest promote replaces
atomically, in a folder or under `s3://bucket/prefix`. play reads it, so this module imports only
the standard library (and rpsquest.errors); boto3 loads when an S3 store opens."""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rpsquest.errors import Unavailable

MANIFEST_KEY = "manifest.json"
ARTIFACTS = "artifacts"  # the folder every artifact key starts with
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# play checks the manifest on its request path, so a dead endpoint must fail fast, not hang.
_S3_CONNECT_TIMEOUT, _S3_READ_TIMEOUT, _S3_ATTEMPTS = 3, 20, 3


class StoreError(Unavailable):
    """The model store could not be read or written as asked: unreachable, refusing, or holding
    something unreadable. Routes that need the store answer 503 and are retried."""


class ArtifactMissing(StoreError):
    """A key names no object in the store."""

    def __init__(self, store: str, key: str) -> None:
        super().__init__(f"{key} is missing from the model store {store}")
        self.key = key


def artifact_key(family: str, config_id: str, sha256: str) -> str:
    """Where an artifact lives: named by its content, so it never changes once written."""
    for label, value in (("family", family), ("config_id", config_id)):
        if not _NAME.fullmatch(value):
            raise ValueError(f"{label} {value!r} cannot be part of an artifact key")
    return f"{ARTIFACTS}/{family}/{config_id}/{sha256}.onnx"


def _check_key(key: str) -> str:
    """Keys are relative paths inside the store; refuse anything that could leave it."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"invalid model store key {key!r}")
    return key


class ModelStore(ABC):
    """Operations train, promote and play share; subclasses move bytes."""

    url: str

    @abstractmethod
    def read(self, key: str) -> bytes:
        """The object's bytes; ArtifactMissing when there is none."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored under `key`."""

    @abstractmethod
    def manifest_tag(self) -> str | None:
        """A cheap token that changes whenever the manifest is replaced; None without one."""

    @abstractmethod
    def keys(self, folder: str) -> list[str]:
        """Every key stored under `folder` (such as `artifacts`), sorted: retention's inventory."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object under `key`; one already gone is no error, so a rerun is harmless."""

    @abstractmethod
    def _write(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key` so readers see the old object or the new one, never a mix."""

    def put_artifact(self, family: str, config_id: str, onnx_bytes: bytes) -> tuple[str, str]:
        """Upload an ONNX graph once and return its (key, sha256); an identical artifact already
        there is kept, a corrupt one is rewritten."""
        sha256 = hashlib.sha256(onnx_bytes).hexdigest()
        key = artifact_key(family, config_id, sha256)
        try:
            if hashlib.sha256(self.read(key)).hexdigest() == sha256:
                return key, sha256
        except ArtifactMissing:
            pass
        self._write(key, onnx_bytes, "application/octet-stream")
        return key, sha256

    def read_manifest(self) -> dict[str, Any] | None:
        """The current manifest, or None before promote first writes one."""
        try:
            data = self.read(MANIFEST_KEY)
        except ArtifactMissing:
            return None
        try:
            manifest = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise StoreError(f"{self.url}/{MANIFEST_KEY} is not valid JSON: {error}") from None
        if not isinstance(manifest, dict):
            raise StoreError(f"{self.url}/{MANIFEST_KEY} is not a JSON object")
        return manifest

    def write_manifest(self, manifest: Mapping[str, Any]) -> None:
        """Replace the manifest in one atomic step."""
        data = json.dumps(manifest, indent=1, allow_nan=False).encode() + b"\n"
        self._write(MANIFEST_KEY, data, "application/json")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


class FolderStore(ModelStore):
    """A store in a local folder: the embedded default, `var/models`."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.url = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ArtifactMissing(self.url, key) from None
        except OSError as error:
            raise StoreError(f"cannot read {key} from {self.url}: {error}") from error

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def keys(self, folder: str) -> list[str]:
        top = self._path(folder)
        try:
            # _write's temporary files start with a dot: a write in progress is no object yet.
            files = [p for p in top.rglob("*") if p.is_file() and not p.name.startswith(".")]
        except OSError as error:
            raise StoreError(f"cannot list {folder} in {self.url}: {error}") from error
        return sorted(p.relative_to(self.root).as_posix() for p in files)

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as error:
            raise StoreError(f"cannot delete {key} from {self.url}: {error}") from error

    def manifest_tag(self) -> str | None:
        try:
            stat = self._path(MANIFEST_KEY).stat()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StoreError(f"cannot stat {MANIFEST_KEY} in {self.url}: {error}") from error
        # The inode changes on every os.replace, even when two writes share an mtime tick.
        return f"{stat.st_ino}-{stat.st_mtime_ns}-{stat.st_size}"

    def _write(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
            try:
                with os.fdopen(handle, "wb") as file:
                    file.write(data)
                    file.flush()
                    os.fsync(file.fileno())
                os.chmod(temporary, 0o644)  # mkstemp creates 0600; other users may serve it
                os.replace(temporary, path)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
            directory = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)  # make the rename itself durable
            finally:
                os.close(directory)
        except OSError as error:
            raise StoreError(f"cannot write {key} to {self.url}: {error}") from error


class S3Store(ModelStore):
    """A store under `s3://bucket/prefix`, addressed path-style; endpoint and credentials come
    from boto3's usual sources (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, ...)."""

    def __init__(self, bucket: str, prefix: str = "", client: Any = None) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._client = client or _s3_client()
        self._errors = (BotoCoreError, ClientError)

    def _key(self, key: str) -> str:
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def read(self, key: str) -> bytes:
        try:
            reply = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
            return reply["Body"].read()
        except self._errors as error:
            raise self._translate(error, key, "read") from error

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def keys(self, folder: str) -> list[str]:
        skip = len(self.prefix) + 1 if self.prefix else 0  # "prefix/" before every key
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key(folder) + "/"
            )
            objects = [item for page in pages for item in page.get("Contents", [])]
        except self._errors as error:
            raise self._translate(error, folder, "list") from error
        return sorted(item["Key"][skip:] for item in objects)

    def delete(self, key: str) -> None:
        # S3 answers a DELETE of a missing key with success too.
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except self._errors as error:
            raise self._translate(error, key, "delete") from error

    def manifest_tag(self) -> str | None:
        head = self._head(MANIFEST_KEY)
        return None if head is None else head["ETag"]

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return dict(self._client.head_object(Bucket=self.bucket, Key=self._key(key)))
        except self._errors as error:
            translated = self._translate(error, key, "stat")
            if isinstance(translated, ArtifactMissing):
                return None
            raise translated from error

    def _write(self, key: str, data: bytes, content_type: str) -> None:
        # A single PUT is atomic in S3: readers see the whole old object or the whole new one.
        try:
            self._client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type
            )
        except self._errors as error:
            raise self._translate(error, key, "write") from error

    def _translate(self, error: Exception, key: str, action: str) -> StoreError:
        """Our exception for a boto3 one: a missing key, or any other failure."""
        response = getattr(error, "response", None) or {}
        if str(response.get("Error", {}).get("Code", "")) in ("404", "NoSuchKey", "NotFound"):
            return ArtifactMissing(self.url, key)
        return StoreError(f"cannot {action} {key} in {self.url}: {error}")


def _s3_client() -> Any:
    """A thread-safe S3 client with path-style addressing and short timeouts."""
    import boto3
    from botocore.config import Config

    config = Config(
        s3={"addressing_style": "path"},
        connect_timeout=_S3_CONNECT_TIMEOUT,
        read_timeout=_S3_READ_TIMEOUT,
        retries={"max_attempts": _S3_ATTEMPTS, "mode": "standard"},
    )
    return boto3.client("s3", config=config)


def open_store(location: str | os.PathLike[str]) -> ModelStore:
    """The store `RPS_MODEL_STORE` names: `s3://bucket/prefix`, or else a folder."""
    text = os.fspath(location)
    if text.startswith("s3://"):
        bucket, _, prefix = text.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"model store URL {text!r} names no bucket")
        return S3Store(bucket, prefix)
    if "://" in text:
        raise ValueError(f"model store {text!r}: use a folder or s3://bucket/prefix")
    return FolderStore(text)

"""Data files of Delta tables kept in memory, keyed by their path: a Delta data file is written
once under a unique name and never changed (a commit replaces a file by adding a new one and
removing the old from the log), so the bytes under a path are the same in every version that
lists it. Which files a read reads still comes from the table's latest version (the log), so a
cached file is only ever read when that version holds it.

On S3 each read of a parquet file costs a few GETs (footer, then column chunks); a process
that reads the same small hot tables again and again (the ledger, `talks`) then reads from
memory. One object per process, bounded in bytes (least recently used out first); files larger
than `max_file_bytes` are never kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import pyarrow as pa
import pyarrow.fs as pa_fs


class FileCache:
    """Bytes of immutable files by key, least recently used out first."""

    def __init__(self, max_bytes: int, *, max_file_bytes: int | None = None) -> None:
        self.max_bytes = max_bytes
        self.max_file_bytes = max_bytes // 4 if max_file_bytes is None else max_file_bytes
        self._files: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def size(self) -> int:
        return self._size

    def get(self, key: str) -> bytes | None:
        with self._lock:
            data = self._files.get(key)
            if data is None:
                self.misses += 1
                return None
            self._files.move_to_end(key)
            self.hits += 1
            return data

    def put(self, key: str, data: bytes) -> None:
        if len(data) > self.max_file_bytes:
            return
        with self._lock:
            if key in self._files:
                return
            self._files[key] = data
            self._size += len(data)
            while self._size > self.max_bytes and self._files:
                _, old = self._files.popitem(last=False)
                self._size -= len(old)


class CachedFiles(pa_fs.FileSystemHandler):
    """A pyarrow filesystem handler over a table's own (`inner`, delta-rs's storage handler)
    that reads each data file whole once (one GET) and serves it from `cache` after; `prefix`
    (the table's URI) makes the keys unique across tables; `sizes` are the sizes of the data
    files of the version read (from its log)."""

    def __init__(self, inner: Any, cache: FileCache, prefix: str, sizes: dict[str, int]) -> None:
        self.inner, self.cache, self.prefix, self.sizes = inner, cache, prefix, sizes

    def _bytes(self, path: str) -> bytes | None:
        key = f"{self.prefix}/{path}"
        data = self.cache.get(key)
        if data is None:
            size = self.sizes.get(path)
            if size is None or size > self.cache.max_file_bytes:
                return None  # not a data file of the version read, or too large: read as is
            handle = self.inner.open_input_file(path)
            try:
                data = handle.read()
            finally:
                handle.close()
            self.cache.put(key, data)
        return data

    def open_input_file(self, path: str) -> Any:
        data = self._bytes(path)
        return self.inner.open_input_file(path) if data is None else pa.BufferReader(data)

    def open_input_stream(self, path: str) -> Any:
        data = self._bytes(path)
        return self.inner.open_input_stream(path) if data is None else pa.BufferReader(data)

    # Everything else is the table's own storage, unchanged.
    def get_type_name(self) -> str:
        return "podium-cached-" + self.inner.get_type_name()

    def equals(self, other: Any) -> bool:
        return other is self

    def normalize_path(self, path: str) -> str:
        return self.inner.normalize_path(path)

    def get_file_info(self, paths: list[str]) -> Any:
        return self.inner.get_file_info(paths)

    def get_file_info_selector(self, selector: Any) -> Any:
        return self.inner.get_file_info_selector(selector)

    def create_dir(self, path: str, recursive: bool) -> None:
        self.inner.create_dir(path, recursive)

    def delete_dir(self, path: str) -> None:
        self.inner.delete_dir(path)

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        self.inner.delete_dir_contents(path, missing_dir_ok)

    def delete_root_dir_contents(self) -> None:
        self.inner.delete_root_dir_contents()

    def delete_file(self, path: str) -> None:
        self.inner.delete_file(path)

    def move(self, src: str, dest: str) -> None:
        self.inner.move(src, dest)

    def copy_file(self, src: str, dest: str) -> None:
        self.inner.copy_file(src, dest)

    def open_output_stream(self, path: str, metadata: Any = None) -> Any:
        return self.inner.open_output_stream(path, metadata)

    def open_append_stream(self, path: str, metadata: Any = None) -> Any:
        return self.inner.open_append_stream(path, metadata)

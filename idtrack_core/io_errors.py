"""Write failures made clean: no space left, read-only file system, permission denied.

Every local write of idtrack_core goes through :func:`writing` (or :func:`h5_output` for HDF5), which turns
those ``OSError`` s into an :class:`~idtrack_core.errors.OutputWriteError` naming the path, what went wrong and the
free space seen (and needed, when known). Writers publish atomically (temporary file or folder, then rename), so
a failed write leaves the previous good output as it was and removes its temporary files.

HDF5 cannot survive a failed write: once a write fails inside the library, closing the file or freeing a dataset
handle later may crash the interpreter (a segmentation fault). :func:`h5_output` hands ``h5py.File`` a
:class:`GuardedFile`, a file object whose writes never fail: it records the first error and keeps every later
write in memory (so HDF5 reads back what it wrote, stays consistent and closes cleanly); the writer checks for the
error after each step and at the end, and the half-written file is then removed.
"""

from __future__ import annotations

import bisect
import errno
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from idtrack_core.errors import OutputWriteError

#: errno values that mean "this output cannot be written here" (as opposed to a bug or a network error)
WRITE_ERRNOS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large for the file system",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}


def human_bytes(n: float) -> str:
    """``1536`` → ``"1.5 KiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def free_bytes(path: str) -> int | None:
    """Free bytes (for an unprivileged user) on the file system holding ``path`` or its nearest existing folder."""
    folder = os.path.abspath(path)
    while folder and not os.path.exists(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def output_write_error(
    exc: OSError, path: str, needed: int | None = None, written: int | None = None
) -> OutputWriteError:
    """The :class:`OutputWriteError` for ``exc`` raised while writing ``path``.

    Parameters
    ----------
    exc
        The ``OSError`` (its errno picks the wording).
    path
        What was being written (a file or a folder being published).
    needed
        Bytes the write needed in all, when known.
    written
        Bytes written before the failure, when known.
    """
    reason = WRITE_ERRNOS.get(exc.errno or 0, exc.strerror or str(exc))
    details = []
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        if needed is not None:
            details.append(f"needs {human_bytes(needed)}")
        if written is not None:
            details.append(f"{human_bytes(written)} written before the failure")
        free = free_bytes(path)
        if free is not None:
            details.append(f"{human_bytes(free)} free there")
    where = str(exc.filename) if exc.filename else ""
    if where and ".tmp-" not in where and os.path.abspath(where) != os.path.abspath(path):
        details.append(f"at {where}")
    suffix = f" ({'; '.join(details)})" if details else ""
    error = OutputWriteError(f"cannot write {path}: {reason}{suffix}; nothing was changed there")
    error.errno = exc.errno
    return error


def is_write_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is an ``OSError`` meaning "cannot write here" (:data:`WRITE_ERRNOS`)."""
    return isinstance(exc, OSError) and not isinstance(exc, OutputWriteError) and exc.errno in WRITE_ERRNOS


@contextmanager
def writing(path: str, needed: int | None = None) -> Iterator[None]:
    """Turn a write failure inside the block into an :class:`OutputWriteError` naming ``path``.

    Parameters
    ----------
    path
        The output being written (shown to the user).
    needed
        Bytes the block writes, when known (shown with the free space for "no space left").
    """
    try:
        yield
    except OSError as exc:
        if is_write_failure(exc):
            raise output_write_error(exc, path, needed=needed) from exc
        raise


def check_writable_folder(folder: str) -> None:
    """Check that files can be created in ``folder`` (or, when it does not exist yet, in the nearest existing
    parent, where it would be created) by creating and removing a probe file.

    Raises
    ------
    OutputWriteError
        Nothing can be written there (read-only file system, permission denied, no space).
    """
    target = os.path.abspath(folder or ".")
    probe_in = target
    while not os.path.isdir(probe_in):
        if os.path.exists(probe_in):
            raise OutputWriteError(f"cannot write {folder}: {probe_in} exists and is not a folder")
        parent = os.path.dirname(probe_in)
        if parent == probe_in:
            break
        probe_in = parent
    try:
        with tempfile.NamedTemporaryFile(dir=probe_in, prefix=".idtrack-probe-"):
            pass
    except OSError as exc:
        if is_write_failure(exc):
            shown = folder if probe_in == target else f"{folder} (to be created in {probe_in})"
            raise output_write_error(OSError(exc.errno, exc.strerror), shown) from exc  # not the probe's name
        raise


class GuardedFile(io.RawIOBase):
    """A local file for ``h5py.File`` (its ``fileobj`` driver) whose writes never fail (see the module docstring).

    After the first failed write, later writes go to an in-memory overlay instead of the disk, and reads see them:
    HDF5 keeps a consistent view of its own file until it is closed (the writer stops at its next :meth:`check`,
    so the overlay holds at most what was written in between) and the file is then removed.

    Parameters
    ----------
    path
        The file to create (truncated if it exists).

    Attributes
    ----------
    error
        The first ``OSError`` a write or truncate met, or None.
    written
        Bytes written to the disk.
    """

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o666)
        self._pos = 0
        self._size = 0  # the file's size as HDF5 sees it (the disk's, or larger through the overlay)
        self._overlay = _Overlay()
        self.error: OSError | None = None
        self.written = 0

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        n = min(len(view), max(0, self._size - self._pos))
        got = os.preadv(self._fd, [view[:n]], self._pos) if n else 0
        if got < n:  # beyond what reached the disk (discarded after a failure): zeros, then the overlay
            view[got:n] = bytes(n - got)
        if self.error is not None:
            self._overlay.patch(self._pos, view[:n])
        self._pos += n
        return n

    def write(self, data: bytes) -> int:  # type: ignore[override]
        view = memoryview(data).cast("B")
        if self.error is None:
            try:
                done = 0
                while done < len(view):
                    n = os.pwrite(self._fd, view[done:], self._pos + done)
                    if not n:  # a regular file writes short only when the disk is full
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.path)
                    done += n
                    self.written += n
            except OSError as exc:
                self.error = exc
        if self.error is not None:
            self._overlay.put(self._pos, bytes(view))
        self._pos += len(view)
        self._size = max(self._size, self._pos)
        return len(view)

    def truncate(self, size: int | None = None) -> int:
        size = self._pos if size is None else size
        if self.error is None:
            try:
                os.ftruncate(self._fd, size)
            except OSError as exc:
                self.error = exc
        self._size = size
        return size

    def flush(self) -> None:
        return None

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()

    def check(self, shown: str) -> None:
        """Raise the :class:`OutputWriteError` (naming ``shown``, the output this file becomes) of the first failed
        write, if any."""
        if self.error is not None:
            raise output_write_error(self.error, shown, written=self.written)


@dataclass(frozen=True)
class H5Output:
    """An HDF5 output being written: its :class:`GuardedFile` and the name the user knows it by."""

    file: GuardedFile
    shown: str

    def check(self) -> None:
        """Raise the :class:`OutputWriteError` of the first failed write, if any (call it after each step)."""
        self.file.check(self.shown)


@contextmanager
def h5_output(local_path: str, shown: str) -> Iterator[tuple[Any, H5Output]]:
    """An ``h5py.File`` created at ``local_path`` that cannot crash the interpreter when the disk fills up.

    Parameters
    ----------
    local_path
        The file to create (a temporary name: the caller renames it when complete, or removes it).
    shown
        The output's name for errors (``out``, not the temporary name).

    Yields
    ------
    tuple
        The open ``h5py.File`` and its :class:`H5Output` (whose ``check()`` stops a long write early).

    Raises
    ------
    OutputWriteError
        A write failed (no space, …); HDF5 was kept consistent and the file is closed.
    """
    import h5py

    output = H5Output(GuardedFile(local_path), shown)
    try:
        with h5py.File(output.file, "w") as h5:
            yield h5, output
    except Exception:
        output.check()  # a failed write is the cause of whatever failed after it
        raise
    finally:
        output.file.close()
    output.check()


class _Overlay:
    """Non-overlapping byte ranges written after a failure (start → bytes), newest writes winning."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._data: dict[int, bytes] = {}

    def put(self, start: int, data: bytes) -> None:
        end = start + len(data)
        i = max(bisect.bisect_right(self._starts, start) - 1, 0)
        while i < len(self._starts) and self._starts[i] < end:
            s = self._starts[i]
            old = self._data[s]
            if s + len(old) <= start:
                i += 1
                continue
            del self._starts[i], self._data[s]
            if s < start:  # keep the head of the old range
                self._insert(s, old[: start - s])
                i += 1
            if s + len(old) > end:  # keep its tail
                self._insert(end, old[end - s :])
        self._insert(start, data)

    def _insert(self, start: int, data: bytes) -> None:
        bisect.insort(self._starts, start)
        self._data[start] = data

    def patch(self, start: int, view: memoryview) -> None:
        """Copy the overlay's bytes over ``view``, which holds the file's bytes from ``start``."""
        end = start + len(view)
        i = max(bisect.bisect_right(self._starts, start) - 1, 0)
        while i < len(self._starts) and self._starts[i] < end:
            s = self._starts[i]
            data = self._data[s]
            lo, hi = max(s, start), min(s + len(data), end)
            if lo < hi:
                view[lo - start : hi - start] = data[lo - s : hi - s]
            i += 1

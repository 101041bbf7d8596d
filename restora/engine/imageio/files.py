"""Atomic writes: a temporary file beside the target, renamed into place, so a failed or
cancelled write never leaves a half-written file. Also what may name an output at all."""
from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

from ..jobs import BadInputError

#: our temporary files: ".NAME.restora-" + mkstemp's 8 random characters + ".part". The
#: "restora-" makes them unmistakably ours: the sweep deletes what matches, and other programs
#: leave names like ".thesis.chapter1.part" or ".video.mp4.download.part" too.
_PART_NAME = re.compile(r"^\..*\.restora-[a-z0-9_]{8}\.part$")
_PART_NAME_BYTES = 100   # of the target's name in the part name, which must stay under NAME_MAX (255)
_STALE_PART_S = 600      # a write that has not touched its part file for 10 minutes is dead
_SWEEP_EVERY_S = 60      # a batch writing thousands of files scans its folder once a minute
_swept: dict[str, float] = {}
_sweep_lock = threading.Lock()
_umask_lock = threading.Lock()


def atomic_write_bytes(path: Path, data: bytes, mode: Optional[int] = None, replace: bool = True) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place.

    A replaced file keeps its mode; a new one gets ``mode``, by default the one a plain
    ``open()`` would give it (0o666 minus the umask). A symlink keeps pointing at its
    (rewritten) target. With ``replace=False`` a file that appeared at ``path`` since the
    caller looked is never replaced (FileExistsError): the part file is hard-linked into
    place, which fails if the name is taken, where a rename would silently replace it.
    """
    path = Path(path)
    check_target(path)
    path = _write_target(path)
    mode = _mode_for(path, mode)
    _sweep_stale_parts(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{_short(path.name)}.restora-", suffix=".part", dir=path.parent)
    try:
        try:
            if mode is not None:
                os.fchmod(fd, mode)  # mkstemp made it 0600, which os.replace would keep
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            os.replace(tmp, path)
        else:
            _place_new(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


#: what os.link says where a file system has no hard links (FAT, exFAT, some network shares;
#: Windows: ERROR_INVALID_FUNCTION, ERROR_NOT_SUPPORTED): only then check-and-rename instead
_NO_LINKS_ERRNO = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EXDEV}
_NO_LINKS_WINERROR = {1, 50}


def _place_new(tmp: str, path: Path) -> None:
    """Put the finished part file at ``path`` only if nothing is there (atomically)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in _NO_LINKS_ERRNO and getattr(exc, "winerror", None) not in _NO_LINKS_WINERROR:
            raise   # a full disk, an I/O error: the write fails, it does not lose the no-replace rule
        if os.path.lexists(path):
            raise FileExistsError(17, "File exists", str(path)) from None
        os.replace(tmp, path)
        return
    with contextlib.suppress(OSError):   # the photo is in place; a part file held open (an
        os.unlink(tmp)                   # indexer, on Windows) is swept later


def as_path(path) -> Path:
    """``path`` as a Path, or a BadInputError for what cannot name a file (None, a number,
    a NUL character, which the OS refuses with a ValueError)."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise BadInputError(f"expected a file path (str or Path), got {type(path).__name__}")
    text = os.fsdecode(path)
    if "\x00" in text:
        shown = text.replace("\x00", "\\0")
        raise BadInputError(f"{shown}: a file name cannot contain a NUL character")
    return Path(text)


def check_target(path: Path) -> None:
    """Refuse to write to ``path`` when what is there is not a regular file: renaming onto a
    device node, FIFO or socket would replace the node itself (as root, an ``out.png`` that
    links to /dev/null would replace /dev/null), and a link to a missing file would create a
    file wherever the link points."""
    try:
        st = os.stat(path)  # follows links: what a symlink names is what gets written
    except FileNotFoundError:
        if os.path.islink(path):
            raise BadInputError(f"{path}: is a link to a missing file") from None
        return
    except OSError as exc:  # too long a name, a loop of links, a file used as a folder...
        raise BadInputError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    if stat.S_ISDIR(st.st_mode):
        raise BadInputError(f"{path}: is a folder, expected a file name")
    if not stat.S_ISREG(st.st_mode):
        raise BadInputError(f"{path}: is not a regular file (a device, pipe or socket)")


def _short(name: str) -> str:
    """At most _PART_NAME_BYTES of ``name`` (UTF-8, whole characters), so that a long but valid
    target name still leaves room for the part file's own additions."""
    return name.encode("utf-8", "surrogateescape")[:_PART_NAME_BYTES].decode("utf-8", "ignore")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]  # os.write may write less than asked


def _write_target(path: Path) -> Path:
    """Where the bytes go: through a symlink to the file it names (renaming onto the link
    itself would replace it by a regular file and leave the target stale)."""
    return Path(os.path.realpath(path)) if os.path.islink(path) else path


def _mode_for(path: Path, new_mode: Optional[int]) -> Optional[int]:
    if os.name == "nt":  # no POSIX modes to carry
        return None
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return new_mode if new_mode is not None else 0o666 & ~_umask()


def _umask() -> int:
    """The process umask. Linux shows it in /proc; elsewhere it can only be read by setting
    it, so set a strict one for that instant (a file another thread creates meanwhile is
    private, not world-writable) and put it back, under a lock."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    with _umask_lock:
        old = os.umask(0o077)
        os.umask(old)
    return old


def _sweep_stale_parts(folder: Path) -> None:
    """Delete our own temporary files that a killed write left behind, once they are old
    enough that no live write can own them. Only names of our pattern; errors ignored."""
    key, now = os.path.abspath(folder), time.time()
    with _sweep_lock:
        if now - _swept.get(key, float("-inf")) < _SWEEP_EVERY_S:
            return
        _swept[key] = now
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if not _PART_NAME.match(entry.name):
            continue
        with contextlib.suppress(OSError):
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and now - st.st_mtime > _STALE_PART_S:
                os.unlink(entry.path)

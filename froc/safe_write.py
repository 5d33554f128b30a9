"""Writing only where asked: output files replace a symlink itself (never its target), output folders that
are symlinks are replaced by real folders, and writes are atomic (a failure leaves neither a half-written
file nor a temporary one).

A symlink planted in an output folder (``report.html -> ~/.bashrc``, ``plots -> ~/Pictures``) would
otherwise make froc overwrite, or delete files in, a place the user never named. ``os.replace`` of a
temporary file onto a link replaces the link; ``Path.unlink`` of a link removes the link only.
"""

from __future__ import annotations

import os
from pathlib import Path


def replace_link(path: str | Path) -> Path:
    """Remove ``path`` if it is a symlink (the link, not its target), so the next write creates a real file."""
    p = Path(path)
    if p.is_symlink():
        p.unlink()
    return p


def own_dir(path: str | Path) -> Path:
    """Make ``path`` a real folder: a symlink there is removed (its target untouched) and a folder created."""
    p = replace_link(path)
    p.mkdir(parents=True, exist_ok=True)
    return p


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + ``os.replace``), replacing a symlink itself.

    The temporary file ``.NAME.tmpPID`` is removed when the write fails (e.g. a full disk)."""
    p = Path(path)
    tmp = _tmp(p)
    try:
        replace_link(tmp)
        tmp.write_bytes(data)
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return p


def write_text(path: str | Path, text: str) -> Path:
    """:func:`write_bytes` of UTF-8 text."""
    return write_bytes(path, text.encode("utf-8"))


def write_with(path: str | Path, writer) -> Path:
    """Atomically write ``path`` with ``writer(tmp_path)`` (e.g. ``lambda t: df.to_parquet(t)``); see
    :func:`write_bytes`."""
    p = Path(path)
    tmp = _tmp(p)
    try:
        replace_link(tmp)
        writer(tmp)
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return p


def clean_stale_tmp(folder: str | Path, pattern: str = "*.tmp*") -> list[Path]:
    """Remove temporary entries ``NAME.tmpPID`` in ``folder`` whose process ``PID`` is dead (a kill -9 left
    them); entries of live processes are kept. Returns what was removed."""
    import shutil

    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for p in folder.glob(pattern):
        pid = p.name.rsplit(".tmp", 1)[-1]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        removed.append(p)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True

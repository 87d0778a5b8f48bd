"""Writing files: atomically (write beside the target, then rename over it, so a reader or a crash never sees
half a file and what was on disk stays intact until the new version is complete), and JSON in one convention."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp makes 0600 files; a result should be readable as any file the user writes (0666 less the umask)
FILE_MODE = 0o666 & ~_umask()


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; on success it replaces `path` (os.replace). A target
    that cannot be written (a directory, a read-only or full filesystem) is a ScalingError naming the target,
    not the temporary file."""
    from scaling.errors import ScalingError

    path = Path(path)
    if path.is_dir():
        raise ScalingError(f"cannot write {path}: it is a directory (give a file path, e.g. {path / path.name}.json)")
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        if hasattr(os, "fchmod"):  # POSIX (and Windows from Python 3.13)
            os.fchmod(fd, FILE_MODE)
        os.close(fd)
        yield Path(tmp)
        os.replace(tmp, path)
    except OSError as err:
        raise ScalingError(f"cannot write {path}: {err.strerror or err}") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def replace_together(files: dict, remove=()) -> list[Path]:
    """Write several files as one change: each is first written in full beside its target (`atomic_path`), and
    only when all are written do they replace their targets (then the `remove` paths that exist are deleted:
    outputs of an earlier write that this one no longer makes). A target that cannot be written (a directory, a
    read-only or full filesystem) is a ScalingError naming it, and leaves every target as it was. `files` maps a
    path to its bytes or text; returns the paths removed."""
    from scaling.errors import ScalingError

    targets = {Path(p): (v.encode() if isinstance(v, str) else v) for p, v in files.items()}
    for path in targets:  # before anything is staged, with a hint that fits several outputs
        if path.is_dir():
            raise ScalingError(f"cannot write {path}: a directory is in the way (move it, then run again)")
    try:
        # each atomic_path replaces its target as the stack closes, after every file is staged; an error while
        # staging closes them all unreplaced, their temporary files removed
        with ExitStack() as stack:
            for path, data in targets.items():
                stack.enter_context(atomic_path(path)).write_bytes(data)
    except ScalingError as err:
        raise ScalingError(f"{err}; nothing was changed") from None
    removed = [Path(p) for p in remove if Path(p).is_file() and Path(p) not in targets]
    for path in removed:
        path.unlink()
    return removed


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def json_ready(value):
    """The project's JSON convention: numpy scalars and arrays become Python numbers and lists, and NaN and
    infinity (which JSON lacks) become null. Every JSON file the project writes goes through it."""
    import math

    import numpy as np

    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [json_ready(v) for v in value]
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def atomic_write_json(path: str | Path, value) -> None:
    """`value` as indented JSON (through `json_ready`), written atomically."""
    atomic_write_text(path, json_text(value))


def json_text(value) -> str:
    """`value` as the project writes JSON files: indented, through `json_ready`."""
    import json

    return json.dumps(json_ready(value), indent=2) + "\n"

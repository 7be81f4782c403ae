"""Output files a command writes after its runs, claimed before they start.

A path whose folder exists may still be one where no file can be made (under
``/proc``, on a read-only mount, in a folder the user may not write to): a
check of the folder alone lets the runs go ahead and fail at the end.
:class:`OutputFiles` opens each path for appending before anything runs
(which creates the file if it is absent, and changes nothing if it is
there), refuses it with a :class:`~taskletsim.core.config.ConfigError` if
that fails, and removes the files it created if the command fails.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from ..core.config import ConfigError


class OutputFiles:
    """The output paths of one command, claimed before its runs (a context manager: on
    an exception, the files it created are removed)."""

    def __init__(self) -> None:
        self._created: list[Path] = []

    def claim(self, flag: str, path: str | Path, suffixes: tuple[str, ...]) -> Path:
        """``path`` for ``flag``, checked: it ends in one of ``suffixes`` and a file can be
        made there. Raises :class:`ConfigError` naming the flag and the path."""
        text = str(path)
        if not text.endswith(suffixes):
            raise ConfigError(flag, text, "a path ending in " + " or ".join(suffixes))
        target = Path(text)
        existed = target.exists()
        if target.is_dir():
            raise ConfigError(flag, text, "a file path, not a folder")
        try:
            with open(target, "ab"):
                pass
        except OSError as error:
            reason = error.strerror or type(error).__name__
            raise ConfigError(
                flag, text, f"a path where a file can be written ({reason})"
            ) from None
        if not existed:
            self._created.append(target)
        return target

    def probe(self, flag: str, path: str | Path, suffixes: tuple[str, ...]) -> Path:
        """:meth:`claim` ``path``, and remove the file again if it was made here: for an
        output written as the runs go (a sweep's rows, which a rerun resumes from)."""
        target = self.claim(flag, path, suffixes)
        if self._created and self._created[-1] == target:
            self._created.pop()
            target.unlink()
        return target

    def __enter__(self) -> OutputFiles:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            return
        for path in self._created:
            path.unlink(missing_ok=True)

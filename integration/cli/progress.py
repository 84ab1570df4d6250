"""Progress of a long command: a line on a terminal, silence under cron.

The services (the sync, the storage queue, the export, the retention, the imports) take a
``progress`` callback and never print. The command makes a `Progress` and hands it over:

- on a terminal (standard error is a TTY), one line rewritten in place at most twice a
  second: « 12/40 personnes · cours 1/3 · 57 appels · reste environ 1 min 20 s »;
- otherwise (cron, a systemd timer, a pipe), nothing while it runs; the command prints
  its usual one-line summary at the end.

The callback receives ``counts`` (label → a number, or ``(done, total)``; a label ending
in « octets » is shown in Mo) and ``fraction`` (0 to 1 when the share done is known: it
gives the time left).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import TextIO

import click

from ..ops import ProgressFn

Count = int | tuple[int, int]
__all__ = ["Progress", "ProgressFn", "duration", "line", "stderr_is_terminal"]

MB = 1024 * 1024


def stderr_is_terminal() -> bool:
    """True when standard error is a terminal someone is watching (not cron, not a pipe)."""
    stream = sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _count(label: str, value: Count) -> str:
    if label.endswith("octets"):
        words = label[: -len("octets")].strip()
        done, total = value if isinstance(value, tuple) else (value, 0)
        text = f"{done / MB:.1f} Mo {words}".strip()
        return f"{text} sur {total / MB:.1f} Mo" if total else text
    if isinstance(value, tuple):
        return f"{value[0]}/{value[1]} {label}"
    return f"{value} {label}"


def duration(seconds: float) -> str:
    """« 45 s », « 3 min 05 s », « 1 h 02 min »."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def line(counts: Mapping[str, Count], fraction: float | None, elapsed: float) -> str:
    """The progress line for these counts (pure, for tests)."""
    parts = [_count(label, value) for label, value in counts.items()]
    if fraction is not None and fraction > 0:
        share = min(fraction, 1.0)
        parts.append(f"{int(share * 100)} %")
        # A guess only once a little is done and a second has passed.
        if share >= 0.02 and elapsed >= 1 and share < 1:
            parts.append(f"reste environ {duration(elapsed * (1 - share) / share)}")
    return " · ".join(parts)


class Progress:
    """The callback a command gives a service (see the module's docstring)."""

    #: Seconds between two lines on a terminal.
    every = 0.5

    def __init__(
        self,
        shown: bool | None = None,
        *,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.shown = stderr_is_terminal() if shown is None else shown
        self._stream = stream
        self._clock = clock
        self.started = clock()
        self._last: float | None = None
        self._width = 0

    def __call__(self, counts: Mapping[str, Count], fraction: float | None = None) -> None:
        if not self.shown:
            return
        now = self._clock()
        if self._last is not None and now - self._last < self.every:
            return
        self._last = now
        text = line(counts, fraction, now - self.started)
        padding = " " * max(0, self._width - len(text))
        self._width = len(text)
        click.echo(f"\r{text}{padding}", err=True, nl=False, file=self._stream)

    def bytes_read(self, done: int, total: int) -> None:
        """For readers that count bytes (`referentiels.importers.rncp_export.Progress`)."""
        self({"lus octets": (done, total) if total else done},
             done / total if total else None)

    @property
    def elapsed(self) -> float:
        return self._clock() - self.started

    def end(self) -> None:
        """Leave the terminal's line clean before the summary (nothing under cron)."""
        if self.shown and self._last is not None:
            click.echo("\r" + " " * self._width + "\r", err=True, nl=False, file=self._stream)
            self._last = None
            self._width = 0


def progress_option(command: Callable[..., object]) -> Callable[..., object]:
    """``--progress/--no-progress``: show it (default: only when standard error is a terminal)."""
    return click.option(
        "--progress/--no-progress", "progress", default=None,
        help="Show progress (default: only on a terminal; never under cron).",
    )(command)

"""ops"""

from collections.abc import Callable, Mapping

#: The progress callback long services take (drawn by integration/cli/progress.py): counts
#: (label → a number or ``(done, total)``) and the share done (0 to 1) when it is known.
ProgressFn = Callable[[Mapping[str, "int | tuple[int, int]"], "float | None"], None]

"""How a workflow job starts and ends: its log, its one-line errors, and which failures a retry skips.

A config or data problem inside a job (an `ExpectedError`) reaches the user as one line naming the
key or file; its traceback goes to the job's log only. Anything else is a bug and keeps its traceback.

Retries exist for preemption: SIGTERM makes training checkpoint and exit (status 143), a killed node
raises nothing, and the next attempt resumes. A Python exception, though, would only happen again
with the same inputs, so it is noted beside the log, and a retry of that job ends at once with the
same message instead of redoing the work. I/O errors (OSError) are the exception: a network or file
system hiccup may pass.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Iterator

from .logs import FILE_ONLY, setup_logging

log = logging.getLogger(__name__)

NOT_RETRIED_SUFFIX = ".not-retried"


class ExpectedError(Exception):
    """A problem with the config or the data, not a bug: shown as one line that names the key or file."""


@contextlib.contextmanager
def job(log_path: str | os.PathLike, attempt: int | None = None) -> Iterator[None]:
    """Run a job's body with logging to `log_path`; see the module docstring.

    `attempt` (Snakemake's, from 1) turns on the retry check: give it for rules with `retries`.
    """
    setup_logging(log_path)
    note = Path(f"{log_path}{NOT_RETRIED_SUFFIX}")
    if attempt is not None:
        if attempt > 1 and note.is_file():
            message = note.read_text(encoding="utf-8").strip()
            log.error("attempt %d: not retried, the previous attempt failed with: %s", attempt, message)
            sys.exit(f"error (not retried: a retry would fail the same way): {message}")
        note.unlink(missing_ok=True)
    try:
        yield
    except ExpectedError as error:
        log.error("%s", error, exc_info=True, extra={FILE_ONLY: True})
        if attempt is not None:
            note.write_text(f"{error}\n", encoding="utf-8")
        sys.exit(f"error: {error} (details in {log_path})")
    except Exception as error:
        if attempt is not None and not isinstance(error, OSError):
            note.write_text(f"{type(error).__name__}: {error}\n", encoding="utf-8")
        raise

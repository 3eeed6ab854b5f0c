"""Logging set-up shared by the Snakemake scripts: one log file per job, plus stderr."""

from __future__ import annotations

import logging
import os
import sys

FILE_ONLY = "file_only"  # `extra={FILE_ONLY: True}`: the record (e.g. a traceback) goes to the log file only


def setup_logging(log_path: str | os.PathLike | None = None, level: int = logging.INFO) -> None:
    """Send the `audiogan` loggers to `log_path` (if given) and stderr, with timestamps."""
    console = logging.StreamHandler(sys.stderr)
    console.addFilter(lambda record: not getattr(record, FILE_ONLY, False))
    handlers: list[logging.Handler] = [console]
    if log_path:
        os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w", encoding="utf-8"))
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )

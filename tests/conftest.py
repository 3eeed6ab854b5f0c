"""Shared test set-up: the library is imported from src/ (no install needed to run the tests)."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

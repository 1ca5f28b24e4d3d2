"""Where the run modes find the pages and keep their state (the repository's folders by default)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[4]


def frontend_dir() -> Path:
    return Path(os.environ.get("FRONTEND_DIR", REPO_ROOT / "frontend")).resolve()


def var_dir() -> Path:
    return Path(os.environ.get("VAR_DIR", REPO_ROOT / "var")).resolve()

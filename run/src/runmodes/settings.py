"""Where the run modes find the pages and keep their state: FRONTEND_DIR and VAR_DIR, by default
the frontend/ and var/ folders of the workspace the run modes are installed from."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The workspace's lock file: the folder that holds it is the repository root.
WORKSPACE_MARKER = "uv.lock"


def workspace_root() -> Path:
    """The uv workspace this package is installed (editable) from."""
    here = Path(__file__).resolve()
    for folder in here.parents:
        if (folder / WORKSPACE_MARKER).is_file():
            return folder
    raise LookupError(
        f"no {WORKSPACE_MARKER} above {here}: outside the workspace, set FRONTEND_DIR and VAR_DIR"
    )


class RunSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    frontend_dir: Path = Field(default_factory=lambda: workspace_root() / "frontend")
    # SQLite files, the signing key and the native stack's nginx state.
    var_dir: Path = Field(default_factory=lambda: workspace_root() / "var")

    @field_validator("frontend_dir", "var_dir")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        return path.resolve()

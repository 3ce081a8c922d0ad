"""Where gitkube keeps its state: ``$GITKUBE_DATA_DIR``, else ``$XDG_DATA_HOME/gitkube``
(``~/.local/share/gitkube``). Shared by the daemon and every CLI command, and kept free of heavy
imports so that short commands start fast."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_data_dir"]


def default_data_dir() -> Path:
    env = os.environ.get("GITKUBE_DATA_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "gitkube"

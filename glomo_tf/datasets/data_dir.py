"""Where the project's data sets live: the one setting every loader reads.

Order of precedence:

1. the environment variable `GLOMO_DATA_DIR`, when set and not empty;
2. `<repo root>/../shared/data`, when that folder exists (the repo root is the parent of
   the `glomo_tf` package directory; this is the layout of a development checkout with
   the staged data beside it);
3. `~/.cache/glomo_tf/data` (created on first download, not here).

Example:

>>> import os
>>> os.environ["GLOMO_DATA_DIR"] = "/tmp/glomo-data"
>>> str(data_dir())
'/tmp/glomo-data'
>>> del os.environ["GLOMO_DATA_DIR"]
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "GLOMO_DATA_DIR"

_REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def data_dir() -> Path:
    """Returns the data folder (see the module docstring for the rule)."""
    configured = os.environ.get(ENV_VAR, "").strip()
    if configured:
        return Path(configured).expanduser()
    shared = _REPO_ROOT.parent / "shared" / "data"
    if shared.is_dir():
        return shared
    return Path.home() / ".cache" / "glomo_tf" / "data"

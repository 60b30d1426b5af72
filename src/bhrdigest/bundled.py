"""What the package carries besides code: templates (digest and web), the sample feeds and
the demo subscriptions.yaml, found with importlib.resources.

In a wheel they live in bhrdigest/_data/: pyproject.toml maps the repository's top-level
templates/, samples/ and subscriptions.yaml there at build time, so staff edit one copy.
Run from a checkout (an editable install, the tests) the package has no such copies, and
the same files are read where they are, at the top of the repository.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

from bhrdigest.errors import ConfigError


def bundled_path(name: str) -> Path:
    """The bundled file or folder `name` (e.g. "templates/web", "subscriptions.yaml")."""
    for base in _bases():
        if (base / name).exists():
            return base / name
    raise ConfigError(f"cannot find the bundled {name} in this bhrdigest installation; reinstall bhrdigest")


def _bases() -> Iterator[Path]:
    packaged = files("bhrdigest") / "_data"
    if isinstance(packaged, Path):  # an installed wheel (not a zip import): real files
        yield packaged
    checkout = Path(__file__).resolve().parents[2]  # src/bhrdigest/bundled.py -> the repository
    if (checkout / "pyproject.toml").is_file():
        yield checkout

"""Where dataset files may live, and how relative image paths resolve safely inside a root."""

import os
from pathlib import Path

from django.conf import settings


class PathRefused(Exception):
    pass


def allowed_root(folder: str | Path) -> Path:
    """The folder resolved (symlinks too), if it lies inside one of settings.DATASET_ROOTS."""
    resolved = Path(folder).expanduser().resolve()
    if not resolved.is_dir():
        raise PathRefused(f"{folder} is not a folder")
    for root in settings.DATASET_ROOTS:
        if resolved == root or resolved.is_relative_to(root):
            return resolved
    roots = ", ".join(str(root) for root in settings.DATASET_ROOTS) or "(none configured)"
    raise PathRefused(f"{folder} is outside DATASET_ROOTS ({roots})")


def resolve_inside(root: str | Path, relative: str) -> Path:
    """The file `relative` under `root`, refused if it (or a symlink on its way) leaves the root."""
    base = Path(root).resolve()
    target = (base / relative).resolve()
    if not target.is_relative_to(base) or target == base:
        raise PathRefused(f"{relative!r} resolves outside the dataset root")
    return target


def index_files(root: Path) -> dict[str, list[str]]:
    """File name -> relative paths of every file under root (the NIH download spreads images
    over images_001/ ... images_012/, so files are found by name anywhere in the tree)."""
    found: dict[str, list[str]] = {}
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        relative_folder = os.path.relpath(folder, root)
        for name in sorted(files):
            relative = name if relative_folder == "." else f"{relative_folder}/{name}"
            found.setdefault(name, []).append(relative.replace(os.sep, "/"))
    return found

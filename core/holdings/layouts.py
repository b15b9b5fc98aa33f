"""Registrar file layouts: TOML files in ``registrars/`` that say which field holds what and
how transaction types count; a file is read with the layout whose fields it has.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from core import config

__all__ = ["Layout", "load_registrar_layouts"]


class Layout(BaseModel):
    """A registrar file layout: which field holds what, and how transaction types count."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    registrar: str
    kind: Literal["transactions", "holdings"]
    fields: dict[str, str]
    types: dict[str, tuple[str, ...]] = {}


def load_registrar_layouts(folder: Path | None = None) -> dict[str, Layout]:
    layouts = {}
    for path in sorted((folder or config.registrars_dir()).glob("*.toml")):
        try:
            layouts[path.stem] = Layout.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
        except (tomllib.TOMLDecodeError, ValidationError) as exc:
            raise ValueError(f"{path}: not a valid registrar layout ({exc})") from None
    return layouts


"""Readable messages for settings files (rule sets, profiles) that fail validation."""

from __future__ import annotations

import typing

from pydantic import BaseModel, ValidationError

__all__ = ["problems"]


def problems(exc: ValidationError, root: type[BaseModel]) -> list[tuple[list, str]]:
    """Each problem as ``(location, message)``, in words a person editing the file can act on.

    A misspelt key is named with the settings its section does have; pydantic's
    ``Value error,`` prefix is dropped; a list that is only too short because one of its
    items failed is not reported on top of that item's own error.
    """
    errors = exc.errors()
    failed_items = {tuple(e["loc"][:1]) for e in errors if len(e["loc"]) >= 2 and isinstance(e["loc"][1], int)}
    found = []
    for error in errors:
        location = list(error["loc"])
        if error["type"] == "too_short" and tuple(location) in failed_items:
            continue
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            section = _section(root, location[:-1])
            if section is not None:
                message = f"not a setting; the settings are {', '.join(section.model_fields)}"
        found.append((location, message))
    return found


def _section(model: type[BaseModel], path: list) -> type[BaseModel] | None:
    """The model a location inside ``model`` points into (through nested models and tuples of them)."""
    for step in path:
        if isinstance(step, int):
            continue
        field = model.model_fields.get(step)
        if field is None:
            return None
        inner = _model_in(field.annotation)
        if inner is None:
            return None
        model = inner
    return model


def _model_in(annotation) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        found = _model_in(argument)
        if found is not None:
            return found
    return None

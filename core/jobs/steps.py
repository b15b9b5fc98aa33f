"""The steps of a pipeline: each takes the run's context and its settings and returns its outputs.

A step returns ``(message, outputs)``: one line for the step log and lists to add to the run's
outputs (``fetched``, ``datasets``, ``runs``, ``holdings_runs``, ``files``, ``posted``,
``alerts``, ``deliveries``). A step that cannot do its work raises :class:`StepFailed` with one
readable line; :class:`StopRun` ends the run early as a success (nothing new was fetched).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from core.jobs.pipelines import PipelineSpec
from core.store import Store

__all__ = ["RunContext", "StepFailed", "StopRun", "run_step"]


class StepFailed(RuntimeError):
    """A step could not do its work; the message is one line for the run's error."""


class StopRun(Exception):  # noqa: N818 (not an error: the run ends as a success)
    """Nothing for the later steps to do: the run ends, succeeded, and they are skipped."""


@dataclass
class RunContext:
    """What a step knows of its run: the store, the pipeline, who runs it, and what the steps
    before it produced (``outputs``, lists by kind, JSON-ready)."""

    store: Store
    run_id: int
    pipeline: PipelineSpec
    actor: str
    scheduled_for: dt.datetime
    outputs: dict[str, list] = field(default_factory=dict)
    failure: str | None = None  # the error of an earlier step, for a notify step run after it


def run_step(context: RunContext, step) -> tuple[str, dict[str, list]]:
    """Do one step; see the module docstring for what it returns and raises."""
    raise StepFailed(f"{step.kind}: this step is not built yet")

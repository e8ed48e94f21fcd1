"""The trigger form's building blocks: one Param helper and the form's sections, shared by the run's form
(:mod:`sagemaker_mlops.run.run_config`) and the capabilities that add their own fields (tuning)."""

from __future__ import annotations

from typing import Any

# The trigger form's sections (Param ``section``). Airflow's form opens only its default section ("Run
# Parameters": the Params without a section, the few a user changes) and collapses every named one.
STORAGE, TRAINING, HYPERPARAMETERS, DEPLOYMENT = (
    "Storage and account",
    "Training",
    "Hyperparameters (the book's)",
    "Deployment and smoke test",
)


def param(default: Any, type_: Any, title: str, description: str, section: str | None = None, **schema: Any) -> Any:
    """A Param with its JSON-schema checks (ranges, enums, patterns: the form and the API enforce them)."""
    from airflow.sdk import Param

    if section:
        schema["section"] = section
    return Param(default, type=type_, title=title, description=description, **schema)

"""The stack's default IAM ceilings cover exactly what the trigger forms offer (issue 21 review, item 5).

Why: IAM holds the stack's lists whatever a form asks. A type the form offers by default but the stack's default
parameter leaves out passes every check in Airflow and fails with AccessDenied at CreateTrainingJob /
CreateEndpointConfig — after the dataset upload. With no admin Variable set, the form's lists are the ceilings
(core/ceilings.py: default None), so the stack's defaults must list the same types.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sagemaker_mlops.core import ceilings
from sagemaker_mlops.run.run_config import INFERENCE_TYPES
from sagemaker_mlops.training.training_config import GPU_TRAINING_TYPES

TEMPLATE = Path(__file__).resolve().parent.parent / "include" / "infra" / "mlops-stack.yaml"


class _Loader(yaml.SafeLoader):
    """Reads CloudFormation's short tags (!Ref, !Sub, ...) as plain values: only Parameters matter here."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _default_list(name: str) -> list[str]:
    parameters: dict[str, Any] = yaml.load(TEMPLATE.read_text(), Loader=_Loader)["Parameters"]
    return [item.strip() for item in str(parameters[name]["Default"]).split(",")]


def test_the_stack_s_default_training_types_are_the_form_s() -> None:
    assert ceilings.TRAINING_TYPES.default is None  # unset Variable: the form's own list is the ceiling
    assert sorted(_default_list("TrainingInstanceTypes")) == sorted(GPU_TRAINING_TYPES)


def test_the_stack_s_default_inference_types_are_the_form_s() -> None:
    assert ceilings.INFERENCE_TYPES.default is None
    assert sorted(_default_list("InferenceInstanceTypes")) == sorted(INFERENCE_TYPES)

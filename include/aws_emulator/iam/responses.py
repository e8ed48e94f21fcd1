"""moto's IAM responses plus SimulatePrincipalPolicy (see models)."""

from __future__ import annotations

from moto.core.responses import ActionResult
from moto.iam.responses import IamResponse

from aws_emulator.iam.models import EmulatorIamBackend


class EmulatorIamResponse(IamResponse):
    @property
    def backend(self) -> EmulatorIamBackend:  # type: ignore[override]
        from moto.iam import models

        return models.iam_backends[self.current_account][self.partition]

    def simulate_principal_policy(self) -> ActionResult:
        results = self.backend.simulate_principal_policy(
            self._get_param("PolicySourceArn"),
            self._get_param("ActionNames", []),
            self._get_param("ResourceArns", []),
            self._get_param("ContextEntries", []),
        )
        return ActionResult({"EvaluationResults": results, "IsTruncated": False})

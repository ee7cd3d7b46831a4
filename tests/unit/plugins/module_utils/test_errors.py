# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest

from ansible_collections.amazon.aws.plugins.module_utils.iam import AnsibleIAMError
from ansible_collections.torque.eks_irsa.plugins.module_utils import converger
from ansible_collections.torque.eks_irsa.plugins.module_utils import eks
from ansible_collections.torque.eks_irsa.plugins.module_utils import issuer
from ansible_collections.torque.eks_irsa.plugins.module_utils import limits
from ansible_collections.torque.eks_irsa.plugins.module_utils import options
from ansible_collections.torque.eks_irsa.plugins.module_utils import regions
from ansible_collections.torque.eks_irsa.plugins.module_utils import trust_evaluation
from ansible_collections.torque.eks_irsa.plugins.module_utils import trust_policy
from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError
from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import reported
from ansible_collections.torque.eks_irsa.plugins.plugin_utils import inventory_schema
from ansible_collections.torque.eks_irsa.plugins.plugin_utils import organization


class Failed(Exception):
    pass


class FakeModule:
    def __init__(self):
        self.failure = None

    def fail_json(self, **result):
        self.failure = dict(result, via="fail_json")
        raise Failed()

    def fail_json_aws(self, exception, **result):
        self.failure = dict(result, via="fail_json_aws", exception=exception)
        raise Failed()


@pytest.mark.parametrize("error_class", [
    converger.Refusal, eks.ClusterLookupError, issuer.IssuerError, limits.LimitError, options.OptionsError, inventory_schema.PlanError,
    regions.RegionError, trust_evaluation.PolicyEvaluationError, trust_policy.TrustPolicyError, organization.OrganizationError])
def test_every_error_of_the_collection_has_the_one_root(error_class):
    assert issubclass(error_class, EksIrsaError)


def test_an_error_said_of_an_entry_keeps_its_class_and_details_and_gains_the_context():
    error = issuer.IssuerError("url 'x' is not https", hint=1)
    located = error.at("providers[1]: ", provider=None)
    assert located is error and isinstance(located, issuer.IssuerError)
    assert str(located) == located.message == "providers[1]: url 'x' is not https"
    assert located.details == {"provider": None, "hint": 1}


def raising(error):
    def run(_module):
        raise error
    return run


def test_reported_turns_our_error_and_amazon_aws_errors_into_the_failure_once():
    module = FakeModule()
    assert reported(module, lambda module: {"changed": False}) == {"changed": False}
    with pytest.raises(Failed):
        reported(module, raising(EksIrsaError("no region", option="region")))
    assert module.failure == {"msg": "no region", "option": "region", "via": "fail_json"}
    cause = RuntimeError("botocore said no")
    with pytest.raises(Failed):
        reported(module, raising(AnsibleIAMError(message="Failed to get role", exception=cause)))
    assert module.failure == {"msg": "Failed to get role", "via": "fail_json_aws", "exception": cause}


def test_a_refusal_of_a_converger_fails_the_module_with_its_details_and_the_context():
    module = FakeModule()
    with pytest.raises(Failed):
        reported(module, raising(converger.Refusal("not deleting it", trusted_by=["runner"]).at("roles[0] (runner): ", provider=None)))
    assert module.failure == {"msg": "roles[0] (runner): not deleting it", "trusted_by": ["runner"], "provider": None,
                              "via": "fail_json"}


def test_anything_else_is_a_bug_and_is_not_turned_into_a_failure():
    with pytest.raises(KeyError):
        reported(FakeModule(), lambda module: {}["missing"])

# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

import boto3
import pytest
from botocore.stub import Stubber

from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.torque.eks_irsa.plugins.module_utils.eks import ClusterLookupError
from ansible_collections.torque.eks_irsa.plugins.module_utils.eks import describe_issuer
from ansible_collections.torque.eks_irsa.plugins.module_utils.retry import AWS_RETRY

ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"


class FakeModule:
    """The two things describe_issuer uses from AnsibleAWSModule: region and client()."""

    region = "eu-west-1"

    def __init__(self):
        self.eks = boto3.client("eks", region_name=self.region, aws_access_key_id="a", aws_secret_access_key="b")
        self.stubber = Stubber(self.eks)

    def client(self, service, retry_decorator=None):  # as plugins/module_utils/clients.py: the policy unless another is given
        assert service == "eks"
        return RetryingBotoClientWrapper(self.eks, retry_decorator or AWS_RETRY)


def cluster(**overrides):
    value = {
        "name": "agents",
        "arn": "arn:aws:eks:eu-west-1:111111111111:cluster/agents",
        "status": "ACTIVE",
        "identity": {"oidc": {"issuer": ISSUER}},
    }
    value.update(overrides)
    return {"cluster": value}


def test_one_describe_call_gives_every_form():
    module = FakeModule()
    module.stubber.add_response("describe_cluster", cluster(), {"name": "agents"})
    with module.stubber:
        facts = describe_issuer(module, "agents", "222222222222")
    module.stubber.assert_no_pending_responses()
    assert facts["issuer"] == ISSUER
    assert facts["provider_arn"] == (
        "arn:aws:iam::222222222222:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE")


@pytest.mark.parametrize("code, status", [
    ("TooManyRequestsException", 429),
    ("ThrottlingException", 400),
    ("ServiceUnavailableException", 503),
])
def test_transient_errors_are_retried(code, status, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    module = FakeModule()
    module.stubber.add_client_error("describe_cluster", code, "try again", status)
    module.stubber.add_response("describe_cluster", cluster(), {"name": "agents"})
    with module.stubber:
        assert describe_issuer(module, "agents")["account_id"] == "111111111111"


def test_unknown_cluster_names_cluster_and_region():
    module = FakeModule()
    module.stubber.add_client_error("describe_cluster", "ResourceNotFoundException", "No cluster found for name: nope.", 404)
    with module.stubber, pytest.raises(ClusterLookupError) as error:
        describe_issuer(module, "nope")
    assert "EKS cluster 'nope' was not found in region 'eu-west-1'" in str(error.value)
    assert "Traceback" not in str(error.value)


def test_access_denied_gives_code_and_action():
    module = FakeModule()
    module.stubber.add_client_error("describe_cluster", "AccessDeniedException", "User is not authorized", 403)
    with module.stubber, pytest.raises(ClusterLookupError) as error:
        describe_issuer(module, "agents")
    assert "eks:DescribeCluster" in str(error.value)
    assert "AccessDeniedException: User is not authorized" in str(error.value)
    assert error.value.details["error"]["code"] == "AccessDeniedException"


def test_cluster_still_creating():
    module = FakeModule()
    module.stubber.add_response("describe_cluster", cluster(status="CREATING", identity={}), {"name": "agents"})
    with module.stubber, pytest.raises(ClusterLookupError, match=r"no OIDC issuer yet \(status CREATING\)"):
        describe_issuer(module, "agents")

# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The modules' own assume-role (plugins/module_utils/clients.py), with botocore's Stubber in place of STS."""

import datetime

import boto3
import botocore.exceptions
import pytest
from botocore.stub import Stubber

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper
from ansible_collections.torque.eks_irsa.plugins.module_utils import clients
from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError

ROLE = "arn:aws:iam::222222222222:role/deployer"


class Failed(Exception):
    pass


class FakeModule:
    """The parts of AnsibleAWSModule that assume_role uses: params, region, fail_json."""

    region = "eu-west-1"

    def __init__(self, **params):
        self.params = dict(access_key=None, secret_key=None, session_token=None, profile=None, endpoint_url=None,
                           region="eu-west-1", validate_certs=True, aws_ca_bundle=None, aws_config=None,
                           assume_role_arn=ROLE, assume_role_external_id=None, assume_role_session_name="torque-eks-irsa")
        self.params.update(params)
        self.failure = None

    def fail_json(self, **kwargs):
        self.failure = kwargs
        raise Failed(kwargs["msg"])


class FakeSTS:
    """``base_client`` for assume_role: one stubbed STS client, and the kwargs it was asked with."""

    def __init__(self):
        self.sts = boto3.client("sts", region_name="eu-west-1", aws_access_key_id="a", aws_secret_access_key="b")
        self.stubber = Stubber(self.sts)
        self.asked = []

    def __call__(self, service, retry_decorator=None, **kwargs):
        assert service == "sts"
        self.asked.append(kwargs)
        return RetryingBotoClientWrapper(self.sts, retry_decorator)

    def expect(self, expires_in=datetime.timedelta(hours=1), secret="s" * 40, **request):
        expected = dict(dict(RoleArn=ROLE, RoleSessionName="torque-eks-irsa", DurationSeconds=3600), **request)
        expiration = datetime.datetime.now(datetime.timezone.utc) + expires_in
        self.stubber.add_response("assume_role", {"Credentials": {
            "AccessKeyId": "ASIAEXAMPLEEXAMPLE01", "SecretAccessKey": secret, "SessionToken": "t" * 40,
            "Expiration": expiration}}, expected)


@pytest.fixture(autouse=True)
def empty_cache(monkeypatch):
    monkeypatch.setattr(clients, "_assumed", {})


def test_role_is_assumed_once_and_reused_with_the_collection_retry_policy():
    sts = FakeSTS()
    sts.expect(ExternalId="ext-123", RoleSessionName="ci-run")
    module = FakeModule(assume_role_external_id="ext-123", assume_role_session_name="ci-run")
    with sts.stubber:
        first = clients.assume_role(module, sts)
        second = clients.assume_role(FakeModule(assume_role_external_id="ext-123", assume_role_session_name="ci-run"), sts)
    sts.stubber.assert_no_pending_responses()
    assert first is second and first["SecretAccessKey"] == "s" * 40
    assert sts.asked == [{"config": clients.CLIENT_CONFIG}]


def test_credentials_close_to_expiry_are_renewed():
    sts = FakeSTS()
    sts.expect(expires_in=datetime.timedelta(minutes=5), secret="old" * 10)
    sts.expect(secret="new" * 10)
    with sts.stubber:
        assert clients.assume_role(FakeModule(), sts)["SecretAccessKey"] == "old" * 10
        assert clients.assume_role(FakeModule(), sts)["SecretAccessKey"] == "new" * 10
    sts.stubber.assert_no_pending_responses()


@pytest.mark.parametrize("other", [
    dict(assume_role_arn="arn:aws:iam::333333333333:role/deployer"),
    dict(assume_role_external_id="another"),
    dict(assume_role_session_name="another"),
    dict(access_key="AKIAOTHER", secret_key="other-secret"),
    dict(endpoint_url="http://127.0.0.1:1"),
])
def test_another_role_or_other_base_credentials_are_not_served_from_the_cache(other):
    sts = FakeSTS()
    sts.expect()
    request = {k: v for k, v in dict(RoleArn=other.get("assume_role_arn"), ExternalId=other.get("assume_role_external_id"),
                                     RoleSessionName=other.get("assume_role_session_name")).items() if v}
    sts.expect(secret="x" * 40, **request)
    with sts.stubber:
        clients.assume_role(FakeModule(), sts)
        assert clients.assume_role(FakeModule(**other), sts)["SecretAccessKey"] == "x" * 40
    sts.stubber.assert_no_pending_responses()


def test_refusal_names_the_role_the_account_and_the_fix_and_no_credentials():
    sts = FakeSTS()
    message = f"User: arn:aws:iam::111111111111:user/ci is not authorized to perform: sts:AssumeRole on resource: {ROLE}"
    sts.stubber.add_client_error("assume_role", "AccessDenied", message, 403)
    module = FakeModule(secret_key="base-secret-value", access_key="AKIABASE", assume_role_external_id="ext-123")
    with sts.stubber, pytest.raises(EksIrsaError) as error:
        clients.assume_role(module, sts)
    msg = str(error.value)
    assert msg.startswith(f"could not assume {ROLE}: ") and "AccessDenied" in msg and message in msg
    assert "Check that the role exists in account 222222222222 and trusts the credentials running this playbook" in msg
    assert "with this external ID" in msg
    assert error.value.details == {"error": {"code": "AccessDenied", "message": message}}
    assert "base-secret-value" not in repr(error.value.details) and "base-secret-value" not in msg
    assert clients._assumed == {}


def test_cache_key_holds_no_base_secret():
    key = clients._cache_key(FakeModule(secret_key="base-secret-value", access_key="AKIABASE"))
    assert "base-secret-value" not in repr(key) and key[:3] == (ROLE, None, "torque-eks-irsa")


def test_clients_of_a_module_with_a_role_act_with_the_temporary_credentials(monkeypatch):
    module = object.__new__(clients.AWSModule)
    module.__dict__["params"] = {"assume_role_arn": ROLE}  # AnsibleAWSModule.params is a property over _module
    monkeypatch.setattr(clients.AWSModule, "params", property(lambda self: self.__dict__["params"]), raising=False)
    monkeypatch.setattr(clients, "assume_role", lambda module, base_client: {
        "AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "secret", "SessionToken": "token"})
    made = []
    monkeypatch.setattr(clients.AnsibleAWSModule, "client", lambda self, service, retry_decorator=None, **kwargs:
                        made.append((service, retry_decorator, kwargs)))
    module.client("iam")
    assert made == [("iam", clients.AWS_RETRY, {"aws_access_key_id": "ASIAEXAMPLE", "aws_secret_access_key": "secret",
                                                "aws_session_token": "token", "config": clients.CLIENT_CONFIG})]
    module.__dict__["params"] = {"assume_role_arn": None}
    module.client("sts")
    assert made[-1] == ("sts", clients.AWS_RETRY, {"config": clients.CLIENT_CONFIG})


def test_every_client_retries_by_the_one_policy_whatever_a_helper_asks_for(monkeypatch):
    module = object.__new__(clients.AWSModule)
    monkeypatch.setattr(clients.AWSModule, "params", property(lambda self: {"assume_role_arn": None}), raising=False)
    made = []
    monkeypatch.setattr(clients.AnsibleAWSModule, "client", lambda self, service, retry_decorator=None, **kwargs:
                        made.append((retry_decorator, kwargs["config"])))
    after_create = clients.Retry(extra_codes=["NoSuchEntity"])
    module.client("sts", retry_decorator=AWSRetry.jittered_backoff())  # what amazon.aws's get_aws_account_info passes
    module.client("iam", retry_decorator=after_create, config={"read_timeout": 3})
    assert made == [(clients.AWS_RETRY, clients.CLIENT_CONFIG), (after_create, dict(clients.CLIENT_CONFIG, read_timeout=3))]


def test_argument_spec_adds_the_assume_role_options():
    assert set(clients.ASSUME_ROLE_ARGUMENT_SPEC) == {"assume_role_arn", "assume_role_external_id", "assume_role_session_name"}
    assert clients.ASSUME_ROLE_ARGUMENT_SPEC["assume_role_session_name"]["default"] == "torque-eks-irsa"


def test_what_aws_answered_is_read_from_a_client_error_only():
    refused = botocore.exceptions.ClientError({"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "AssumeRole")
    assert clients.aws_error(refused) == {"code": "AccessDenied", "message": "not allowed"}
    assert clients.aws_error(botocore.exceptions.ClientError({}, "AssumeRole")) == {"code": "Unknown", "message": ""}
    assert clients.aws_error(botocore.exceptions.EndpointConnectionError(endpoint_url="https://sts")) is None

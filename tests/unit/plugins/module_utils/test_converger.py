# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What every converger shares (plugins/module_utils/converger.py): the outcome's status, the diff, failing the module."""

import pytest

from ansible_collections.amazon.aws.plugins.module_utils.iam import AnsibleIAMError
from ansible_collections.torque.eks_irsa.plugins.module_utils.converger import Converger
from ansible_collections.torque.eks_irsa.plugins.module_utils.converger import IAMCalls
from ansible_collections.torque.eks_irsa.plugins.module_utils.converger import Refusal
from ansible_collections.torque.eks_irsa.plugins.module_utils.converger import converged
from ansible_collections.torque.eks_irsa.plugins.module_utils.retry import Retry

ROLE = {"RoleName": "runner"}


class Failed(Exception):
    pass


class FakeModule:
    """Records how the module was failed."""

    def __init__(self):
        self.failure = None

    def fail_json(self, **result):
        self.failure = dict(result, via="fail_json")
        raise Failed()

    def fail_json_aws(self, exception, **result):
        self.failure = dict(result, via="fail_json_aws", exception=exception)
        raise Failed()


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_change_is_recorded_and_made_only_outside_check_mode(check_mode):
    converger = Converger(check_mode)
    assert converger._change("tags", {"a": "1"}, {"a": "2"}) is (not check_mode)
    outcome = converger._outcome({"tags": {"a": "1"}}, {"tags": {"a": "2"}})
    assert outcome.status == "updated" and outcome.changed
    assert outcome.diff == {"before": {"tags": {"a": "1"}}, "after": {"tags": {"a": "2"}}}


def test_the_status_names_what_happened():
    assert Converger(False)._outcome({"x": 1}, {"x": 1}).status == "ok"
    assert not Converger(False)._outcome(None, None).changed

    created = Converger(False)
    created._creating({"path": "/"})
    created._change("managed_policies", [], ["arn"])  # converged after the create: still one creation
    outcome = created._outcome(None, {"path": "/"})
    assert outcome.status == "created"
    assert outcome.diff == {"before": {}, "after": {"path": "/", "managed_policies": ["arn"]}}

    deleted = Converger(True)
    deleted._deleting({"path": "/"})
    assert deleted._outcome({"path": "/"}, None)[::3] == ("deleted", {"before": {"path": "/"}, "after": {}})

    raced = Converger(False)
    raced._creating({"path": "/"})
    raced._nothing_done()  # someone else created it first
    assert raced._outcome(None, None).status == "ok" and raced.diff == {"before": {}, "after": {}}


def test_the_diff_keeps_what_was_recorded_even_when_the_view_moves_on():
    converger = Converger(False)
    tags = {"a": "1"}
    converger._change("tags", tags, {"a": "2"})
    tags["a"] = "changed later"
    assert converger.diff["before"]["tags"] == {"a": "1"}


def test_a_refusal_fails_the_module_with_its_details_and_the_context():
    module = FakeModule()

    def refuse():
        raise Refusal("not deleting it", trusted_by=["runner"])

    with pytest.raises(Failed):
        converged(module, refuse, where="roles[0] (runner): ", failure_context={"provider": None})
    assert module.failure == {"msg": "roles[0] (runner): not deleting it", "trusted_by": ["runner"], "provider": None,
                              "via": "fail_json"}


def test_an_aws_error_fails_the_module_with_the_aws_response_and_one_without_it_plainly():
    cause = ValueError("the botocore error")
    for error, via in ((AnsibleIAMError(message="Failed to get role", exception=cause), "fail_json_aws"),
                       (AnsibleIAMError(message="Failed to get role"), "fail_json")):
        module = FakeModule()

        def fail(error=error):
            raise error

        with pytest.raises(Failed):
            converged(module, fail, where="x: ")
        assert module.failure["msg"] == "x: Failed to get role" and module.failure["via"] == via


def test_an_outcome_passes_through():
    assert converged(FakeModule(), lambda: "the outcome") == "the outcome"


def test_calls_name_the_resource_and_the_iam_action_and_send_its_identity(iam):
    client, stubber = iam
    stubber.add_client_error("get_role", "AccessDenied", "not authorized", 403, expected_params=ROLE)
    calls = IAMCalls(client, "role runner", Retry(extra_codes=["NoSuchEntity"]), **ROLE)
    with pytest.raises(AnsibleIAMError, match=r"^Failed to get role \(role runner; iam:GetRole\): An error occurred \(AccessDenied\)"):
        calls.read("get role", "get_role")


def test_a_missing_resource_reads_as_none_until_it_was_just_created(iam):
    client, stubber = iam
    slept = []
    after_create = Retry(extra_codes=["NoSuchEntity"], bound=30, sleep=slept.append, clock=lambda: 0)
    calls = IAMCalls(client, "role runner", after_create, **ROLE)
    stubber.add_client_error("get_role", "NoSuchEntity", "cannot be found", 404, expected_params=ROLE)
    assert calls.read("get role", "get_role") is None and slept == []

    calls.created()
    stubber.add_client_error("get_role", "NoSuchEntity", "cannot be found", 404, expected_params=ROLE)
    stubber.add_response("get_role", {"Role": {"Path": "/", "RoleName": "runner", "RoleId": "AROAEXAMPLEEXAMPLE1",
                                               "Arn": "arn:aws:iam::222222222222:role/runner", "CreateDate": "2025-01-01",
                                               "AssumeRolePolicyDocument": "{}"}}, ROLE)
    assert calls.read("get role", "get_role")["Role"]["RoleName"] == "runner"
    assert len(slept) == 1  # IAM's lag after a create is waited out


def test_a_deletion_step_on_something_already_gone_is_no_error(iam):
    client, stubber = iam
    stubber.add_client_error("delete_role", "NoSuchEntity", "already gone", 404, expected_params=ROLE)
    stubber.add_response("delete_role", {}, ROLE)
    calls = IAMCalls(client, "role runner", Retry(), **ROLE)
    assert calls.call_if_present("delete role", "delete_role") is False
    assert calls.call_if_present("delete role", "delete_role") is True

# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What every converger shares (plugins/module_utils/converger.py): the outcome's status, the diff, the errors it raises."""

import copy
import functools

import pytest

from ansible_collections.amazon.aws.plugins.module_utils.iam import AnsibleIAMError
from ansible_collections.torque.eks_irsa.plugins.module_utils.converger import Converger
from ansible_collections.torque.eks_irsa.plugins.module_utils.converger import IAMCalls
from ansible_collections.torque.eks_irsa.plugins.module_utils.converger import Raced
from ansible_collections.torque.eks_irsa.plugins.module_utils.converger import Refusal
from ansible_collections.torque.eks_irsa.plugins.module_utils.converger import converged
from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError
from ansible_collections.torque.eks_irsa.plugins.module_utils.retry import Retry

ROLE = {"RoleName": "runner"}


class Thing(Converger):
    """A converger of a pretend resource held in ``store`` (None: it does not exist), its writes logged in ``made``."""

    def __init__(self, check_mode, store, rival=None):
        super().__init__(check_mode)
        self.store, self.rival, self.made = store, rival, []
        self.calls = self.Calls(self.made)  # Converger.apply calls calls.created() after a race

    class Calls:
        def __init__(self, made):
            self.made = made

        def created(self):
            self.made.append("created()")

    def plan_present(self, size):
        self._planning(functools.partial(self.plan_present, size))
        before = copy.deepcopy(self.store.get("thing"))
        if before is None:
            self._creating({"size": size}, functools.partial(self._create, size))
            return self._planned(None, {"size": size})
        after = dict(before)
        if before["size"] != size:
            self._change("size", before["size"], size)
            self.writes.append(functools.partial(self._resize, size))
            after["size"] = size
        return self._planned(before, after)

    def plan_absent(self):
        self._planning(self.plan_absent)
        before = self.store.get("thing")
        if before is None:
            return self._planned(None, None)
        self._deleting(before, self._delete)
        return self._planned(before, None)

    def _create(self, size):
        if self.rival is not None:  # another run created it between our read and our create
            self.store["thing"], self.rival = {"size": self.rival}, None
            raise Raced()
        self.made.append(f"create {size}")
        self.store["thing"] = {"size": size}

    def _resize(self, size):
        self.made.append(f"resize {size}")
        self.store["thing"]["size"] = size

    def _delete(self):
        if self.store.pop("thing", None) is None:
            self._nothing_done()
        else:
            self.made.append("delete")


@pytest.mark.parametrize("check_mode", [False, True])
def test_the_plan_predicts_and_apply_makes_the_writes_outside_check_mode_only(check_mode):
    store = {"thing": {"size": 1}}
    thing = Thing(check_mode, store)
    predicted = thing.plan_present(2)
    assert predicted == ("updated", {"size": 1}, {"size": 2}, {"before": {"size": 1}, "after": {"size": 2}})
    assert thing.made == []  # planning writes nothing
    assert thing.apply() == predicted
    assert thing.made == ([] if check_mode else ["resize 2"])
    assert store["thing"]["size"] == (1 if check_mode else 2)


def test_the_status_names_what_happened():
    store = {}
    created = Thing(False, store)
    assert created.plan_present(3).status == "created"
    assert created.apply() == ("created", None, {"size": 3}, {"before": {}, "after": {"size": 3}})
    again = Thing(False, store)
    assert again.plan_present(3) == ("ok", {"size": 3}, {"size": 3}, {"before": {}, "after": {}})
    assert again.apply().changed is False and again.made == []
    deleted = Thing(False, store)
    assert deleted.plan_absent()[:3] == ("deleted", {"size": 3}, None)
    assert deleted.apply()[:3] == ("deleted", {"size": 3}, None) and store == {}
    assert Thing(False, store).plan_absent().status == "ok"


def test_a_race_on_create_plans_again_and_converges_what_the_other_run_made():
    store = {}
    thing = Thing(False, store, rival=5)
    assert thing.plan_present(3).status == "created"
    outcome = thing.apply()
    assert thing.made == ["created()", "resize 3"]
    assert outcome == ("updated", {"size": 5}, {"size": 3}, {"before": {"size": 5}, "after": {"size": 3}})


def test_a_deletion_someone_else_made_first_is_no_change():
    store = {"thing": {"size": 1}}
    thing = Thing(False, store)
    thing.plan_absent()
    store.clear()
    assert thing.apply() == ("ok", None, None, {"before": {}, "after": {}})


def test_the_diff_keeps_what_was_recorded_even_when_the_view_moves_on():
    converger = Converger(False)
    tags = {"a": "1"}
    converger._change("tags", tags, {"a": "2"})
    tags["a"] = "changed later"
    assert converger.diff["before"]["tags"] == {"a": "1"}


def test_a_refusal_is_raised_said_of_its_entry_with_its_details_and_the_context():
    def refuse():
        raise Refusal("not deleting it", trusted_by=["runner"])

    with pytest.raises(Refusal) as error:
        converged(refuse, where="roles[0] (runner): ", context={"provider": None})
    assert str(error.value) == "roles[0] (runner): not deleting it"
    assert error.value.details == {"trusted_by": ["runner"], "provider": None}


def test_an_aws_error_is_raised_as_the_collections_error_with_the_sdk_exception_behind_it():
    cause = ValueError("the botocore error")
    for error in (AnsibleIAMError(message="Failed to get role", exception=cause), AnsibleIAMError(message="Failed to get role")):
        def fail(error=error):
            raise error

        with pytest.raises(EksIrsaError) as raised:
            converged(fail, where="x: ", context={"provider": None})
        assert str(raised.value) == "x: Failed to get role" and raised.value.exception is error.exception
        assert raised.value.details == {"provider": None}


def test_an_outcome_passes_through():
    assert converged(lambda: "the outcome") == "the outcome"


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

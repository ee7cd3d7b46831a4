# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The roles' and playbooks' filters (plugins/filter/*.py), called as Jinja calls them, without a playbook run."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.torque.eks_irsa.plugins.filter import rollout
from ansible_collections.torque.eks_irsa.plugins.filter import service_accounts
from ansible_collections.torque.eks_irsa.plugins.filter.rollout import rollout_error
from ansible_collections.torque.eks_irsa.plugins.filter.rollout import rollout_service_accounts
from ansible_collections.torque.eks_irsa.plugins.filter.rollout import rollout_stats
from ansible_collections.torque.eks_irsa.plugins.filter.rollout import rollout_summary
from ansible_collections.torque.eks_irsa.plugins.filter.service_accounts import service_account_deletions
from ansible_collections.torque.eks_irsa.plugins.filter.service_accounts import service_account_manifests
from ansible_collections.torque.eks_irsa.plugins.filter.service_accounts import service_account_status

ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
HOST_PATH = ISSUER.removeprefix("https://")
ACCOUNT = "222222222222"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/torque-runner"
AGENT = "{name: '{{ .inputs.agent }}', service-account: %s, runner-namespace: %s}"  # a summary line's agent, none named
PASS_ROLE = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}]}


@pytest.mark.parametrize("module, names", [
    (rollout, {"rollout_error", "rollout_outcomes", "rollout_service_accounts", "rollout_service_account_groups",
               "rollout_stats", "rollout_summary"}),
    (service_accounts, {"service_account_manifests", "service_account_status", "service_account_deletions",
                        "service_account_namespace_manifest", "service_account_takeovers", "service_account_namespace_state"}),
])
def test_every_filter_is_registered_under_its_function_name(module, names):
    filters = module.FilterModule().filters()
    assert set(filters) == names
    assert all(function.__name__ == name for name, function in filters.items())


# -- service_accounts.py ------------------------------------------------------------------------------------------

def test_service_account_manifests_builds_one_annotated_service_account_per_item():
    manifests = service_account_manifests(
        [{"name": "torque-runner-dev", "role_arn": ROLE_ARN},
         {"name": "torque-reader-prod", "role_arn": "arn:aws:iam::333333333333:role/torque-reader",
          "labels": {"tier": "read"}, "annotations": {"note": 1}}],
        "torque-envs", labels={"team": "platform"})
    assert manifests == [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {
            "name": "torque-runner-dev", "namespace": "torque-envs",
            "labels": {"team": "platform", "app.kubernetes.io/managed-by": "torque.eks_irsa"},
            "annotations": {"eks.amazonaws.com/role-arn": ROLE_ARN}}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {
            "name": "torque-reader-prod", "namespace": "torque-envs",
            "labels": {"team": "platform", "app.kubernetes.io/managed-by": "torque.eks_irsa", "tier": "read"},
            "annotations": {"note": "1", "eks.amazonaws.com/role-arn": "arn:aws:iam::333333333333:role/torque-reader"}}},
    ]


def test_service_account_manifests_keeps_the_ownership_label_and_the_role_arn_whatever_the_extras_say():
    (manifest,) = service_account_manifests(
        [{"name": "sa", "role_arn": ROLE_ARN, "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/other"}}],
        "ns", labels={"app.kubernetes.io/managed-by": "helm"})
    assert manifest["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "torque.eks_irsa"}
    assert manifest["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": ROLE_ARN}


@pytest.mark.parametrize("sts_regional_endpoints, token_expiration, expected", [
    (None, None, {}),
    (True, None, {"eks.amazonaws.com/sts-regional-endpoints": "true"}),
    (False, "3600", {"eks.amazonaws.com/sts-regional-endpoints": "false", "eks.amazonaws.com/token-expiration": "3600"}),
    (None, 86400, {"eks.amazonaws.com/token-expiration": "86400"}),
    (None, 600, {"eks.amazonaws.com/token-expiration": "600"}),  # the webhook's minimum
    ("false", None, {"eks.amazonaws.com/sts-regional-endpoints": "false"}),  # ansible-core < 2.19 passes a string
    ("True", None, {"eks.amazonaws.com/sts-regional-endpoints": "true"}),
])
def test_service_account_manifests_adds_the_optional_eks_annotations(sts_regional_endpoints, token_expiration, expected):
    (manifest,) = service_account_manifests([{"name": "sa", "role_arn": ROLE_ARN}], "ns",
                                            sts_regional_endpoints=sts_regional_endpoints, token_expiration=token_expiration)
    assert manifest["metadata"]["annotations"] == dict(expected, **{"eks.amazonaws.com/role-arn": ROLE_ARN})


def test_service_account_manifests_of_nothing_is_nothing():
    assert service_account_manifests(None, "ns") == []
    assert service_account_manifests([], "ns") == []


@pytest.mark.parametrize("items, namespace, options, message", [
    ([{"name": "Runner_Dev", "role_arn": ROLE_ARN}], "ns", {},
     "service_account_items[0] (Runner_Dev): the service account name 'Runner_Dev' is not a valid Kubernetes name"),
    ([{"name": "ok", "role_arn": ROLE_ARN}, {"role_arn": ROLE_ARN}], "ns", {},
     "service_account_items[1] (?): the service account name is empty"),
    ([{"name": "sa", "role_arn": ROLE_ARN}], "Torque_Envs", {},
     "service_account_namespace: the namespace 'Torque_Envs' is not a valid Kubernetes name"),
    ([{"name": "sa", "role_arn": ROLE_ARN}], "", {}, "service_account_namespace: the namespace is empty"),
    ([{"name": "sa"}], "ns", {}, "service_account_items[0] (sa) role_arn None is not an IAM role ARN"),
    ([{"name": "sa", "role_arn": "torque-runner"}], "ns", {}, "service_account_items[0] (sa) role_arn 'torque-runner' is not an IAM role ARN"),
    ([{"name": "sa", "role_arn": f"arn:aws:iam::{ACCOUNT}:policy/x"}], "ns", {}, "is not an IAM role ARN"),
    (["sa"], "ns", {}, "service_account_items[0] must be a mapping with 'name' and 'role_arn', got str"),
    ([{"name": "sa", "role_arn": ROLE_ARN}, {"name": "sa", "role_arn": ROLE_ARN}], "ns", {},
     "service_account_items[1] (sa): the name is listed twice; one ServiceAccount carries one role ARN"),
    ([{"name": "sa", "role_arn": ROLE_ARN}], "ns", {"token_expiration": 599},
     "service_account_token_expiration 599 is not a token lifetime EKS accepts: give seconds from 600 to 86400"),
    ([{"name": "sa", "role_arn": ROLE_ARN}], "ns", {"token_expiration": 86401}, "give seconds from 600 to 86400"),
    ([{"name": "sa", "role_arn": ROLE_ARN}], "ns", {"sts_regional_endpoints": "maybe"},
     "service_account_sts_regional_endpoints 'maybe' is not a boolean: write true or false"),
    ([{"name": "sa", "role_arn": ROLE_ARN}], "ns", {"token_expiration": "1h"}, "service_account_token_expiration '1h'"),
    ([{"name": "sa", "role_arn": ROLE_ARN}], "ns", {"token_expiration": True}, "service_account_token_expiration True"),
    ([{"name": "sa", "role_arn": ROLE_ARN}], "ns", {"labels": ["a"]}, "labels must be a mapping of strings, got list"),
    ([{"name": "sa", "role_arn": ROLE_ARN, "annotations": "a=b"}], "ns", {},
     "service_account_items[0] (sa) annotations must be a mapping of strings, got str"),
])
def test_service_account_manifests_refuses_bad_input_naming_the_item_and_field(items, namespace, options, message):
    with pytest.raises(AnsibleFilterError) as error:
        service_account_manifests(items, namespace, **options)
    assert message in str(error.value)


def existing(name, labels=None, annotations=None):
    return {"metadata": {"name": name, "namespace": "ns", "labels": labels, "annotations": annotations}}


def test_service_account_status_says_created_updated_or_ok():
    manifests = service_account_manifests(
        [{"name": "new", "role_arn": ROLE_ARN}, {"name": "same", "role_arn": ROLE_ARN},
         {"name": "other-role", "role_arn": ROLE_ARN}, {"name": "unlabelled", "role_arn": ROLE_ARN}], "ns")
    managed = {"app.kubernetes.io/managed-by": "torque.eks_irsa"}
    cluster = [
        # what other tools add (kubectl's last-applied annotation, more labels) does not count as a difference
        existing("same", dict(managed, team="x"), {"eks.amazonaws.com/role-arn": ROLE_ARN, "kubectl.kubernetes.io/last-applied-configuration": "{}"}),
        existing("other-role", managed, {"eks.amazonaws.com/role-arn": "arn:aws:iam::333333333333:role/torque-runner"}),
        existing("unlabelled", None, {"eks.amazonaws.com/role-arn": ROLE_ARN}),
        existing("default"),
    ]
    items = [{"name": name} for name in ("new", "same", "other-role")] + [{"name": "unlabelled", "adopt": True}]
    assert service_account_status(manifests, cluster, items, "ns") == {
        "new": "created", "same": "ok", "other-role": "updated", "unlabelled": "adopted"}
    assert service_account_status(manifests, None) == dict.fromkeys(["new", "same", "other-role", "unlabelled"], "created")
    assert service_account_status([], cluster) == {}


def test_the_namespace_manifest_carries_the_ownership_label_and_a_bad_name_is_refused():
    assert service_accounts.service_account_namespace_manifest("torque-agents") == {
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "torque-agents", "labels": {"app.kubernetes.io/managed-by": "torque.eks_irsa"}}}
    with pytest.raises(AnsibleFilterError, match="service_account_namespace"):
        service_accounts.service_account_namespace_manifest("Torque_Agents")


def test_service_account_deletions_only_deletes_what_carries_the_ownership_label():
    managed = [existing("torque-runner-dev", {"app.kubernetes.io/managed-by": "torque.eks_irsa"})]
    cluster = managed + [existing("made-by-helm", {"app.kubernetes.io/managed-by": "Helm"}), existing("unlabelled")]
    deletions = service_account_deletions([{"name": "torque-runner-dev"}, {"name": "never-made"}, {"name": "made-by-helm"},
                                           {"name": "unlabelled"}], cluster, "ns")
    assert deletions == {
        "refs": [{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "torque-runner-dev", "namespace": "ns"}}],
        "releases": [],
        "status": {"torque-runner-dev": "deleted", "never-made": "absent", "made-by-helm": "absent", "unlabelled": "absent"},
    }
    assert service_account_deletions(None, managed, "ns") == {"refs": [], "releases": [], "status": {}}
    assert service_account_deletions([{"name": "x"}], None, "ns") == {"refs": [], "releases": [], "status": {"x": "absent"}}


def test_an_adopted_service_account_is_released_not_deleted():
    adopted = existing("eksctl-runner", {"app.kubernetes.io/managed-by": "eksctl"})
    adopted["metadata"]["managedFields"] = [{"manager": "kubectl-create", "operation": "Update"},
                                            {"manager": "torque.eks_irsa", "operation": "Apply"}]
    touched_by_others = existing("other")
    touched_by_others["metadata"]["managedFields"] = [{"manager": "torque.eks_irsa", "operation": "Update"}]
    deletions = service_account_deletions([{"name": "eksctl-runner"}, {"name": "other"}], [adopted, touched_by_others], "ns")
    assert deletions["refs"] == []
    assert deletions["releases"] == [{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "eksctl-runner", "namespace": "ns"}}]
    assert deletions["status"] == {"eksctl-runner": "released", "other": "absent"}


def test_a_service_account_someone_else_made_is_refused_unless_adopted_naming_each():
    cluster = [existing("helm-runner", {"app.kubernetes.io/managed-by": "Helm"}), existing("plain"),
               existing("ours", {"app.kubernetes.io/managed-by": "torque.eks_irsa"})]
    items = [{"name": "helm-runner", "source": "dev: eks_irsa_roles[0] (runner)"}, {"name": "plain", "adopt": "false"},
             {"name": "ours"}, {"name": "new"}]
    with pytest.raises(AnsibleFilterError) as error:
        service_accounts.service_account_takeovers(items, cluster, "ns")
    message = str(error.value)
    assert message.startswith("2 ServiceAccount(s) would be taken over; nothing was written:")
    assert "dev: eks_irsa_roles[0] (runner): ServiceAccount ns/helm-runner exists and was not made by torque.eks_irsa" in message
    assert "ServiceAccount ns/plain exists" in message and "set adopt: true on its role" in message
    assert "ns/ours" not in message and "ns/new" not in message
    adopted = [dict(item, adopt=True) for item in items]
    assert service_accounts.service_account_takeovers(adopted, cluster, "ns") == []


def test_an_adopted_service_account_gets_only_our_annotations_and_labels():
    items = [{"name": "eksctl-runner", "role_arn": ROLE_ARN, "adopt": True}, {"name": "ours", "role_arn": ROLE_ARN}]
    adopted, ours = service_account_manifests(items, "ns", labels={"team": "platform"})
    assert adopted["metadata"]["labels"] == {"team": "platform"}  # never the managed-by label: teardown would delete it
    assert ours["metadata"]["labels"] == {"team": "platform", "app.kubernetes.io/managed-by": "torque.eks_irsa"}
    cluster = [existing("eksctl-runner", {"app.kubernetes.io/managed-by": "eksctl"}, {"other": "x"})]
    assert service_account_status([adopted, ours], cluster, items, "ns") == {"eksctl-runner": "adopted", "ours": "created"}
    with pytest.raises(AnsibleFilterError, match="ServiceAccount ns/eksctl-runner exists and was not made"):
        service_account_status([adopted], cluster, None, "ns")


# -- rollout.py ---------------------------------------------------------------------------------------------------

def role(name, service_account, status="created", account=ACCOUNT, namespace="torque-envs"):
    return {"name": name, "arn": f"arn:aws:iam::{account}:role/{name}", "status": status, "namespace": namespace,
            "service_account": service_account}


def outcome(host, account, roles=(), provider="created", error=None):
    return {"host": host, "account_id": account, "provider": provider, "roles": list(roles), "error": error}


OUTCOMES = [
    outcome("prod", "333333333333", [role("torque-runner", "torque-runner-prod", "ok", "333333333333"),
                                     role("torque-reader", "torque-reader-prod", "updated", "333333333333")], provider="ok"),
    outcome("dev", "222222222222", error="dev: could not assume arn:aws:iam::222222222222:role/irsa-deployer: AccessDenied"),
    outcome("tools", "123456789012", [role("torque-runner", "torque-runner-tools", account="123456789012")]),
]


def test_rollout_service_accounts_takes_every_role_of_the_accounts_that_succeeded():
    gone = outcome("old", "444444444444", [dict(role("x", "x-old"), status="deleted")])
    unknown = outcome("new", "555555555555", [dict(role("y", "y-new"), arn=None)])
    pattern = outcome("ci", "666666666666", [dict(role("z", "runner-*", account="666666666666"), pattern=True)])
    assert rollout_service_accounts(OUTCOMES + [gone, unknown, pattern]) == [
        {"cluster": None, "namespace": "torque-envs", "name": "torque-runner-prod",
         "role_arn": "arn:aws:iam::333333333333:role/torque-runner", "adopt": False, "source": None},
        {"cluster": None, "namespace": "torque-envs", "name": "torque-reader-prod",
         "role_arn": "arn:aws:iam::333333333333:role/torque-reader", "adopt": False, "source": None},
        {"cluster": None, "namespace": "torque-envs", "name": "torque-runner-tools",
         "role_arn": "arn:aws:iam::123456789012:role/torque-runner", "adopt": False, "source": None},
    ]
    assert rollout_service_accounts([]) == []


def test_rollout_service_account_groups_are_one_per_namespace_with_its_creation_and_render_dir():
    outcomes = [outcome("a", "111111111111", [role("r", "runner", namespace="team-b"), role("s", "other", namespace="team-a")]),
                outcome("b", "222222222222", [role("r", "runner", account="222222222222", namespace="team-a")])]
    groups = rollout.rollout_service_account_groups(outcomes, create_namespace=["team-b"], render_dir="/out")
    assert [(g["namespace"], [i["name"] for i in g["service_accounts"]], g["create_namespace"], g["render_dir"]) for g in groups] == [
        ("team-a", ["other", "runner"], False, "/out/team-a"), ("team-b", ["runner"], True, "/out/team-b")]
    assert [(g["label"], g["state"]) for g in groups] == [("team-a", "present"), ("team-b", "present")]
    (only,) = rollout.rollout_service_account_groups(OUTCOMES, None, True, "/out")
    assert only["namespace"] == "torque-envs" and only["create_namespace"] is True and only["render_dir"] == "/out"
    assert "render_dir" not in rollout.rollout_service_account_groups(OUTCOMES)[0]


def test_rollout_error_of_a_loop_gives_the_first_failed_item_after_its_label():
    failed = {"failed": True, "msg": "One or more items failed", "results": [
        {"failed": False, "ansible_loop_var": "item", "_ansible_item_label": "torque-runner"},
        {"failed": True, "msg": "Failed to attach managed policy", "ansible_loop_var": "item", "_ansible_item_label": "torque-reader"},
        {"failed": True, "msg": "later failure", "ansible_loop_var": "item", "_ansible_item_label": "third"},
    ]}
    assert rollout_error(failed, "Ensure the web identity role") == "torque-reader: Failed to attach managed policy"


def test_rollout_error_of_a_loop_item_without_a_label_is_its_message():
    failed = {"msg": "One or more items failed", "results": [{"failed": True, "msg": "boom"}]}
    assert rollout_error(failed) == "boom"


def test_rollout_error_of_a_loop_without_item_messages_is_the_task_message():
    failed = {"msg": "One or more items failed", "results": [{"failed": True}, {"skipped": True}]}
    assert rollout_error(failed) == "One or more items failed"


@pytest.mark.parametrize("failed_result, failed_task, expected", [
    ({"failed": True, "msg": "dev: could not assume the role"}, "Stop when the role could not be assumed", "dev: could not assume the role"),
    ({"failed": True}, "Ensure the OIDC provider", "task Ensure the OIDC provider failed"),
    # irsa_account's roles are the inventory's eks_irsa_roles, in order: the message names the variable the user wrote.
    ({"failed": True, "msg": "roles[1] (reader): managed_policies[0]: the managed policy x does not exist"}, "Ensure",
     "eks_irsa_roles[1] (reader): managed_policies[0]: the managed policy x does not exist"),
    ({"failed": True, "msg": "the role roles[1] is fine"}, "Ensure", "the role roles[1] is fine"),
    ({"failed": True}, {"name": "Ensure the roles"}, "task Ensure the roles failed"),
    (None, None, "task None failed"),
])
def test_rollout_error_of_a_single_task(failed_result, failed_task, expected):
    assert rollout_error(failed_result, failed_task) == expected


def test_rollout_error_names_a_role_as_the_plan_says_where_it_comes_from():
    sources = ["eks_irsa_roles[0] (runner)", "eks_irsa_hub (torque-hub)", "eks_irsa_hub.spokes[0] (deployer)"]
    failed = {"failed": True, "msg": "roles[2] (deployer): managed_policies[0]: the managed policy x does not exist"}
    assert rollout_error(failed, "Ensure", sources) == "eks_irsa_hub.spokes[0] (deployer): managed_policies[0]: the managed policy x does not exist"
    assert rollout_error({"msg": "roles[7] (x): boom"}, "Ensure", sources) == "eks_irsa_roles[7] (x): boom"


def test_rollout_summary_table_failures_and_blueprint():
    status = {"torque-runner-prod": "ok", "torque-reader-prod": "updated", "torque-runner-tools": "created"}
    summary = rollout_summary(OUTCOMES, "torque-envs", {"torque-envs": {"status": status, "error": None}})
    assert summary["lines"] == [
        "ACCOUNT       HOST   PROVIDER  ROLE                                          ROLE STATUS  SERVICE ACCOUNT      SA STATUS",
        "123456789012  tools  created   arn:aws:iam::123456789012:role/torque-runner  created      torque-runner-tools  created",
        "222222222222  dev    FAILED    -                                             -            -                    -",
        "333333333333  prod   ok        arn:aws:iam::333333333333:role/torque-runner  ok           torque-runner-prod   ok",
        "333333333333  prod   ok        arn:aws:iam::333333333333:role/torque-reader  updated      torque-reader-prod   updated",
        "FAILED dev (222222222222): dev: could not assume arn:aws:iam::222222222222:role/irsa-deployer: AccessDenied",
        "Blueprint: the spec.agent of the grain that deploys into each account, in namespace torque-envs:",
        "  account 123456789012 (tools), role torque-runner: " + AGENT % ("torque-runner-tools", "torque-envs"),
        "  account 333333333333 (prod), role torque-runner: " + AGENT % ("torque-runner-prod", "torque-envs"),
        "  account 333333333333 (prod), role torque-reader: " + AGENT % ("torque-reader-prod", "torque-envs"),
    ]
    assert summary["failed"] == ["dev"] and summary["service_account_failed"] == []
    assert summary["namespace"] == "torque-envs" and summary["service_account_error"] is None
    assert summary["namespaces"] == ["torque-envs"]
    assert summary["accounts"]["dev"] == {"account_id": "222222222222", "provider": "created", "roles": [], "service_account_error": None, "warnings": [],
                                          "error": "dev: could not assume arn:aws:iam::222222222222:role/irsa-deployer: AccessDenied"}
    published = [{key: value for key, value in role(*args).items() if key != "namespace"}
                 for args in (("torque-runner", "torque-runner-prod", "ok", "333333333333"),
                              ("torque-reader", "torque-reader-prod", "updated", "333333333333"))]
    assert summary["accounts"]["prod"]["roles"] == [dict(published[0], service_account_status="ok"),
                                                    dict(published[1], service_account_status="updated")]


def test_rollout_stats_publish_every_account_under_a_key_of_its_own_that_survives_a_shallow_merge():
    status = {"torque-runner-prod": "ok", "torque-reader-prod": "updated", "torque-runner-tools": "created"}
    summary = rollout_summary(OUTCOMES, "torque-envs", {"torque-envs": {"status": status, "error": None}})
    stats = rollout_stats(summary)
    assert stats["eks_irsa_rollout"] == {key: value for key, value in summary.items() if key not in ("lines", "blueprints")}
    assert sorted(stats) == ["eks_irsa_rollout", "eks_irsa_rollout_account_123456789012_tools",
                             "eks_irsa_rollout_account_222222222222_dev", "eks_irsa_rollout_account_333333333333_prod"]
    assert stats["eks_irsa_rollout_account_222222222222_dev"] == dict({"host": "dev"}, **summary["accounts"]["dev"])
    # Three slices of one job, merged as an AWX workflow merges them (dict.update, in finish order): the run-level key
    # holds the last slice alone, the per-account keys hold every account.
    slices = [rollout_stats(rollout_summary([outcome], "torque-envs", {"torque-envs": {"status": status, "error": None}}))
              for outcome in OUTCOMES]
    merged = {}
    for published in slices:
        merged.update(published)
    assert list(merged["eks_irsa_rollout"]["accounts"]) == [OUTCOMES[-1]["host"]]
    assert {key: value for key, value in merged.items() if key != "eks_irsa_rollout"} == \
        {key: value for key, value in stats.items() if key != "eks_irsa_rollout"}


def test_rollout_summary_when_the_service_accounts_failed_gives_no_blueprint():
    summary = rollout_summary([OUTCOMES[2]], "torque-envs",
                              {"torque-envs": {"status": {}, "error": "namespace 'torque-envs' does not exist in the cluster"}})
    assert summary["lines"] == [
        "ACCOUNT       HOST   PROVIDER  ROLE                                          ROLE STATUS  SERVICE ACCOUNT      SA STATUS",
        "123456789012  tools  created   arn:aws:iam::123456789012:role/torque-runner  created      torque-runner-tools  FAILED",
        "FAILED ServiceAccounts in namespace torque-envs: namespace 'torque-envs' does not exist in the cluster",
    ]
    assert summary["failed"] == [] and summary["service_account_failed"] == ["tools"]
    assert summary["service_account_error"] == "namespace torque-envs: namespace 'torque-envs' does not exist in the cluster"
    assert summary["accounts"]["tools"]["roles"][0]["service_account_status"] is None
    assert summary["accounts"]["tools"]["service_account_error"] == summary["service_account_error"]


def test_a_failed_namespace_marks_only_the_accounts_whose_service_accounts_it_holds():
    outcomes = [outcome("a", "111111111111", [role("r", "runner", account="111111111111", namespace="team-a")]),
                outcome("b", "222222222222", [role("r", "runner", account="222222222222", namespace="team-b")]),
                outcome("c", "333333333333", [role("r", "runner", account="333333333333", namespace="team-a"),
                                              dict(role("p", "runner-*", account="333333333333", namespace="ci"), pattern=True)])]
    summary = rollout_summary(outcomes, "team-a", {"team-a": {"status": {"runner": "created"}, "error": None},
                                                   "team-b": {"status": {}, "error": "forbidden"}})
    assert [line.split()[-1] for line in summary["lines"][1:5]] == ["created", "FAILED", "created", "(pattern)"]
    assert summary["service_account_failed"] == ["b"] and summary["failed"] == []
    assert summary["lines"][5:] == [
        "FAILED ServiceAccounts in namespace team-b: forbidden",
        "Blueprint: the spec.agent of the grain that deploys into each account, in namespace team-a:",
        "  account 111111111111 (a), role r: " + AGENT % ("runner", "team-a"),
        "  account 333333333333 (c), role r: " + AGENT % ("runner", "team-a"),
    ]
    assert summary["accounts"]["a"]["service_account_error"] is None
    assert summary["accounts"]["b"]["service_account_error"] == "namespace team-b: forbidden"
    assert summary["accounts"]["c"]["roles"][1]["service_account_status"] is None
    assert summary["accounts"]["c"]["roles"][1]["namespace"] == "ci"  # several namespaces: each role says its own
    assert summary["lines"][0].split()[6] == "NAMESPACE" and summary["lines"][1].split()[5] == "team-a"  # "ROLE STATUS" is two words
    assert summary["namespaces"] == ["ci", "team-a", "team-b"]


def test_rollout_summary_shows_an_account_without_roles_and_deleted_roles_get_no_hint():
    outcomes = [outcome("bare", "444444444444", provider="ok"),
                outcome("old", "555555555555", [dict(role("x", "x-old", account="555555555555", namespace="ns"), status="deleted")])]
    lines = rollout_summary(outcomes, "ns", {"ns": {"status": {"x-old": "deleted"}, "error": None}})["lines"]
    assert lines == [
        "ACCOUNT       HOST  PROVIDER  ROLE                              ROLE STATUS  SERVICE ACCOUNT  SA STATUS",
        "444444444444  bare  ok        -                                 -            -                -",
        "555555555555  old   created   arn:aws:iam::555555555555:role/x  deleted      x-old            deleted",
    ]


def test_rollout_summary_of_nothing_is_the_header_alone():
    summary = rollout_summary([], "ns")
    assert summary["lines"] == ["ACCOUNT  HOST  PROVIDER  ROLE  ROLE STATUS  SERVICE ACCOUNT  SA STATUS"]
    assert summary["accounts"] == {} and summary["failed"] == []


def test_rollout_summary_names_a_role_without_an_arn_by_its_name():
    outcomes = [outcome("dev", ACCOUNT, [dict(role("torque-runner", "torque-runner-dev"), arn=None)])]
    assert rollout_summary(outcomes, "ns")["lines"][1].split()[3] == "torque-runner"


def test_rollout_outcomes_come_from_each_account_result_keyed_by_role():
    trusted = [{"cluster": "agents", "namespace": "torque-envs", "name": "runner-dev", "pattern": False},
               {"cluster": "agents", "namespace": "ci", "name": "runner-*", "pattern": True}]
    providers = [{"cluster": "agents", "url": "https://oidc.example/agents", "state": "present", "tags": {}}]
    plan = {"dev": {"account_id": "222222222222", "providers": providers,
                    "roles": [{"trusted": [], "retired_service_accounts": [], "params": {"name": "other"},
                               "source": "eks_irsa_roles[0] (other)"},
                              {"trusted": trusted, "retired_service_accounts": [], "params": {"name": "runner", "adopt": True},
                               "source": "eks_irsa_roles[1] (runner)"}]},
            "prod": {"account_id": "333333333333", "providers": providers}}
    hostvars = {
        "dev": {"eks_irsa_plan": plan, "eks_irsa_account_result": {
            "provider": {"status": "created"},
            "roles": {"runner": {"arn": "arn:aws:iam::222222222222:role/runner", "status": "created", "name": "runner",
                                 "service_accounts": ["torque-envs:runner-dev", "ci:runner-*"]}}}},
        "prod": {"eks_irsa_plan": plan, "eks_irsa_error": "could not assume",
                 "eks_irsa_account_result": {"provider": {"status": "ok"}, "roles": {}}},
    }
    assert rollout.rollout_outcomes(["dev", "prod"], hostvars) == [
        {"host": "dev", "account_id": "222222222222", "provider": "created", "providers": {"agents": "created"}, "error": None,
         "retired": [], "warnings": [],
         "roles": [{"name": "runner", "arn": "arn:aws:iam::222222222222:role/runner", "status": "created", "cluster": "agents",
                    "namespace": "torque-envs", "service_account": "runner-dev", "pattern": False, "adopt": True,
                    "source": "dev: eks_irsa_roles[1] (runner)"},
                   {"name": "runner", "arn": "arn:aws:iam::222222222222:role/runner", "status": "created", "cluster": "agents",
                    "namespace": "ci", "service_account": "runner-*", "pattern": True, "adopt": True,
                    "source": "dev: eks_irsa_roles[1] (runner)"}]},
        {"host": "prod", "account_id": "333333333333", "provider": None, "providers": {}, "roles": [], "retired": [],
         "warnings": [], "error": "could not assume"},
    ]


def test_a_provider_kept_although_asked_to_go_is_a_warning_in_the_outcome_the_table_and_the_published_account():
    kept = "still trusted by team-x-deployer, team-y-deployer"
    arn = "arn:aws:iam::222222222222:oidc-provider/oidc.example/blue"
    plan = {"dev": {"account_id": "222222222222", "roles": [],
                    "providers": [{"cluster": "green", "url": "https://oidc.example/green", "state": "present"},
                                  {"cluster": "blue", "url": "https://oidc.example/blue", "state": "absent"}]}}
    result = {"providers": [{"arn": "arn:aws:iam::222222222222:oidc-provider/oidc.example/green", "status": "ok"},
                            {"arn": arn, "status": "kept", "kept": kept, "trusted_by": ["team-x-deployer", "team-y-deployer"]}],
              "roles": {}}
    outcomes = rollout.rollout_outcomes(["dev"], {"dev": {"eks_irsa_plan": plan, "eks_irsa_account_result": result}})
    assert outcomes[0]["providers"] == {"green": "ok", "blue": "kept"}
    assert outcomes[0]["warnings"] == [f"OIDC provider {arn} kept: {kept}"]
    clusters = [{"name": "green"}, {"name": "blue", "state": "absent"}]
    summary = rollout_summary(outcomes, "torque-envs", {}, clusters)
    assert summary["accounts"]["dev"]["warnings"] == [f"OIDC provider {arn} kept: {kept}"]
    assert summary["accounts"]["dev"]["providers"] == {"green": "ok", "blue": "kept"}
    assert f"WARNING dev (222222222222): OIDC provider {arn} kept: {kept}; it goes once nothing else needs it (run again then)" \
        in summary["lines"]
    assert summary["failed"] == []


# -- several clusters ---------------------------------------------------------------------------------------------

CLUSTERS = [{"name": "blue", "state": "absent", "kubeconfig": "/k/blue", "context": None},
            {"name": "green", "state": "present", "kubeconfig": "/k/green", "context": "admin"}]


def clustered(host, account, providers, roles=(), retired=(), error=None):
    return {"host": host, "account_id": account, "provider": None, "providers": providers, "roles": list(roles),
            "retired": list(retired), "error": error}


def test_a_retired_cluster_gets_its_service_accounts_deleted_and_the_present_ones_applied_with_their_access():
    runner = dict(role("runner", "runner-a"), cluster="green")
    outcomes = [clustered("a", "111111111111", {"green": "ok", "blue": "deleted"}, [runner],
                          [{"cluster": "blue", "namespace": "torque-envs", "name": "runner-a", "role": "runner", "adopt": False,
                            "source": "a"}]),
                clustered("b", "222222222222", {}, retired=[{"cluster": "blue", "namespace": "torque-envs", "name": "runner-b"}],
                          error="AccessDenied")]
    groups = rollout.rollout_service_account_groups(outcomes, CLUSTERS, create_namespace=True)
    assert [(g["label"], g["state"], g["kubeconfig"], g["context"], [sa["name"] for sa in g["service_accounts"]]) for g in groups] == [
        ("green/torque-envs", "present", "/k/green", "admin", ["runner-a"]),
        ("blue/torque-envs", "absent", "/k/blue", None, ["runner-a"])]  # a failed account's ServiceAccounts stay
    assert groups[1]["service_accounts"] == [{"name": "runner-a", "adopt": False, "source": "a"}]  # what the role takes
    rendered = rollout.rollout_service_account_groups(outcomes, CLUSTERS, render_dir="/out")
    assert [(g["label"], g["render_dir"]) for g in rendered] == [("green/torque-envs", "/out")]  # nothing to delete in files


def test_the_summary_of_several_clusters_has_a_cluster_column_and_publishes_each_provider():
    blue, green = (dict(role("runner", "runner-a", account="111111111111"), cluster=name) for name in ("blue", "green"))
    outcomes = [clustered("a", "111111111111", {"blue": "ok", "green": "created"}, [blue, green]),
                clustered("b", "222222222222", {"green": "ok", "old": "deleted"},
                          [dict(role("runner", "runner-b", account="222222222222"), cluster="green")])]
    clusters = [{"name": "blue"}, {"name": "green"}, {"name": "old", "state": "absent"}]
    results = {"blue/torque-envs": {"status": {"runner-a": "ok"}, "error": None},
               "green/torque-envs": {"status": {}, "error": "forbidden"}}
    summary = rollout_summary(outcomes, "torque-envs", results, clusters)
    assert summary["lines"][:5] == [
        "ACCOUNT       HOST  CLUSTER  PROVIDER  ROLE                                   ROLE STATUS  SERVICE ACCOUNT  SA STATUS",
        "111111111111  a     blue     ok        arn:aws:iam::111111111111:role/runner  created      runner-a         ok",
        "111111111111  a     green    created   arn:aws:iam::111111111111:role/runner  created      runner-a         FAILED",
        "222222222222  b     green    ok        arn:aws:iam::222222222222:role/runner  created      runner-b         FAILED",
        "222222222222  b     old      deleted   -                                      -            -                -",
    ]
    assert summary["lines"][5:] == [
        "FAILED ServiceAccounts in namespace torque-envs of cluster green: forbidden",
        "Blueprint: the spec.agent of the grain that deploys into each account, in namespace torque-envs of cluster blue:",
        "  account 111111111111 (a), role runner: " + AGENT % ("runner-a", "torque-envs"),
    ]
    assert summary["clusters"] == ["blue", "green", "old"] and summary["service_account_failed"] == ["a", "b"]
    assert summary["accounts"]["b"]["providers"] == {"green": "ok", "old": "deleted"}
    assert summary["accounts"]["a"]["roles"][0] == {"name": "runner", "arn": "arn:aws:iam::111111111111:role/runner", "status": "created",
                                                    "cluster": "blue", "service_account": "runner-a", "service_account_status": "ok"}
    assert summary["accounts"]["a"]["service_account_error"] == "namespace torque-envs of cluster green: forbidden"
    assert summary["accounts"]["b"]["retired"] == []
    retiring = clustered("c", "333333333333", {"green": "ok", "old": "deleted"},
                         [dict(role("runner", "runner-c", account="333333333333"), cluster="green")],
                         [{"cluster": "old", "namespace": "torque-envs", "name": "runner-c", "role": "runner"}])
    summary = rollout_summary([retiring], "torque-envs", {"old/torque-envs": {"status": {"runner-c": "deleted"}, "error": None},
                                                          "green/torque-envs": {"status": {"runner-c": "ok"}, "error": None}}, clusters)
    assert summary["lines"][2].split() == ["333333333333", "c", "old", "deleted", "runner", "-", "runner-c", "deleted"]
    assert len(summary["lines"]) == 5  # no provider-only row: the deleted ServiceAccount's row shows the provider
    assert summary["accounts"]["c"]["retired"] == [{"cluster": "old", "namespace": "torque-envs", "service_account": "runner-c",
                                                    "role": "runner", "service_account_status": "deleted"}]
    single = rollout_summary(OUTCOMES, "torque-envs", {}, [{"name": "agents"}])
    assert "clusters" not in single and "providers" not in single["accounts"]["prod"] and "CLUSTER" not in single["lines"][0]


def test_a_role_with_its_own_audience_gets_its_service_accounts_annotated_with_it():
    plan = {"dev": {"account_id": ACCOUNT, "providers": [{"cluster": "agents", "state": "present"}], "roles": [
        {"trusted": [{"cluster": "agents", "namespace": "ns", "name": "vault-dev", "pattern": False}], "retired_service_accounts": [],
         "params": {"name": "vault", "audience": "vault.example.com"}, "source": "eks_irsa_roles[0] (vault)"},
        {"trusted": [{"cluster": "agents", "namespace": "ns", "name": "runner-dev", "pattern": False}], "retired_service_accounts": [],
         "params": {"name": "runner", "audience": "sts.amazonaws.com"}, "source": "eks_irsa_roles[1] (runner)"}]}}
    hostvars = {"dev": {"eks_irsa_plan": plan, "eks_irsa_account_result": {"provider": {"status": "ok"}, "roles": {
        "vault": {"arn": f"arn:aws:iam::{ACCOUNT}:role/vault", "status": "created"},
        "runner": {"arn": f"arn:aws:iam::{ACCOUNT}:role/runner", "status": "created"}}}}}
    vault, runner = rollout_service_accounts(rollout.rollout_outcomes(["dev"], hostvars))
    assert vault["annotations"] == {"eks.amazonaws.com/audience": "vault.example.com"}
    assert "annotations" not in runner  # the default audience needs no annotation


def test_a_spoke_role_is_shown_with_the_hubs_service_account_in_each_cluster_and_applies_none():
    hub = {"role_arn": "arn:aws:iam::111111111111:role/hub", "service_account": "agent", "namespace": "envs", "clusters": ["blue", "green"]}
    plan = {"tools": {"account_id": "111111111111", "providers": [], "roles": [
        {"trusted": [{"cluster": cluster, "namespace": "envs", "name": "agent", "pattern": False} for cluster in ("blue", "green")],
         "retired_service_accounts": [], "params": {"name": "hub"}, "source": "eks_irsa_hub (hub)", "hub_role": True},
        {"trusted": [], "retired_service_accounts": [], "params": {"name": "deployer", "trusted_role": {"arn": hub["role_arn"], "external_id": "x-1"}},
         "source": "eks_irsa_hub.spokes[0] (deployer)", "hub": hub}]}}
    hostvars = {"tools": {"eks_irsa_plan": plan, "eks_irsa_account_result": {"providers": [], "roles": {
        "hub": {"arn": hub["role_arn"], "status": "created"},
        "deployer": {"arn": "arn:aws:iam::111111111111:role/deployer", "status": "created"}}}}}
    outcomes = rollout.rollout_outcomes(["tools"], hostvars)
    spokes = [role for role in outcomes[0]["roles"] if role.get("hub")]
    shown = [(role["cluster"], role["service_account"], role["external_id"]) for role in spokes]
    assert shown == [("blue", "agent", "x-1"), ("green", "agent", "x-1")]
    applied = [(item["cluster"], item["name"], item["role_arn"]) for item in rollout_service_accounts(outcomes)]
    assert applied == [("blue", "agent", hub["role_arn"]), ("green", "agent", hub["role_arn"])]
    clusters = [{"name": "blue"}, {"name": "green"}]
    results = {f"{cluster}/envs": {"status": {"agent": "created"}, "error": None} for cluster in ("blue", "green")}
    summary = rollout_summary(outcomes, "envs", results, clusters, torque_agent={"blue": "b", "green": "g"})
    published = summary["accounts"]["tools"]["roles"]
    assert [role.get("hub") for role in published] == [None, None, hub["role_arn"], hub["role_arn"]]
    assert sorted(summary["blueprints"]) == ["accounts/tools-111111111111.yaml", "all-accounts-hub-blue-deployer.yaml",
                                             "all-accounts-hub-green-deployer.yaml"]  # the hub role itself is no grain's


def test_an_account_whose_cluster_could_not_be_read_fails_with_that_message_and_no_roles():
    plan = {"dev": {"account_id": "222222222222", "providers": [], "roles": []}}
    hostvars = {"dev": {"eks_irsa_plan": plan}}
    (dev,) = rollout.rollout_outcomes(["dev"], hostvars, {"dev": "cluster green: cannot connect"})
    assert (dev["error"], dev["roles"], dev["providers"]) == ("cluster green: cannot connect", [], {})
    summary = rollout_summary([dev], "torque-envs")
    assert summary["failed"] == ["dev"] and "FAILED dev (222222222222): cluster green: cannot connect" in summary["lines"]


def test_the_rollouts_missing_namespace_error_names_eks_irsa_create_namespace():
    groups = rollout.rollout_service_account_groups(OUTCOMES)
    assert groups[0]["create_namespace_fix"] == ("set eks_irsa_create_namespace: true (or list torque-envs in it) to let the "
                                                 "rollout create it")

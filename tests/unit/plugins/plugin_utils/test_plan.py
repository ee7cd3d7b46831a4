# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The plan of an inventory (plugins/plugin_utils/plan.py, from the checks of inventory_checks.py and run_clusters.py to
role_plans.py and service_account_groups.py), called as the preflight's filters call it."""

import botocore
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.torque.eks_irsa.plugins.filter import account_plans as filters
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_checks import checked_hub
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_checks import checked_inventory
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.inventory_schema import PlanError
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.plan import account_plans
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.plan import hub_hosts
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.plan import provider_options
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.role_plans import default_service_account
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.role_plans import role_plans
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.run_clusters import looked_up_issuers
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.run_clusters import run_clusters
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.service_account_groups import planned_service_account_groups
from ansible_collections.torque.eks_irsa.plugins.plugin_utils.service_account_groups import planned_service_accounts

ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
OTHER_ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/OTHER"
ISSUERS = {"agents": ISSUER}  # what the preflight looked up, by cluster name
AGENTS = [{"name": "agents", "region": None, "issuer": ISSUER, "kubeconfig": None, "context": None, "state": "present"}]
ACCOUNT = "222222222222"
PASS_ROLE = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}]}


def _account(account_id, **values):
    host_vars = {"eks_irsa_account_id": account_id, "eks_irsa_cluster_name": "agents", "eks_irsa_namespace": "torque",
                 "eks_irsa_roles": [{"name": "torque-runner"}]}
    host_vars.update(values)
    return host_vars


def _inventory(**hosts):
    return list(hosts), hosts


def _problems(hosts, hostvars, issuers=None):
    with pytest.raises(PlanError) as error:
        account_plans(hosts, hostvars, ISSUERS if issuers is None else issuers)
    return str(error.value).splitlines()


# -- the filters only adapt -----------------------------------------------------------------------------


def test_filters_are_the_plan_functions_with_filter_errors():
    registered = filters.FilterModule().filters()
    assert set(registered) == {"checked_inventory", "run_clusters", "looked_up_issuers", "looked_up_cluster_arns", "account_plans",
                               "planned_service_accounts", "planned_service_account_groups"}
    with pytest.raises(AnsibleFilterError) as error:
        registered["account_plans"](*_inventory(dev=_account("1")), ISSUERS)
    assert str(error.value).splitlines()[1].startswith("dev: eks_irsa_account_id '1' is not an AWS account ID")
    assert error.value.__cause__ is None and error.value.__suppress_context__  # Ansible would append the cause again


# -- what every account must set ------------------------------------------------------------------------


def test_the_torque_agent_names_a_cluster_of_the_run_and_is_set_once_for_the_run():
    hosts, hostvars = _inventory(dev=_account("111111111111", eks_irsa_torque_agent={"green": "g"}),
                                 prod=_account("222222222222", eks_irsa_torque_agent={"green": "g"}))
    with pytest.raises(PlanError) as error:
        checked_inventory(hosts, hostvars)
    assert "eks_irsa_torque_agent names the agent of green, which is not a cluster of the run (agents)" in str(error.value)
    hosts, hostvars = _inventory(dev=_account("111111111111", eks_irsa_torque_agent="a"), prod=_account("222222222222"))
    with pytest.raises(PlanError, match="eks_irsa_torque_agent differs between hosts"):
        checked_inventory(hosts, hostvars)
    hosts, hostvars = _inventory(dev=_account("111111111111", eks_irsa_torque_agent={"agents": "eu"}))
    assert checked_inventory(hosts, hostvars) == ["dev"]


@pytest.mark.parametrize("variable, value, message", [
    ("eks_irsa_token_expiration", 60, "eks_irsa_token_expiration 60 is not a token lifetime EKS accepts: give seconds from 600 to 86400"),
    ("eks_irsa_sts_regional_endpoints", "maybe", "eks_irsa_sts_regional_endpoints 'maybe' is not a boolean: write true or false"),
    ("eks_irsa_service_account_labels", {"bad key!": "x"}, "eks_irsa_service_account_labels: 'bad key!' is not a valid Kubernetes label key"),
])
def test_the_service_account_settings_are_checked_with_the_inventory_naming_its_variable(variable, value, message):
    hosts, hostvars = _inventory(dev=_account("111111111111", **{variable: value}), prod=_account("222222222222", **{variable: value}))
    with pytest.raises(PlanError) as error:
        checked_inventory(hosts, hostvars)
    assert message in str(error.value) and "service_account_" not in str(error.value).replace("eks_irsa_service_account_", "")
    hosts, hostvars = _inventory(dev=_account("111111111111", eks_irsa_token_expiration=3600, eks_irsa_sts_regional_endpoints=False,
                                              eks_irsa_service_account_labels={"team": "platform"}))
    assert checked_inventory(hosts, hostvars) == ["dev"]


class CountingHostvars(dict):
    """Ansible's hostvars as the filters see them: every ``hostvars[host]`` computes all of that host's variables again,
    at a cost that grows with the inventory, so the count of those reads is what must not grow with it."""

    def __init__(self, hosts):
        super().__init__(hosts)
        self.reads = 0

    def __getitem__(self, host):
        self.reads += 1
        return super().__getitem__(host)


def test_the_preflight_reads_each_host_s_variables_once_whatever_the_inventory_s_size():
    hosts, hostvars = _inventory(**{f"acct-{index}": _account(f"1111111111{index:02d}") for index in range(20)})
    counting = CountingHostvars(hostvars)
    assert checked_inventory(hosts, counting) == hosts
    assert counting.reads == len(hosts)
    counting.reads = 0
    assert sorted(account_plans(hosts, counting, ISSUERS)) == sorted(hosts)
    assert counting.reads == len(hosts)


def test_checked_inventory_passes_complete_accounts_through():
    hosts, hostvars = _inventory(dev=_account("111111111111"), prod=_account("222222222222", eks_irsa_region="eu-west-1"))
    assert checked_inventory(hosts, hostvars) == ["dev", "prod"]


def test_checked_inventory_reports_every_account_at_once_naming_host_and_variable():
    missing_namespace = _account("111111111111")
    del missing_namespace["eks_irsa_namespace"]
    hosts, hostvars = _inventory(dev=missing_namespace, ok=_account("333333333333"),
                                 prod=_account("", eks_irsa_roles="torque-runner", eks_irsa_region="mars-1"))
    with pytest.raises(PlanError) as error:
        checked_inventory(hosts, hostvars)
    assert str(error.value).splitlines() == [
        "The inventory has 4 problems; nothing was written. Fix and run again:",
        "dev: eks_irsa_namespace is not set: give the Kubernetes namespace the ServiceAccounts go in",
        "prod: eks_irsa_account_id is not set: give the 12-digit ID of the account as a host variable, quoted",
        'prod: eks_irsa_roles "torque-runner" is not a list of roles: write each role as a mapping, for example [{name: torque-runner}]',
        f"prod: eks_irsa_region 'mars-1' is not an AWS region botocore {botocore.__version__} knows (write it like eu-west-1); "
        "if AWS opened it after this botocore was released, upgrade botocore",
    ]


def test_checked_inventory_accepts_an_issuer_instead_of_a_cluster_name():
    without_cluster = _account("111111111111", eks_irsa_issuer=ISSUER)
    del without_cluster["eks_irsa_cluster_name"]
    assert checked_inventory(*_inventory(dev=without_cluster)) == ["dev"]
    del without_cluster["eks_irsa_issuer"]
    with pytest.raises(PlanError, match="dev: eks_irsa_cluster_name is not set"):
        checked_inventory(*_inventory(dev=without_cluster))


# -- one account ------------------------------------------------------------------------------------------


def test_account_plans_gives_each_account_its_checked_values_and_role_plan():
    hosts, hostvars = _inventory(
        dev=_account(111111111111, eks_irsa_assume_role_arn="arn:aws:iam::111111111111:role/irsa-deployer",
                     eks_irsa_external_id="torque-ext", eks_irsa_tags={"team": "platform"}),
        prod=_account("222222222222", eks_irsa_issuer=OTHER_ISSUER + "/"),
    )
    plans = account_plans(hosts, hostvars, ISSUERS)
    tags = {"eks-irsa:cluster": "agents", "team": "platform"}
    assert plans["dev"] == {
        "account_id": "111111111111",
        "assume_role_arn": "arn:aws:iam::111111111111:role/irsa-deployer",
        "external_id": "torque-ext",
        "providers": [{"cluster": "agents", "url": ISSUER, "state": "present", "tags": tags, "client_ids": ["sts.amazonaws.com"]}],
        "provider_arguments": {
            "present": {"provider": {"url": ISSUER, "state": "present", "tags": tags, "purge_tags": False,
                                     "client_ids": ["sts.amazonaws.com"], "purge_client_ids": False}},
            "absent": {"provider": {"url": ISSUER}}},
        "roles": role_plans([{"name": "torque-runner"}], AGENTS, "torque", "111111111111", suffix="dev", tags={"team": "platform"}),
        # An IRSA role's association goes only when the role leaves EKS Pod Identity (irsa_account reads it only then).
        "associations": [{"cluster_name": "agents", "namespace": "torque", "service_account": "torque-runner-dev",
                          "role_name": "torque-runner", "state": "absent", "when_role_leaves_pod_identity": True}],
    }
    assert plans["dev"]["roles"][0]["params"]["tags"] == tags
    # A host's own eks_irsa_issuer wins over the looked-up one, in IAM's form (no trailing slash).
    assert [provider["url"] for provider in plans["prod"]["providers"]] == [OTHER_ISSUER]
    assert plans["prod"]["assume_role_arn"] is None and plans["prod"]["external_id"] is None
    assert [role["service_accounts"] for role in plans["prod"]["roles"]] == [
        [{"cluster": "agents", "namespace": "torque", "name": "torque-runner-prod"}]]
    assert planned_service_accounts(plans) == [
        {"cluster": "agents", "namespace": "torque", "name": "torque-runner-dev", "adopt": False,
         "source": "dev: eks_irsa_roles[0] (torque-runner)"},
        {"cluster": "agents", "namespace": "torque", "name": "torque-runner-prod", "adopt": False,
         "source": "prod: eks_irsa_roles[0] (torque-runner)"}]


def test_an_account_without_a_cluster_name_gets_no_cluster_tag():
    without_cluster = _account(ACCOUNT, eks_irsa_issuer=ISSUER)
    del without_cluster["eks_irsa_cluster_name"]
    (planned,) = account_plans(*_inventory(dev=without_cluster))["dev"]["providers"]
    assert planned["tags"] == {} and planned["cluster"] is None
    assert account_plans(*_inventory(dev=without_cluster))["dev"]["roles"][0]["params"]["tags"] == {}


@pytest.mark.parametrize("values, message", [
    (dict(eks_irsa_account_id="11111111111"), "eks_irsa_account_id '11111111111' is not an AWS account ID"),
    (dict(eks_irsa_account_id="2222222222a"), "quote it in YAML"),
    (dict(eks_irsa_assume_role_arn="arn:aws:iam::999999999999:role/irsa-deployer"),
     "eks_irsa_assume_role_arn arn:aws:iam::999999999999:role/irsa-deployer is a role in account 999999999999, "
     "not in account 222222222222"),
    (dict(eks_irsa_assume_role_arn="irsa-deployer"),
     "eks_irsa_assume_role_arn 'irsa-deployer' is not an IAM role ARN: write arn:aws:iam::222222222222:role/"),
    (dict(eks_irsa_external_id="x"), 'eks_irsa_external_id "x" is not an external ID STS accepts: use 2 to 1224 letters'),
    (dict(eks_irsa_issuer="http://" + ISSUER[8:]), "eks_irsa_issuer 'http://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE' "
                                                   "uses the scheme 'http'"),
    (dict(eks_irsa_issuer="https://oidc.example.com/" + "x" * 240), "is 265 characters: IAM accepts an OIDC provider URL of at most 255"),
    (dict(eks_irsa_tags={"k" * 129: "v"}), "eks_irsa_tags: tag key 'kkk"),
    (dict(eks_irsa_roles=[]), "eks_irsa_roles is empty: list at least one role for this account"),
    (dict(eks_irsa_roles=[{"description": "no name"}]), "eks_irsa_roles[0]: each role needs at least a 'name' (the IAM role name)"),
    (dict(eks_irsa_roles=[{"nmae": "r", "managed_policy": [], "zzz": 1}]),
     "eks_irsa_roles[0]: each role needs at least a 'name' (the IAM role name); it has unsupported parameters "
     "eks_irsa_roles.managed_policy (did you mean managed_policies?), eks_irsa_roles.nmae (did you mean name?), eks_irsa_roles.zzz"),
    (dict(eks_irsa_roles=["torque-runner"]), "eks_irsa_roles[0]: each role needs at least a 'name'"),
    (dict(eks_irsa_roles=[{"name": "r", "managed_policy": []}]),
     "eks_irsa_roles[0] (r): unsupported parameters eks_irsa_roles.managed_policy (did you mean managed_policies?). Supported "
     "parameters include:"),
    (dict(eks_irsa_roles=[{"name": "a"}, {"name": "b", "service_account": "a-prod"}]),
     "eks_irsa_roles[1] (b): service account 'a-prod' is already used by role 'a'; one ServiceAccount carries one role ARN"),
    (dict(eks_irsa_roles=[{"name": "r"}, {"name": "R", "service_account": "other"}]),
     "eks_irsa_roles[1] (R): the role is already listed as eks_irsa_roles[0]; IAM role names are unique"),
    (dict(eks_irsa_roles=[{"name": "r", "max_session_duration": 100}]),
     "eks_irsa_roles[0] (r): max_session_duration 100 is out of range: IAM accepts 3600 to 43200 seconds"),
    (dict(eks_irsa_roles=[{"name": "r", "managed_policies": ["ReadOnlyAccess"]}]),
     "eks_irsa_roles[0] (r): managed_policies[0] 'ReadOnlyAccess' is not an IAM policy ARN"),
    (dict(eks_irsa_roles=[{"name": "r", "service_account": "Runner_Prod"}]),
     "eks_irsa_roles[0] (r): service_account: the service account name 'Runner_Prod' is not a valid Kubernetes name"),
    (dict(eks_irsa_roles=[{"name": "r" * 65}]), "eks_irsa_roles[0] (" + "r" * 65 + "): name '" + "r" * 65 + "' is not a valid IAM role name"),
    (dict(eks_irsa_roles=[{"name": "r", "description": "d" * 1001}]),
     "eks_irsa_roles[0] (r): description is 1001 characters; IAM accepts at most 1000: shorten it"),
    (dict(eks_irsa_roles=[{"name": "r", "tags": {"aws:owner": "x"}}]), "eks_irsa_roles[0] (r): tags: tag key 'aws:owner' is not a valid IAM tag key"),
    (dict(eks_irsa_roles=[{"name": "r", "max_session_duration": "long"}]), "eks_irsa_roles[0] (r): "),
    (dict(eks_irsa_namespace="Torque_Envs"), "the namespace 'Torque_Envs' is not a valid Kubernetes name"),
    # A mapping or list given as something else is said as such, not left to fail later in the plan.
    (dict(eks_irsa_tags="team=platform"), 'eks_irsa_tags "team=platform" is not a mapping: give the tags as keys and values'),
    (dict(eks_irsa_roles=[{"name": "r", "tags": "team=platform"}]), 'eks_irsa_roles[0] (r): tags "team=platform" is not a mapping'),
    (dict(eks_irsa_roles=[{"name": "r", "clusters": [["agents"]]}]), 'eks_irsa_roles[0] (r): clusters[0] ["agents"] is not a string'),
    (dict(eks_irsa_roles=[{"name": "r", "managed_policies": [["arn:aws:iam::aws:policy/ReadOnlyAccess"]]}]),
     'eks_irsa_roles[0] (r): managed_policies[0] ["arn:aws:iam::aws:policy/ReadOnlyAccess"] is not a string'),
])
def test_a_bad_value_is_refused_naming_the_host_and_the_inventory_variable(values, message):
    lines = _problems(*_inventory(prod=_account(ACCOUNT, **values)))
    assert len(lines) == 2 and lines[1].startswith("prod: ") and message in lines[1], lines


def test_a_bad_policy_document_is_reported_once():
    (_header, line) = _problems(*_inventory(prod=_account(ACCOUNT, eks_irsa_roles=[{"name": "r", "inline_policies": {"x": "{bad"}}])))
    assert line.count("not valid JSON") == 1


def test_every_bad_account_is_reported_in_one_error():
    lines = _problems(*_inventory(dev=_account("11111111111"), ok=_account("333333333333"),
                                  stage=_account("444444444444", eks_irsa_roles=[{"name": "r", "managed_policy": []}])))
    assert lines[0] == "The inventory has 2 problems; nothing was written. Fix and run again:"
    assert [line.split(":")[0] for line in lines[1:]] == ["dev", "stage"]


def test_role_plans_are_the_irsa_account_entries_of_each_role():
    roles = [
        {"name": "torque-runner", "description": "runner", "managed_policies": ["arn:aws:iam::aws:policy/PowerUserAccess"],
         "inline_policies": {"pass": PASS_ROLE}, "max_session_duration": 7200, "adopt": True,
         "path": "/irsa/", "permissions_boundary": "", "tags": {"tier": "deploy", "owner": "role-wins"}},
        {"name": "torque-reader", "service_account": "reader", "description": None},
    ]
    assert role_plans(roles, AGENTS, "torque-envs", ACCOUNT, suffix="dev", tags={"owner": "platform"}) == [
        {"service_accounts": [{"cluster": "agents", "namespace": "torque-envs", "name": "torque-runner-dev"}],
         "retired_service_accounts": [], "clusters": ["agents"],
         "trusted": [{"cluster": "agents", "namespace": "torque-envs", "name": "torque-runner-dev", "pattern": False}], "params": {
            "path": "/irsa/", "description": "runner", "managed_policies": ["arn:aws:iam::aws:policy/PowerUserAccess"],
            "inline_policies": {"pass": PASS_ROLE}, "permissions_boundary": "", "max_session_duration": 7200, "adopt": True,
            "name": "torque-runner", "account_id": ACCOUNT, "trust_policy_mode": "exclusive", "purge_tags": False,
            "tags": {"eks-irsa:cluster": "agents", "owner": "role-wins", "tier": "deploy"},
            "trust": [{"issuer": ISSUER, "service_accounts": ["torque-envs:torque-runner-dev"]}]},
         "source": "eks_irsa_roles[0] (torque-runner)",
         # Were it leaving EKS Pod Identity, its association would go (irsa_account reads it only then).
         "associations": [{"cluster_name": "agents", "namespace": "torque-envs", "service_account": "torque-runner-dev",
                           "role_name": "torque-runner", "state": "absent", "when_role_leaves_pod_identity": True}]},
        {"service_accounts": [{"cluster": "agents", "namespace": "torque-envs", "name": "reader"}],
         "retired_service_accounts": [], "clusters": ["agents"],
         "trusted": [{"cluster": "agents", "namespace": "torque-envs", "name": "reader", "pattern": False}], "params": {
            "name": "torque-reader", "account_id": ACCOUNT, "trust_policy_mode": "exclusive",
            "purge_tags": False, "tags": {"eks-irsa:cluster": "agents", "owner": "platform"},
            "trust": [{"issuer": ISSUER, "service_accounts": ["torque-envs:reader"]}]},
         "source": "eks_irsa_roles[1] (torque-reader)",
         "associations": [{"cluster_name": "agents", "namespace": "torque-envs", "service_account": "reader",
                           "role_name": "torque-reader", "state": "absent", "when_role_leaves_pod_identity": True}]},
    ]


def test_a_valid_service_account_name_of_any_length_is_planned_and_the_quota_passed_on():
    name = "s" * 250
    (planned,) = role_plans([{"name": "torque-runner", "service_account": name}], AGENTS, "n" * 63, ACCOUNT,
                            tags={"owner": "platform"}, managed_policy_quota=20)
    assert planned["service_accounts"] == [{"cluster": "agents", "namespace": "n" * 63, "name": name}]
    assert planned["params"]["trust"] == [{"issuer": ISSUER, "service_accounts": [f"{'n' * 63}:{name}"]}]
    assert planned["params"]["managed_policy_quota"] == 20
    assert planned["params"]["tags"] == {"eks-irsa:cluster": "agents", "owner": "platform"}


@pytest.mark.parametrize("role, suffix, expected", [
    ("torque-runner", "dev", "torque-runner-dev"),
    ("Torque-Runner", "Prod", "torque-runner-prod"),
    ("torque-runner", "", "torque-runner"),
    ("torque_runner", "prod_eu", "torque-runner-prod-eu"),  # inventory host names often hold '_'
    ("deploy+ci@team", "dev", "deploy-ci-team-dev"),  # IAM allows + = , @ in role names
    ("runner", "web.example.com", "runner-web.example.com"),
    ("runner", "eu_", "runner-eu"),
])
def test_default_service_account_is_a_valid_kubernetes_name(role, suffix, expected):
    assert default_service_account(role, suffix) == expected


# -- across accounts ----------------------------------------------------------------------------------------


def test_one_service_account_claimed_by_two_accounts_is_refused():
    shared = [{"name": "torque-runner", "service_account": "shared"}]
    lines = _problems(*_inventory(dev=_account("111111111111", eks_irsa_roles=shared), prod=_account("222222222222", eks_irsa_roles=shared)))
    assert lines[1] == ("prod: eks_irsa_roles[0] (torque-runner): service account 'shared' is already used by role 'torque-runner' "
                        "of dev; one ServiceAccount carries one role ARN, so give each role its own service_account")


def test_one_service_account_claimed_by_three_accounts_names_every_host_in_one_line():
    shared = [{"name": "torque-runner", "service_account": "shared"}]
    hostvars = {host: _account(account, eks_irsa_roles=shared)
                for host, account in (("dev", "111111111111"), ("prod", "222222222222"), ("qa", "333333333333"))}
    lines = _problems(list(hostvars), hostvars)
    assert lines[1:] == ["prod: eks_irsa_roles[0] (torque-runner): service account 'shared' is already used by role 'torque-runner' "
                         "of dev and role 'torque-runner' of qa; one ServiceAccount carries one role ARN, so give each role its own "
                         "service_account"]


def test_one_role_listed_by_two_hosts_of_one_account_is_refused():
    lines = _problems(*_inventory(dev=_account(ACCOUNT), again=_account(ACCOUNT)))
    assert lines[1].startswith(f"again: eks_irsa_roles[0] (torque-runner): role 'torque-runner' of account {ACCOUNT} is already "
                               "listed by dev")


# -- what the run uses once ----------------------------------------------------------------------------------


@pytest.mark.parametrize("variable, dev_value, why", [
    ("eks_irsa_cluster_name", "other-cluster", "the issuer is looked up once, and every account's roles trust that cluster"),
    ("eks_irsa_issuer", OTHER_ISSUER, "every account's roles trust one cluster"),
    ("eks_irsa_kube_context", "other", "one Kubernetes connection"),
    ("eks_irsa_kubeconfig", "/tmp/other", "one Kubernetes connection"),
    ("eks_irsa_service_account_labels", {"team": "b"}, "the same labels"),
    ("eks_irsa_token_expiration", 3600, "the same EKS annotations"),
    ("eks_irsa_sts_regional_endpoints", True, "the same EKS annotations"),
    ("eks_irsa_create_namespace", True, "created, or not, once"),
    ("eks_irsa_render_dir", "/tmp/out", "renders every ServiceAccount"),
])
def test_a_run_level_variable_given_differently_by_one_host_is_refused(variable, dev_value, why):
    hostvars = {"tools": _account("111111111111"), "dev": _account("222222222222", **{variable: dev_value}),
                "prod": _account("333333333333")}
    with pytest.raises(PlanError) as error:
        checked_inventory(list(hostvars), hostvars)
    lines = str(error.value).splitlines()
    assert len(lines) == 2, lines
    assert lines[1].startswith(f"{variable} differs between hosts (")
    before = "(not set)" if variable != "eks_irsa_cluster_name" else f'"{_account("1")[variable]}"'
    assert f"tools, prod: {before}" in lines[1] and "dev: " in lines[1]
    assert why in lines[1] and lines[1].endswith("Set it once, for the group eks_irsa_accounts (group_vars), not per host")


def test_a_run_level_variable_set_alike_on_every_host_passes():
    hostvars = {host: _account(account, eks_irsa_kube_context="agents", eks_irsa_service_account_labels={"a": "b"})
                for host, account in (("dev", "111111111111"), ("prod", "222222222222"))}
    assert checked_inventory(list(hostvars), hostvars) == ["dev", "prod"]


def test_two_hosts_of_one_account_whose_stats_keys_would_collide_are_refused():
    hosts, hostvars = _inventory(**{"team-a": _account(ACCOUNT, eks_irsa_roles=[{"name": "a"}]),
                                    "team_a": _account(ACCOUNT, eks_irsa_roles=[{"name": "b"}])})
    problems = _problems(hosts, hostvars)
    assert problems[1] == ("team_a: its results would be published (set_stats) under the same key as those of team-a, another host "
                           f"of account {ACCOUNT} whose name differs only in characters other than letters and digits: rename one "
                           "of the two hosts")
    # Other accounts' hosts of those names are published under their own account's keys.
    hosts, hostvars = _inventory(**{"team-a": _account(ACCOUNT, eks_irsa_roles=[{"name": "a"}]),
                                    "team_a": _account("333333333333", eks_irsa_roles=[{"name": "b"}])})
    assert sorted(account_plans(hosts, hostvars, ISSUERS)) == ["team-a", "team_a"]


def test_many_hosts_sharing_a_value_are_shortened():
    hostvars = {f"h{index}": _account(f"1111111111{index:02d}") for index in range(6)}
    hostvars["h5"]["eks_irsa_cluster_name"] = "odd"
    with pytest.raises(PlanError, match=r'\(h0, h1, h2 and others: "agents"; h5: "odd"\)'):
        checked_inventory(list(hostvars), hostvars)


# -- namespaces and subjects per role -----------------------------------------------------------------------


def test_a_role_trusts_the_subjects_it_lists_in_their_namespaces_and_patterns_are_trusted_not_applied():
    subjects = ["team-a:runner", {"namespace": "team-b", "name": "runner"}, "team-a:runner", "ci-*:runner"]
    roles = [{"name": "deployer", "subjects": subjects, "allow_wildcard_subjects": True},
             {"name": "reader", "namespace": "team-c"},
             {"name": "torque-runner"}]
    (deployer, reader, runner) = role_plans(roles, AGENTS, "torque", ACCOUNT, suffix="dev")
    assert deployer["params"]["trust"] == [{"issuer": ISSUER, "service_accounts": ["team-a:runner", "team-b:runner", "ci-*:runner"]}]
    assert deployer["params"]["allow_wildcard_subjects"] is True
    assert deployer["service_accounts"] == [{"cluster": "agents", "namespace": "team-a", "name": "runner"},
                                            {"cluster": "agents", "namespace": "team-b", "name": "runner"}]
    assert [subject["pattern"] for subject in deployer["trusted"]] == [False, False, True]
    assert reader["service_accounts"] == [{"cluster": "agents", "namespace": "team-c", "name": "reader-dev"}]
    assert reader["params"]["trust"][0]["service_accounts"] == ["team-c:reader-dev"]
    assert runner["service_accounts"] == [{"cluster": "agents", "namespace": "torque", "name": "torque-runner-dev"}]


@pytest.mark.parametrize("role, message", [
    ({"name": "r", "subjects": ["ci-*:runner"]}, "eks_irsa_roles[0] (r): subjects[0]: the namespace 'ci-*' contains the wildcard '*'"),
    ({"name": "r", "subjects": ["team-a:runner"], "service_account": "x"},
     "eks_irsa_roles[0] (r): subjects lists the ServiceAccounts the role trusts, so service_account cannot be given too"),
    ({"name": "r", "subjects": ["team-a:runner"], "namespace": "x"}, "so namespace cannot be given too"),
    ({"name": "r", "subjects": "team-a:runner"}, "eks_irsa_roles[0] (r): subjects \"team-a:runner\" is not a list of ServiceAccounts"),
    ({"name": "r", "subjects": []}, "subjects [] is not a list of ServiceAccounts"),
    ({"name": "r", "subjects": ["team-a"]}, "subjects[0]: 'team-a' is not a service account: write it as 'namespace:name'"),
    ({"name": "r", "subjects": ["team-a:default"]}, "subjects[0]: the service account 'default' of namespace 'team-a'"),
    ({"name": "r", "namespace": "Team_A"}, "service_account (default r-prod) in namespace: the namespace 'Team_A' is not a valid"),
    ({"name": "r", "subjects": [{"namespace": "team-a", "name": "runner", "clusters": "green"}]},
     "eks_irsa_roles[0] (r): subjects[0]: unsupported parameters clusters (did you mean cluster?); a subject mapping has "
     "namespace, name, cluster"),
])
def test_bad_subjects_are_refused_naming_the_role_and_field(role, message):
    lines = _problems(*_inventory(prod=_account(ACCOUNT, eks_irsa_roles=[role])))
    assert message in lines[1], lines


def test_one_name_in_two_namespaces_is_two_service_accounts_but_one_in_one_namespace_is_refused():
    both = [{"name": "a", "subjects": ["team-a:runner"]}, {"name": "b", "subjects": ["team-b:runner"]}]
    assert len(account_plans(*_inventory(prod=_account(ACCOUNT, eks_irsa_roles=both)), ISSUERS)["prod"]["roles"]) == 2
    clash = [{"name": "a", "subjects": ["team-a:runner"]}, {"name": "b", "namespace": "team-a", "service_account": "runner"}]
    (line,) = _problems(*_inventory(prod=_account(ACCOUNT, eks_irsa_roles=clash)))[1:]
    assert line == ("prod: eks_irsa_roles[1] (b): service account 'team-a:runner' is already used by role 'a'; one ServiceAccount "
                    "carries one role ARN, so give each role its own service_account")


def test_hosts_may_each_have_their_namespace_and_a_service_account_is_claimed_once_per_namespace():
    hostvars = {"dev": _account("111111111111", eks_irsa_namespace="team-a", eks_irsa_roles=[{"name": "r", "service_account": "runner"}]),
                "prod": _account("222222222222", eks_irsa_namespace="team-b", eks_irsa_roles=[{"name": "r", "service_account": "runner"}])}
    assert checked_inventory(list(hostvars), hostvars) == ["dev", "prod"]
    plans = account_plans(list(hostvars), hostvars, ISSUERS)
    assert planned_service_account_groups(plans, AGENTS) == [
        {"cluster": "agents", "namespace": "team-a", "label": "team-a", "kubeconfig": None, "context": None,
         "service_accounts": [{"name": "runner", "adopt": False, "source": "dev: eks_irsa_roles[0] (r)"}]},
        {"cluster": "agents", "namespace": "team-b", "label": "team-b", "kubeconfig": None, "context": None,
         "service_accounts": [{"name": "runner", "adopt": False, "source": "prod: eks_irsa_roles[0] (r)"}]}]
    hostvars["prod"]["eks_irsa_roles"] = [{"name": "r", "subjects": ["team-a:runner"]}]
    (line,) = _problems(list(hostvars), hostvars)[1:]
    assert line.startswith("prod: eks_irsa_roles[0] (r): service account 'team-a:runner' is already used by role 'r' of dev")


def test_the_namespace_is_needed_only_by_roles_that_inherit_it():
    own = _account(ACCOUNT, eks_irsa_roles=[{"name": "a", "namespace": "team-a"}, {"name": "b", "subjects": ["team-b:runner"]}])
    del own["eks_irsa_namespace"]
    assert checked_inventory(*_inventory(prod=own)) == ["prod"]
    own["eks_irsa_roles"].append({"name": "c"})
    with pytest.raises(PlanError, match="prod: eks_irsa_namespace is not set"):
        checked_inventory(*_inventory(prod=own))


# -- several clusters -------------------------------------------------------------------------------------------

BLUE_ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/BLUE"
GREEN_ISSUER = "https://oidc.eks.us-west-2.amazonaws.com/id/GREEN"
TWO_CLUSTERS = [{"name": "blue", "region": "eu-west-1", "kubeconfig": "/k/blue"},
                {"name": "green", "region": "us-west-2", "kubeconfig": "/k/green", "context": "green-admin"}]
LOOKED_UP = {"blue": BLUE_ISSUER, "green": GREEN_ISSUER}


def _clustered(account_id, clusters=None, **values):
    host_vars = _account(account_id, eks_irsa_clusters=TWO_CLUSTERS if clusters is None else clusters)
    del host_vars["eks_irsa_cluster_name"]
    return dict(host_vars, **values)


def test_run_clusters_are_the_one_cluster_variables_or_the_list_with_issuers_given_or_looked_up():
    hosts, hostvars = _inventory(dev=_account("111111111111", eks_irsa_region="eu-west-1", eks_irsa_kubeconfig="/k"))
    assert run_clusters(hosts, hostvars) == [
        {"name": "agents", "issuer": None, "kubeconfig": "/k", "context": None, "region": "eu-west-1", "state": "present"}]
    assert run_clusters(hosts, hostvars, ISSUERS)[0]["issuer"] == ISSUER
    given = [dict(TWO_CLUSTERS[0], issuer=BLUE_ISSUER + "/"), dict(TWO_CLUSTERS[1], state="absent")]
    hosts, hostvars = _inventory(dev=_clustered("111111111111", given, eks_irsa_region="eu-central-1"))
    blue, green = run_clusters(hosts, hostvars, {"green": GREEN_ISSUER})
    assert blue == {"name": "blue", "region": "eu-west-1", "issuer": BLUE_ISSUER + "/", "kubeconfig": "/k/blue", "context": None,
                    "state": "present"}
    assert green["issuer"] == GREEN_ISSUER and green["state"] == "absent" and green["context"] == "green-admin"
    assert run_clusters(*_inventory(dev=_clustered("1", [{"name": "blue"}], eks_irsa_region="eu-central-1")))[0]["region"] == \
        "eu-central-1"  # the run's region is every cluster's default


def test_looked_up_issuers_map_each_cluster_that_was_found_to_its_issuer():
    lookups = [{"ansible_loop_var": "_cluster", "_cluster": {"name": "blue"}, "issuer_url": BLUE_ISSUER},
               {"ansible_loop_var": "_cluster", "_cluster": {"name": "gone"}, "failed": True, "msg": "not found"},
               {"item": {"name": "green"}, "issuer_url": GREEN_ISSUER}]
    assert looked_up_issuers(lookups) == {"blue": BLUE_ISSUER, "green": GREEN_ISSUER}
    assert looked_up_issuers([]) == looked_up_issuers(None) == {}


def test_each_account_gets_a_provider_per_cluster_and_each_role_one_statement_per_issuer():
    roles = [{"name": "runner"},
             {"name": "deployer", "subjects": ["team-a:deployer", {"namespace": "team-b", "name": "deployer", "cluster": "green"}]},
             {"name": "blue-only", "clusters": ["blue"]}]
    hosts, hostvars = _inventory(dev=_clustered("111111111111", eks_irsa_roles=roles, eks_irsa_tags={"team": "platform"}))
    assert checked_inventory(hosts, hostvars) == ["dev"]
    planned = account_plans(hosts, hostvars, LOOKED_UP)["dev"]
    assert planned["providers"] == [
        {"cluster": "blue", "url": BLUE_ISSUER, "state": "present", "tags": {"eks-irsa:cluster": "blue", "team": "platform"},
         "client_ids": ["sts.amazonaws.com"]},
        {"cluster": "green", "url": GREEN_ISSUER, "state": "present", "tags": {"eks-irsa:cluster": "green", "team": "platform"},
         "client_ids": ["sts.amazonaws.com"]}]
    runner, deployer, blue_only = planned["roles"]
    assert runner["params"]["trust"] == [{"issuer": BLUE_ISSUER, "service_accounts": ["torque:runner-dev"]},
                                         {"issuer": GREEN_ISSUER, "service_accounts": ["torque:runner-dev"]}]
    assert runner["service_accounts"] == [{"cluster": "blue", "namespace": "torque", "name": "runner-dev"},
                                          {"cluster": "green", "namespace": "torque", "name": "runner-dev"}]
    assert runner["params"]["tags"] == {"eks-irsa:cluster": "blue green", "team": "platform"} and runner["clusters"] == ["blue", "green"]
    # Three subjects, two namespaces, two clusters: a pinned subject is trusted (and applied) in its cluster only.
    assert deployer["params"]["trust"] == [{"issuer": BLUE_ISSUER, "service_accounts": ["team-a:deployer"]},
                                           {"issuer": GREEN_ISSUER, "service_accounts": ["team-a:deployer", "team-b:deployer"]}]
    assert [(sa["cluster"], sa["namespace"]) for sa in deployer["service_accounts"]] == [
        ("blue", "team-a"), ("green", "team-a"), ("green", "team-b")]
    assert blue_only["params"]["trust"] == [{"issuer": BLUE_ISSUER, "service_accounts": ["torque:blue-only-dev"]}]
    assert blue_only["params"]["tags"]["eks-irsa:cluster"] == "blue"
    groups = planned_service_account_groups({"dev": planned}, run_clusters(hosts, hostvars, LOOKED_UP))
    assert [(g["label"], g["kubeconfig"], g["context"], [sa["name"] for sa in g["service_accounts"]]) for g in groups] == [
        ("blue/team-a", "/k/blue", None, ["deployer"]), ("blue/torque", "/k/blue", None, ["runner-dev", "blue-only-dev"]),
        ("green/team-a", "/k/green", "green-admin", ["deployer"]), ("green/team-b", "/k/green", "green-admin", ["deployer"]),
        ("green/torque", "/k/green", "green-admin", ["runner-dev"])]


def test_an_account_gets_providers_only_for_the_clusters_its_roles_trust():
    hosts, hostvars = _inventory(dev=_clustered("111111111111", eks_irsa_roles=[{"name": "r", "clusters": ["green"]}]))
    planned = account_plans(hosts, hostvars, LOOKED_UP)["dev"]
    assert [provider["cluster"] for provider in planned["providers"]] == ["green"]


def test_a_retired_cluster_loses_its_trust_provider_and_service_accounts():
    clusters = [dict(TWO_CLUSTERS[0], state="absent"), TWO_CLUSTERS[1]]
    roles = [{"name": "runner"}, {"name": "ci", "subjects": ["ci:runner", "ci-*:runner", {"namespace": "x", "name": "y", "cluster": "green"}],
                                  "allow_wildcard_subjects": True}]
    hosts, hostvars = _inventory(dev=_clustered("111111111111", clusters, eks_irsa_roles=roles))
    planned = account_plans(hosts, hostvars, LOOKED_UP)["dev"]
    assert planned["providers"] == [
        {"cluster": "green", "url": GREEN_ISSUER, "state": "present", "tags": {"eks-irsa:cluster": "green"},
         "client_ids": ["sts.amazonaws.com"]},
        {"cluster": "blue", "url": BLUE_ISSUER, "state": "absent"}]
    runner, ci = planned["roles"]
    assert runner["params"]["trust"] == [{"issuer": GREEN_ISSUER, "service_accounts": ["torque:runner-dev"]}]
    assert runner["retired_service_accounts"] == [{"cluster": "blue", "namespace": "torque", "name": "runner-dev"}]
    # Neither a pattern nor a subject pinned to another cluster is a ServiceAccount of the retired one.
    assert ci["retired_service_accounts"] == [{"cluster": "blue", "namespace": "ci", "name": "runner"}]
    assert provider_options(planned["providers"]) == [
        {"url": GREEN_ISSUER, "state": "present", "tags": {"eks-irsa:cluster": "green"}, "purge_tags": False,
         "client_ids": ["sts.amazonaws.com"], "purge_client_ids": False},
        {"url": BLUE_ISSUER, "state": "absent"}]
    assert provider_options(planned["providers"], "absent") == [{"url": GREEN_ISSUER}, {"url": BLUE_ISSUER}]
    assert planned["provider_arguments"] == {"present": {"providers": provider_options(planned["providers"])},
                                             "absent": {"providers": [{"url": GREEN_ISSUER}, {"url": BLUE_ISSUER}]}}
    groups = planned_service_account_groups({"dev": planned}, run_clusters(hosts, hostvars), "retired_service_accounts")
    assert [(g["label"], [sa["name"] for sa in g["service_accounts"]]) for g in groups] == [
        ("blue/ci", ["runner"]), ("blue/torque", ["runner-dev"])]


@pytest.mark.parametrize("clusters, message", [
    ("blue", 'eks_irsa_clusters "blue" is not a list of clusters: write [{name: blue, region: eu-west-1}'),
    ([], "eks_irsa_clusters [] is not a list of clusters"),
    ([{"name": "blue", "kube_context": "x"}], "eks_irsa_clusters[0] (blue): unsupported parameters kube_context (did you mean context?); "
     "a cluster has name, region, issuer, kubeconfig, context, state"),
    ([{"region": "eu-west-1"}], "eks_irsa_clusters[0]: each cluster needs a 'name'"),
    ([{"name": "blue"}, {"name": "blue", "region": "us-west-2"}],
     "eks_irsa_clusters[1] (blue): the cluster is already listed as eks_irsa_clusters[0]"),
    ([{"name": "blue", "state": "retired"}], 'eks_irsa_clusters[0] (blue): state "retired" is neither present nor absent'),
    ([{"name": "blue", "state": "absent"}], "eks_irsa_clusters: every cluster is retired (state: absent)"),
    ([{"name": "blue", "region": "mars-1"}], "eks_irsa_clusters[0] (blue): region 'mars-1' is not an AWS region"),
    ([{"name": "blue", "kubeconfig": ["/a"]}], 'eks_irsa_clusters[0] (blue): kubeconfig ["/a"] is not a string'),
])
def test_bad_clusters_are_refused_once_before_the_lookup(clusters, message):
    hosts, hostvars = _inventory(dev=_clustered("111111111111", clusters), prod=_clustered("222222222222", clusters))
    with pytest.raises(PlanError) as error:
        checked_inventory(hosts, hostvars)
    lines = str(error.value).splitlines()
    assert len(lines) == 2 and lines[1].startswith(message), lines


def test_the_clusters_list_and_the_one_cluster_variables_are_not_mixed():
    mixed = _clustered("111111111111", eks_irsa_cluster_name="agents", eks_irsa_kubeconfig="/k")
    with pytest.raises(PlanError) as error:
        checked_inventory(*_inventory(dev=mixed))
    assert str(error.value).splitlines()[1] == (
        "eks_irsa_clusters names the run's clusters, so eks_irsa_cluster_name and eks_irsa_kubeconfig cannot be set too: move them "
        "into the eks_irsa_clusters entries (name, issuer, kubeconfig, context), or leave eks_irsa_clusters out for a single cluster")


def test_clusters_that_differ_between_hosts_are_refused():
    hostvars = {"dev": _clustered("111111111111"), "prod": _clustered("222222222222", TWO_CLUSTERS[:1])}
    with pytest.raises(PlanError, match=r"eks_irsa_clusters differs between hosts \(dev: .*; prod: .*\), but the run's clusters are "
                                        "looked up once"):
        checked_inventory(list(hostvars), hostvars)


@pytest.mark.parametrize("role, message", [
    ({"name": "r", "clusters": ["purple"]}, "eks_irsa_roles[0] (r): clusters names 'purple', which is not a cluster of the run "
     "(blue, green, old): add it to eks_irsa_clusters, or fix the name"),
    ({"name": "r", "clusters": "blue"}, 'eks_irsa_roles[0] (r): clusters "blue" is not a list of cluster names: write [blue, green]'),
    ({"name": "r", "clusters": []}, "eks_irsa_roles[0] (r): clusters [] is not a list of cluster names"),
    ({"name": "r", "clusters": ["old"]}, "eks_irsa_roles[0] (r): clusters names 'old', a retired cluster (state: absent)"),
    ({"name": "r", "clusters": ["blue"], "subjects": [{"namespace": "a", "name": "b", "cluster": "green"}]},
     "eks_irsa_roles[0] (r): subjects[0]: cluster 'green' is not a cluster the role trusts (blue): add it to the role's clusters"),
    ({"name": "r", "subjects": [{"namespace": "a", "name": "b", "cluster": "old"}]},
     "eks_irsa_roles[0] (r): subjects[0]: cluster 'old' is not a cluster the role trusts (blue, green)"),
    ({"name": "r", "subjects": [{"namespace": "a", "name": "b", "cluster": 3}]}, "eks_irsa_roles[0] (r): subjects[0]: cluster 3 is not"),
])
def test_a_cluster_the_run_does_not_reach_is_refused_naming_the_role(role, message):
    clusters = TWO_CLUSTERS + [{"name": "old", "state": "absent", "issuer": "https://oidc.eks.eu-west-1.amazonaws.com/id/OLD"}]
    lines = _problems(*_inventory(dev=_clustered("111111111111", clusters, eks_irsa_roles=[role])), LOOKED_UP)
    assert lines[1].startswith("dev: " + message), lines


def test_one_service_account_per_cluster_but_the_same_name_in_two_clusters_is_two():
    pinned = [{"name": "a", "subjects": [{"namespace": "ns", "name": "runner", "cluster": "blue"}]},
              {"name": "b", "subjects": [{"namespace": "ns", "name": "runner", "cluster": "green"}]}]
    hosts, hostvars = _inventory(dev=_clustered("111111111111", eks_irsa_roles=pinned))
    assert len(account_plans(hosts, hostvars, LOOKED_UP)["dev"]["roles"]) == 2
    clash = [{"name": "a", "subjects": ["ns:runner"]}, {"name": "b", "subjects": [{"namespace": "ns", "name": "runner", "cluster": "green"}]}]
    lines = _problems(*_inventory(dev=_clustered("111111111111", eks_irsa_roles=clash)), LOOKED_UP)
    assert lines[1] == ("dev: eks_irsa_roles[1] (b): service account 'ns:runner in cluster green' is already used by role 'a'; one "
                        "ServiceAccount carries one role ARN, so give each role its own service_account")
    hostvars = {"dev": _clustered("111111111111", eks_irsa_roles=[{"name": "a", "subjects": ["ns:runner"]}]),
                "prod": _clustered("222222222222", eks_irsa_roles=[{"name": "b", "clusters": ["green"], "subjects": ["ns:runner"]}])}
    (line,) = _problems(list(hostvars), hostvars, LOOKED_UP)[1:]
    assert line.startswith("prod: eks_irsa_roles[0] (b): service account 'ns:runner in cluster green' is already used by role 'a' of dev")


def test_two_clusters_of_one_issuer_are_refused():
    lines = _problems(*_inventory(dev=_clustered("111111111111")), {"blue": BLUE_ISSUER, "green": BLUE_ISSUER + "/"})
    assert lines[1] == (f"dev: eks_irsa_clusters[1] (green): issuer: clusters 'blue' and 'green' have the same issuer {BLUE_ISSUER}; "
                        "each cluster has its own, so one of the entries names the wrong cluster (or region)")


def test_a_bad_cluster_issuer_names_its_entry():
    clusters = [dict(TWO_CLUSTERS[0], issuer="http://oidc.example.com/x"), TWO_CLUSTERS[1]]
    lines = _problems(*_inventory(dev=_clustered("111111111111", clusters)), LOOKED_UP)
    assert lines[1].startswith("dev: eks_irsa_clusters[0] (blue): issuer 'http://oidc.example.com/x'"), lines


def test_a_cluster_tag_longer_than_iam_holds_is_refused_unless_set_by_hand():
    clusters = [{"name": f"cluster-{index}-" + "x" * 90, "issuer": f"https://oidc.example.com/{index}"} for index in range(3)]
    lines = _problems(*_inventory(dev=_clustered("111111111111", clusters)), {})
    assert lines[1].startswith("dev: eks_irsa_roles[0] (torque-runner): the role's eks-irsa:cluster tag would name its clusters"), lines
    assert "give the role fewer clusters, or set eks-irsa:cluster in its tags yourself" in lines[1]
    tagged = [{"name": "torque-runner", "tags": {"eks-irsa:cluster": "fleet"}}]
    (planned,) = account_plans(*_inventory(dev=_clustered("111111111111", clusters, eks_irsa_roles=tagged)), {})["dev"]["roles"]
    assert planned["params"]["tags"] == {"eks-irsa:cluster": "fleet"}


def test_a_role_may_trust_its_own_audience_and_its_providers_accept_it_beside_the_others():
    roles = [{"name": "runner"}, {"name": "vault", "audience": "vault.example.com", "clusters": ["green"]}]
    hosts, hostvars = _inventory(dev=_clustered("111111111111", eks_irsa_roles=roles))
    planned = account_plans(hosts, hostvars, LOOKED_UP)["dev"]
    assert [(provider["cluster"], provider["client_ids"]) for provider in planned["providers"]] == [
        ("blue", ["sts.amazonaws.com"]), ("green", ["sts.amazonaws.com", "vault.example.com"])]
    runner, vault = planned["roles"]
    assert "audience" not in runner["params"] and vault["params"]["audience"] == "vault.example.com"
    lines = _problems(*_inventory(dev=_clustered("111111111111", eks_irsa_roles=[{"name": "r", "audience": " "}])), LOOKED_UP)
    assert lines[1].startswith("dev: eks_irsa_roles[0] (r): audience is empty"), lines


# -- the hub topology ----------------------------------------------------------------------------------------------

HUB_ARN = "arn:aws:iam::111111111111:role/torque-hub"
HUB = {"role_arn": HUB_ARN, "service_account": "torque-agent", "external_id": "hub-2026",
       "spokes": [{"name": "torque-deployer", "managed_policies": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]},
                  {"name": "torque-reader", "path": "/ro/"}]}


def test_the_hub_host_gets_the_hub_role_and_every_account_the_spoke_roles():
    hosts, hostvars = _inventory(tools=_account("111111111111", eks_irsa_roles=None, eks_irsa_hub=HUB),
                                 dev=_account("222222222222", eks_irsa_hub=HUB),
                                 prod=_account("333333333333", eks_irsa_roles=[], eks_irsa_hub=HUB))
    for host in ("tools",):
        del hostvars[host]["eks_irsa_roles"]
    plans = account_plans(hosts, hostvars, ISSUERS)
    tools, dev, prod = (plans[host]["roles"] for host in ("tools", "dev", "prod"))
    assert [(role["source"], role.get("hub_role", False)) for role in tools] == [
        ("eks_irsa_hub (torque-hub)", True), ("eks_irsa_hub.spokes[0] (torque-deployer)", False), ("eks_irsa_hub.spokes[1] (torque-reader)", False)]
    hub_role = tools[0]
    assert hub_role["service_accounts"] == [{"cluster": "agents", "namespace": "torque", "name": "torque-agent"}]
    assert hub_role["params"]["inline_policies"]["eks-irsa-hub"] == {"Version": "2012-10-17", "Statement": [{
        "Sid": "AssumeTheSpokeRoles", "Effect": "Allow", "Action": "sts:AssumeRole",
        "Resource": ["arn:aws:iam::*:role/ro/torque-reader", "arn:aws:iam::*:role/torque-deployer"]}]}
    # The spokes trust the hub role, have no ServiceAccount of their own, and say whose deploys with them.
    deployer = dev[1]
    assert [role["params"]["name"] for role in dev] == ["torque-runner", "torque-deployer", "torque-reader"]
    assert deployer["params"]["trusted_role"] == {"arn": HUB_ARN, "external_id": "hub-2026"} and "trust" not in deployer["params"]
    assert deployer["service_accounts"] == [] and deployer["hub"] == {
        "role_arn": HUB_ARN, "account_id": "111111111111", "partition": "aws", "service_account": "torque-agent", "namespace": "torque",
        "clusters": ["agents"]}
    # An account with spoke roles only needs no OIDC provider; the hub's account and one with a role of its own do.
    assert [len(plans[host]["providers"]) for host in ("tools", "dev", "prod")] == [1, 1, 0]
    assert plans["prod"]["provider_arguments"]["present"] == {"providers": []}


def test_the_hub_role_goes_to_the_first_host_of_its_account_only():
    hosts, hostvars = _inventory(b=_account("111111111111", eks_irsa_roles=[{"name": "b-role"}], eks_irsa_hub=dict(HUB, spokes=[{"name": "s"}])),
                                 a=_account("111111111111", eks_irsa_roles=[{"name": "a-role"}], eks_irsa_hub=dict(HUB, spokes=[{"name": "s"}])))
    with pytest.raises(PlanError, match="role 's' of account 111111111111 is already listed by"):
        account_plans(hosts, hostvars, ISSUERS)  # every host of one account would get the same spoke role
    assert hub_hosts(["b", "a", "c"], {"a": {"eks_irsa_account_id": "111111111111"}, "b": {"eks_irsa_account_id": "111111111111"},
                                       "c": {"eks_irsa_account_id": "2"}}, checked_hub(HUB)) == "a"
    assert hub_hosts(["c"], {"c": {"eks_irsa_account_id": "2"}}, checked_hub(HUB)) is None


@pytest.mark.parametrize("hub, message", [
    ("arn:aws:iam::111111111111:role/h", 'eks_irsa_hub "arn:aws:iam::111111111111:role/h" is not a mapping'),
    (dict(HUB, spoke=[]), "eks_irsa_hub: unsupported parameters spoke (did you mean spokes?); eks_irsa_hub has"),
    (dict(HUB, zzz=[]), "eks_irsa_hub: unsupported parameters zzz (a typo?); eks_irsa_hub has"),
    ({"spokes": [{"name": "s"}]}, "eks_irsa_hub: role_arn and service_account are not set"),
    (dict(HUB, role_arn="torque-hub"), "eks_irsa_hub.role_arn 'torque-hub' is not an IAM role ARN"),
    (dict(HUB, external_id="x"), 'eks_irsa_hub.external_id "x" is not an external ID STS accepts'),
    (dict(HUB, spokes={"name": "s"}), "eks_irsa_hub: spokes {\"name\": \"s\"} is not a list of roles"),
    (dict(HUB, spokes=[{"name": "s", "service_account": "x"}]), "eks_irsa_hub: spokes[0] (s): unsupported parameters service_account"),
    (dict(HUB, spokes=[{"role_name": "s"}]), "eks_irsa_hub: spokes[0]: each spoke role needs at least a 'name' (the IAM role name, the "
     "same in every account); it has unsupported parameters role_name (did you mean name?)"),
    (dict(HUB, spokes=[{"name": "s"}, {"name": "S"}]), "eks_irsa_hub: spokes[1] (S): the role is already listed as spokes[0]"),
    (dict(HUB, inline_policies={"eks-irsa-hub": {}}), "eks_irsa_hub: inline_policies must be a mapping of names to policies, without 'eks-irsa-hub'"),
])
def test_a_bad_hub_is_refused_naming_the_key(hub, message):
    with pytest.raises(PlanError) as error:
        checked_hub(hub)
    assert str(error.value).startswith(message), str(error.value)


def test_a_spoke_role_named_like_another_role_of_the_account_is_refused_and_its_options_are_checked():
    hosts, hostvars = _inventory(dev=_account("222222222222", eks_irsa_roles=[{"name": "Torque-Deployer"}], eks_irsa_hub=HUB))
    assert _problems(hosts, hostvars)[1] == (
        "dev: eks_irsa_hub.spokes[0] (torque-deployer): the account already has a role of that name (eks_irsa_roles[0] "
        "(Torque-Deployer)); IAM role names are unique in an account, whatever the case: give one of them another name")
    bad = dict(HUB, spokes=[{"name": "s", "max_session_duration": 60}])
    hosts, hostvars = _inventory(dev=_account("222222222222", eks_irsa_hub=bad))
    assert _problems(hosts, hostvars)[1].startswith("dev: eks_irsa_hub.spokes[0] (s): max_session_duration 60 is out of range")


def test_a_role_of_the_hub_host_using_the_hub_role_service_account_is_refused():
    # The host's own roles and the hub role are planned apart; the ServiceAccount check across the run sees both.
    own = [{"name": "other", "service_account": "torque-agent"}]
    hosts, hostvars = _inventory(tools=_account("111111111111", eks_irsa_roles=own, eks_irsa_hub=HUB))
    assert _problems(hosts, hostvars, ISSUERS)[1] == (
        "tools: eks_irsa_hub (torque-hub): service account 'torque-agent' is already used by role 'other'; one ServiceAccount "
        "carries one role ARN, so give each role its own service_account")


def test_a_hub_role_of_another_partition_than_the_region_is_refused():
    hosts, hostvars = _inventory(dev=_account("222222222222", eks_irsa_region="cn-north-1", eks_irsa_roles=None,
                                              eks_irsa_hub=dict(HUB, role_arn="arn:aws:iam::111111111111:role/torque-hub")))
    with pytest.raises(PlanError, match="eks_irsa_hub.role_arn arn:aws:iam::111111111111:role/torque-hub is in the partition aws, "
                                        "but eks_irsa_region cn-north-1 is in aws-cn"):
        account_plans(hosts, hostvars, {"agents": "https://oidc.eks.cn-north-1.amazonaws.com.cn/id/X"})


def test_without_roles_or_a_hub_an_account_is_refused():
    hosts, hostvars = _inventory(dev=_account("222222222222", eks_irsa_roles=[]))
    assert _problems(hosts, hostvars)[1].startswith("dev: eks_irsa_roles is empty")

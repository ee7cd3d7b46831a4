# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The plan of an inventory (plugins/module_utils/plan.py), called as the preflight's filters call it."""

import botocore
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.torque.eks_irsa.plugins.filter import account_plans as filters
from ansible_collections.torque.eks_irsa.plugins.module_utils import plan
from ansible_collections.torque.eks_irsa.plugins.module_utils.plan import PlanError

ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
OTHER_ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/OTHER"
ACCOUNT = "222222222222"
PASS_ROLE = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}]}


def _account(account_id, **values):
    host_vars = {"eks_irsa_account_id": account_id, "eks_irsa_cluster_name": "agents", "eks_irsa_namespace": "torque",
                 "eks_irsa_roles": [{"name": "torque-runner"}]}
    host_vars.update(values)
    return host_vars


def _inventory(**hosts):
    return list(hosts), hosts


def _problems(hosts, hostvars, issuer=ISSUER):
    with pytest.raises(PlanError) as error:
        plan.account_plans(hosts, hostvars, issuer)
    return str(error.value).splitlines()


# -- the filters only adapt -----------------------------------------------------------------------------


def test_filters_are_the_plan_functions_with_filter_errors():
    registered = filters.FilterModule().filters()
    assert set(registered) == {"checked_inventory", "account_plans", "planned_service_accounts", "planned_service_account_groups"}
    with pytest.raises(AnsibleFilterError) as error:
        registered["account_plans"](*_inventory(dev=_account("1")), ISSUER)
    assert str(error.value).splitlines()[1].startswith("dev: eks_irsa_account_id '1' is not an AWS account ID")
    assert error.value.__cause__ is None and error.value.__suppress_context__  # Ansible would append the cause again


# -- what every account must set ------------------------------------------------------------------------


def test_checked_inventory_passes_complete_accounts_through():
    hosts, hostvars = _inventory(dev=_account("111111111111"), prod=_account("222222222222", eks_irsa_region="eu-west-1"))
    assert plan.checked_inventory(hosts, hostvars) == ["dev", "prod"]


def test_checked_inventory_reports_every_account_at_once_naming_host_and_variable():
    missing_namespace = _account("111111111111")
    del missing_namespace["eks_irsa_namespace"]
    hosts, hostvars = _inventory(dev=missing_namespace, ok=_account("333333333333"),
                                 prod=_account("", eks_irsa_roles="torque-runner", eks_irsa_region="mars-1"))
    with pytest.raises(PlanError) as error:
        plan.checked_inventory(hosts, hostvars)
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
    assert plan.checked_inventory(*_inventory(dev=without_cluster)) == ["dev"]
    del without_cluster["eks_irsa_issuer"]
    with pytest.raises(PlanError, match="dev: eks_irsa_cluster_name is not set"):
        plan.checked_inventory(*_inventory(dev=without_cluster))


# -- one account ------------------------------------------------------------------------------------------


def test_account_plans_gives_each_account_its_checked_values_and_role_plan():
    hosts, hostvars = _inventory(
        dev=_account(111111111111, eks_irsa_assume_role_arn="arn:aws:iam::111111111111:role/irsa-deployer",
                     eks_irsa_external_id="torque-ext", eks_irsa_tags={"team": "platform"}),
        prod=_account("222222222222", eks_irsa_issuer=OTHER_ISSUER + "/"),
    )
    plans = plan.account_plans(hosts, hostvars, ISSUER)
    tags = {"eks-irsa:cluster": "agents", "team": "platform"}
    assert plans["dev"] == {
        "account_id": "111111111111",
        "assume_role_arn": "arn:aws:iam::111111111111:role/irsa-deployer",
        "external_id": "torque-ext",
        "issuer": ISSUER,
        "tags": tags,
        "roles": plan.role_plans([{"name": "torque-runner"}], ISSUER, "torque", "111111111111", suffix="dev", tags=tags),
    }
    # A host's own eks_irsa_issuer wins over the looked-up one, in IAM's form (no trailing slash).
    assert plans["prod"]["issuer"] == OTHER_ISSUER
    assert plans["prod"]["assume_role_arn"] is None and plans["prod"]["external_id"] is None
    assert [role["service_accounts"] for role in plans["prod"]["roles"]] == [[{"namespace": "torque", "name": "torque-runner-prod"}]]
    assert plan.planned_service_accounts(plans) == [
        {"namespace": "torque", "name": "torque-runner-dev", "adopt": False, "source": "dev: eks_irsa_roles[0] (torque-runner)"},
        {"namespace": "torque", "name": "torque-runner-prod", "adopt": False, "source": "prod: eks_irsa_roles[0] (torque-runner)"}]


def test_an_account_without_a_cluster_name_gets_no_cluster_tag():
    without_cluster = _account(ACCOUNT, eks_irsa_issuer=ISSUER)
    del without_cluster["eks_irsa_cluster_name"]
    assert plan.account_plans(*_inventory(dev=without_cluster))["dev"]["tags"] == {}


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
    (dict(eks_irsa_roles=["torque-runner"]), "eks_irsa_roles[0]: each role needs at least a 'name'"),
    (dict(eks_irsa_roles=[{"name": "r", "managed_policy": []}]),
     "eks_irsa_roles[0] (r): unsupported parameters eks_irsa_roles.managed_policy (a typo?). Supported parameters include:"),
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
    assert plan.role_plans(roles, ISSUER, "torque-envs", ACCOUNT, suffix="dev", tags={"owner": "platform"}) == [
        {"service_accounts": [{"namespace": "torque-envs", "name": "torque-runner-dev"}], "params": {
            "path": "/irsa/", "description": "runner", "managed_policies": ["arn:aws:iam::aws:policy/PowerUserAccess"],
            "inline_policies": {"pass": PASS_ROLE}, "permissions_boundary": "", "max_session_duration": 7200, "adopt": True,
            "name": "torque-runner", "account_id": ACCOUNT, "trust_policy_mode": "exclusive", "purge_tags": False,
            "tags": {"owner": "role-wins", "tier": "deploy"},
            "trust": [{"issuer": ISSUER, "service_accounts": ["torque-envs:torque-runner-dev"]}]}},
        {"service_accounts": [{"namespace": "torque-envs", "name": "reader"}], "params": {
            "name": "torque-reader", "account_id": ACCOUNT, "trust_policy_mode": "exclusive",
            "purge_tags": False, "tags": {"owner": "platform"},
            "trust": [{"issuer": ISSUER, "service_accounts": ["torque-envs:reader"]}]}},
    ]


def test_a_valid_service_account_name_of_any_length_is_planned_and_the_quota_passed_on():
    name = "s" * 250
    (planned,) = plan.role_plans([{"name": "torque-runner", "service_account": name}], ISSUER, "n" * 63, ACCOUNT,
                                 tags={"owner": "platform"}, managed_policy_quota=20)
    assert planned["service_accounts"] == [{"namespace": "n" * 63, "name": name}]
    assert planned["params"]["trust"] == [{"issuer": ISSUER, "service_accounts": [f"{'n' * 63}:{name}"]}]
    assert planned["params"]["managed_policy_quota"] == 20 and planned["params"]["tags"] == {"owner": "platform"}


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
    assert plan.default_service_account(role, suffix) == expected


# -- across accounts ----------------------------------------------------------------------------------------


def test_one_service_account_claimed_by_two_accounts_is_refused():
    shared = [{"name": "torque-runner", "service_account": "shared"}]
    lines = _problems(*_inventory(dev=_account("111111111111", eks_irsa_roles=shared), prod=_account("222222222222", eks_irsa_roles=shared)))
    assert lines[1] == ("prod: eks_irsa_roles[0] (torque-runner): service account 'shared' is already used by role 'torque-runner' "
                        "of dev; one ServiceAccount carries one role ARN, so give each role its own service_account")


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
        plan.checked_inventory(list(hostvars), hostvars)
    lines = str(error.value).splitlines()
    assert len(lines) == 2, lines
    assert lines[1].startswith(f"{variable} differs between hosts (")
    before = "(not set)" if variable != "eks_irsa_cluster_name" else f'"{_account("1")[variable]}"'
    assert f"tools, prod: {before}" in lines[1] and "dev: " in lines[1]
    assert why in lines[1] and lines[1].endswith("Set it once, for the group eks_irsa_accounts (group_vars), not per host")


def test_a_run_level_variable_set_alike_on_every_host_passes():
    hostvars = {host: _account(account, eks_irsa_kube_context="agents", eks_irsa_service_account_labels={"a": "b"})
                for host, account in (("dev", "111111111111"), ("prod", "222222222222"))}
    assert plan.checked_inventory(list(hostvars), hostvars) == ["dev", "prod"]


def test_many_hosts_sharing_a_value_are_shortened():
    hostvars = {f"h{index}": _account(f"1111111111{index:02d}") for index in range(6)}
    hostvars["h5"]["eks_irsa_cluster_name"] = "odd"
    with pytest.raises(PlanError, match=r'\(h0, h1, h2 and others: "agents"; h5: "odd"\)'):
        plan.checked_inventory(list(hostvars), hostvars)


# -- namespaces and subjects per role -----------------------------------------------------------------------


def test_a_role_trusts_the_subjects_it_lists_in_their_namespaces_and_patterns_are_trusted_not_applied():
    subjects = ["team-a:runner", {"namespace": "team-b", "name": "runner"}, "team-a:runner", "ci-*:runner"]
    roles = [{"name": "deployer", "subjects": subjects, "allow_wildcard_subjects": True},
             {"name": "reader", "namespace": "team-c"},
             {"name": "torque-runner"}]
    (deployer, reader, runner) = plan.role_plans(roles, ISSUER, "torque", ACCOUNT, suffix="dev")
    assert deployer["params"]["trust"] == [{"issuer": ISSUER, "service_accounts": ["team-a:runner", "team-b:runner", "ci-*:runner"]}]
    assert deployer["params"]["allow_wildcard_subjects"] is True
    assert deployer["service_accounts"] == [{"namespace": "team-a", "name": "runner"}, {"namespace": "team-b", "name": "runner"}]
    assert reader["service_accounts"] == [{"namespace": "team-c", "name": "reader-dev"}]
    assert reader["params"]["trust"][0]["service_accounts"] == ["team-c:reader-dev"]
    assert runner["service_accounts"] == [{"namespace": "torque", "name": "torque-runner-dev"}]


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
])
def test_bad_subjects_are_refused_naming_the_role_and_field(role, message):
    lines = _problems(*_inventory(prod=_account(ACCOUNT, eks_irsa_roles=[role])))
    assert message in lines[1], lines


def test_one_name_in_two_namespaces_is_two_service_accounts_but_one_in_one_namespace_is_refused():
    both = [{"name": "a", "subjects": ["team-a:runner"]}, {"name": "b", "subjects": ["team-b:runner"]}]
    assert len(plan.account_plans(*_inventory(prod=_account(ACCOUNT, eks_irsa_roles=both)), ISSUER)["prod"]["roles"]) == 2
    clash = [{"name": "a", "subjects": ["team-a:runner"]}, {"name": "b", "namespace": "team-a", "service_account": "runner"}]
    (line,) = _problems(*_inventory(prod=_account(ACCOUNT, eks_irsa_roles=clash)))[1:]
    assert line == ("prod: eks_irsa_roles[1] (b): service account 'team-a:runner' is already used by role 'a'; one ServiceAccount "
                    "carries one role ARN, so give each role its own service_account")


def test_hosts_may_each_have_their_namespace_and_a_service_account_is_claimed_once_per_namespace():
    hostvars = {"dev": _account("111111111111", eks_irsa_namespace="team-a", eks_irsa_roles=[{"name": "r", "service_account": "runner"}]),
                "prod": _account("222222222222", eks_irsa_namespace="team-b", eks_irsa_roles=[{"name": "r", "service_account": "runner"}])}
    assert plan.checked_inventory(list(hostvars), hostvars) == ["dev", "prod"]
    plans = plan.account_plans(list(hostvars), hostvars, ISSUER)
    assert plan.planned_service_account_groups(plans) == [
        {"namespace": "team-a", "service_accounts": [{"name": "runner", "adopt": False, "source": "dev: eks_irsa_roles[0] (r)"}]},
        {"namespace": "team-b", "service_accounts": [{"name": "runner", "adopt": False, "source": "prod: eks_irsa_roles[0] (r)"}]}]
    hostvars["prod"]["eks_irsa_roles"] = [{"name": "r", "subjects": ["team-a:runner"]}]
    (line,) = _problems(list(hostvars), hostvars)[1:]
    assert line.startswith("prod: eks_irsa_roles[0] (r): service account 'team-a:runner' is already used by role 'r' of dev")


def test_the_namespace_is_needed_only_by_roles_that_inherit_it():
    own = _account(ACCOUNT, eks_irsa_roles=[{"name": "a", "namespace": "team-a"}, {"name": "b", "subjects": ["team-b:runner"]}])
    del own["eks_irsa_namespace"]
    assert plan.checked_inventory(*_inventory(prod=own)) == ["prod"]
    own["eks_irsa_roles"].append({"name": "c"})
    with pytest.raises(PlanError, match="prod: eks_irsa_namespace is not set"):
        plan.checked_inventory(*_inventory(prod=own))

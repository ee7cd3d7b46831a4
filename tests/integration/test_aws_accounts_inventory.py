# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The inventory plugin torque.eks_irsa.aws_accounts on an organization in moto: what ``ansible-inventory`` lists, a
rollout + verify + teardown driven by it, its cache, and the options it refuses.

The organization's management account is 555555555594, reached by the plugin's own ``assume_role_arn``; its
accounts are made by ``CreateAccount`` (moto gives each an ``OrganizationAccountAccessRole``, as AWS does).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import ANSIBLE_BIN, ansible_env
from tests.integration.reliability import KUBECTL, ROLE_ARN_ANNOTATION, ROLLOUT, failures, mutating_aws_requests
from tests.stack.local_stack import REPO_ROOT

pytestmark = pytest.mark.integration

MANAGEMENT = "555555555594"
READER = f"arn:aws:iam::{MANAGEMENT}:role/organization-reader"
NAMESPACE = "rel-org"
RUNNER = "rel-org-runner"
# name: (OU path, tags); each OU gets accounts, one of them closed afterwards
ACCOUNTS = {
    "Prod EU": ("/Workloads/Prod", {"env": "prod", "torque": "enabled"}),
    "Prod US": ("/Workloads/Prod", {"env": "prod", "torque": "enabled"}),
    "prod-payments": ("/Workloads/Prod", {"env": "prod", "torque": "disabled"}),
    "prod-legacy": ("/Workloads/Prod", {"env": "prod", "torque": "enabled"}),
    "Dev EU": ("/Workloads/Dev", {"env": "dev", "torque": "enabled"}),
    "dev-us": ("/Workloads/Dev", {"env": "dev", "torque": "enabled"}),
    "dev-data": ("/Workloads/Dev", {"env": "dev"}),
    "dev-closed": ("/Workloads/Dev", {"env": "dev", "torque": "enabled"}),
    "alice-sandbox": ("/Sandbox", {"torque": "enabled"}),
    "bob-sandbox": ("/Sandbox", {"torque": "enabled"}),
    "carol-sandbox": ("/Sandbox", {}),
    "shared-services": ("/", {"torque": "enabled"}),
}
CLOSED = "dev-closed"


@pytest.fixture(scope="module")
def org(local_stack):
    """``{name: account ID}`` of the organization, plus ``units`` ``{path: OU ID}``."""
    client = local_stack.account_client("organizations", MANAGEMENT, region="us-east-1")
    client.create_organization(FeatureSet="ALL")
    root = client.list_roots()["Roots"][0]["Id"]
    units = {"/": root}
    for path in ("/Workloads", "/Workloads/Prod", "/Workloads/Dev", "/Sandbox"):
        parent, name = path.rsplit("/", 1)
        units[path] = client.create_organizational_unit(ParentId=units[parent or "/"], Name=name)["OrganizationalUnit"]["Id"]
    ids = {}
    for name, (path, tags) in ACCOUNTS.items():
        status = client.create_account(AccountName=name, Email=f"{name.replace(' ', '.').lower()}@example.com",
                                       Tags=[{"Key": key, "Value": value} for key, value in tags.items()])["CreateAccountStatus"]
        ids[name] = status["AccountId"]
        if path != "/":
            client.move_account(AccountId=ids[name], SourceParentId=root, DestinationParentId=units[path])
    client.close_account(AccountId=ids[CLOSED])
    return {"ids": ids, "units": units, "client": client}


def write_inventory(directory, group_vars=None, **options):
    """An inventory folder: ``org.aws_accounts.yml`` with the plugin's options, and the rollout's group_vars."""
    os.makedirs(os.path.join(directory, "group_vars"), exist_ok=True)
    path = os.path.join(directory, "org.aws_accounts.yml")
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(dict({"plugin": "torque.eks_irsa.aws_accounts", "assume_role_arn": READER}, **options), handle)
    if group_vars is not None:
        with open(os.path.join(directory, "group_vars", "eks_irsa_accounts.yml"), "w", encoding="utf-8") as handle:
            yaml.safe_dump(group_vars, handle)
    return path


def ansible_inventory(stack, path, *args, **env):
    process = subprocess.run([os.path.join(ANSIBLE_BIN, "ansible-inventory"), "-i", path, "--list", *args],
                             env=ansible_env(stack, **env), capture_output=True, text=True, timeout=300, check=False)
    listed = json.loads(process.stdout, object_hook=_plain) if process.returncode == 0 and process.stdout.strip() else None
    return process, listed


def _plain(value):
    """A value as the plugin gave it: ansible-inventory marks what came from AWS as unsafe (never templated)."""
    return value["__ansible_unsafe"] if set(value) == {"__ansible_unsafe"} else value


def organizations_requests(stack):
    return [r for r in stack.aws_requests() if r["service"] == "organizations"]


@pytest.mark.matrix  # templates, constructed groups and the cache differ between ansible-core versions
def test_the_inventory_lists_the_selected_accounts_with_their_variables_and_groups(local_stack, org, tmp_path):
    ids = org["ids"]
    path = write_inventory(str(tmp_path), organizational_units=["/Workloads"], exclude_accounts=["prod-legacy"],
                           account_tags={"torque": "enabled"},
                           keyed_groups=[{"key": "aws_account_ou_path", "prefix": "ou"},
                                         {"key": "aws_account_tags.env", "prefix": "env"}],
                           compose={"eks_irsa_namespace": "'torque-' ~ aws_account_tags.env"})
    process, listed = ansible_inventory(local_stack, path)
    assert process.returncode == 0, process.stderr
    hosts = sorted(listed["eks_irsa_accounts"]["hosts"])
    assert hosts == ["dev-eu", "dev-us", "prod-eu", "prod-us"]  # closed, untagged, excluded and other OUs are not
    prod_eu = listed["_meta"]["hostvars"]["prod-eu"]
    assert prod_eu == {
        "eks_irsa_account_id": ids["Prod EU"],
        "eks_irsa_assume_role_arn": f"arn:aws:iam::{ids['Prod EU']}:role/OrganizationAccountAccessRole",
        "aws_account_name": "Prod EU", "aws_account_email": "prod.eu@example.com",
        "aws_account_arn": prod_eu["aws_account_arn"], "aws_account_ou_id": org["units"]["/Workloads/Prod"],
        "aws_account_ou_path": "/Workloads/Prod", "aws_account_tags": {"env": "prod", "torque": "enabled"},
        "aws_account_management": False, "eks_irsa_namespace": "torque-prod"}
    assert prod_eu["aws_account_arn"].endswith(f"/{ids['Prod EU']}")
    assert sorted(listed["env_prod"]["hosts"]) == ["prod-eu", "prod-us"] and sorted(listed["env_dev"]["hosts"]) == ["dev-eu", "dev-us"]
    assert sorted(listed["ou__Workloads_Prod"]["hosts"]) == ["prod-eu", "prod-us"]

    # The management account only on request, with its own role; another role name and host names from a template.
    path = write_inventory(str(tmp_path), include_management_account=True, include_accounts=["*sandbox", MANAGEMENT],
                           management_account_role_arn=f"arn:aws:iam::{MANAGEMENT}:role/platform-admin",
                           account_role_name="AWSControlTowerExecution", hostname="{{ account_name }}-{{ account_id[-4:] }}")
    process, listed = ansible_inventory(local_stack, path)
    assert process.returncode == 0, process.stderr
    hostvars = listed["_meta"]["hostvars"]
    assert sorted(hostvars) == sorted([f"{name}-{ids[name][-4:]}" for name in ("alice-sandbox", "bob-sandbox", "carol-sandbox")]
                                      + [f"master-{MANAGEMENT[-4:]}"])
    assert hostvars[f"master-{MANAGEMENT[-4:]}"]["eks_irsa_assume_role_arn"] == f"arn:aws:iam::{MANAGEMENT}:role/platform-admin"
    assert hostvars[f"master-{MANAGEMENT[-4:]}"]["aws_account_management"] is True
    alice = hostvars[f"alice-sandbox-{ids['alice-sandbox'][-4:]}"]
    assert alice["eks_irsa_assume_role_arn"] == f"arn:aws:iam::{ids['alice-sandbox']}:role/AWSControlTowerExecution"


def test_a_rollout_verify_and_teardown_driven_by_the_organization(local_stack, org, run_playbook, tmp_path):
    ids = org["ids"]
    group_vars = {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "eks_irsa_cluster_name": local_stack.cluster_name, "eks_irsa_region": local_stack.region,
        "eks_irsa_namespace": NAMESPACE, "eks_irsa_create_namespace": True,
        "eks_irsa_roles": [{"name": RUNNER, "managed_policies": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]}],
    }
    path = write_inventory(str(tmp_path), group_vars, organizational_units=["/Workloads/Prod", org["units"]["/Workloads/Dev"]],
                           account_tags={"torque": "enabled"})
    accounts = {"prod-eu": ids["Prod EU"], "prod-us": ids["Prod US"], "prod-legacy": ids["prod-legacy"],
                "dev-eu": ids["Dev EU"], "dev-us": ids["dev-us"]}

    check = run_playbook(ROLLOUT, inventory=path, check=True)
    assert check.rc == 0, failures(check)
    run = run_playbook(ROLLOUT, inventory=path)
    assert run.rc == 0, failures(run)
    published = run.report["custom_stats"]["_run"]["eks_irsa_rollout"]["accounts"]
    assert published == check.report["custom_stats"]["_run"]["eks_irsa_rollout"]["accounts"]  # check mode predicted it
    assert sorted(published) == sorted(accounts)
    issuer_path = local_stack.issuer.removeprefix("https://").rstrip("/")
    for host, account in accounts.items():
        iam = local_stack.account_client("iam", account)
        assert [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]] == [
            f"arn:aws:iam::{account}:oidc-provider/{issuer_path}"]
        (statement,) = iam.get_role(RoleName=RUNNER)["Role"]["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Condition"]["StringEquals"][f"{issuer_path}:sub"] == f"system:serviceaccount:{NAMESPACE}:{RUNNER}-{host}"
        service_account = subprocess.run([KUBECTL, "-n", NAMESPACE, "get", "serviceaccount", f"{RUNNER}-{host}", "-o", "json"],
                                         env=ansible_env(local_stack), capture_output=True, text=True, timeout=60, check=True)
        assert json.loads(service_account.stdout)["metadata"]["annotations"][ROLE_ARN_ANNOTATION] == \
            f"arn:aws:iam::{account}:role/{RUNNER}"
    # Nothing in the accounts the plugin left out.
    for name in ("prod-payments", "dev-data", "alice-sandbox", "shared-services"):
        assert local_stack.account_client("iam", ids[name]).list_open_id_connect_providers()["OpenIDConnectProviderList"] == []

    local_stack.reset_aws_requests()
    again = run_playbook(ROLLOUT, inventory=path)
    assert again.rc == 0 and mutating_aws_requests(local_stack, set(accounts.values())) == []
    verify = run_playbook("torque.eks_irsa.verify", inventory=path)
    assert verify.rc == 0, verify.stdout[-3000:]
    assert sorted(verify.report["custom_stats"]["_run"]["eks_irsa_verify"]["accounts"]) == sorted(accounts)

    teardown = run_playbook("torque.eks_irsa.teardown", inventory=path)
    assert teardown.rc == 0, failures(teardown)
    for account in accounts.values():
        iam = local_stack.account_client("iam", account)
        assert iam.list_open_id_connect_providers()["OpenIDConnectProviderList"] == []
        assert RUNNER not in [role["RoleName"] for role in iam.list_roles()["Roles"]]


@pytest.mark.matrix  # templates, constructed groups and the cache differ between ansible-core versions
def test_the_cache_answers_until_it_is_flushed(local_stack, org, run_playbook, tmp_path):
    cache = tmp_path / "cache"
    path = write_inventory(str(tmp_path / "inventory"), include_accounts=["*-sandbox"], cache=True,
                           cache_plugin="ansible.builtin.jsonfile", cache_connection=str(cache), cache_timeout=600)
    local_stack.reset_aws_requests()
    process, first = ansible_inventory(local_stack, path)
    assert process.returncode == 0, process.stderr
    assert sorted(first["eks_irsa_accounts"]["hosts"]) == ["alice-sandbox", "bob-sandbox", "carol-sandbox"]
    assert organizations_requests(local_stack) and os.listdir(cache)

    # A new sandbox account: the cached inventory does not know it, and asks AWS nothing.
    client = org["client"]
    dave = client.create_account(AccountName="dave-sandbox", Email="dave@example.com")["CreateAccountStatus"]["AccountId"]
    client.move_account(AccountId=dave, SourceParentId=org["units"]["/"], DestinationParentId=org["units"]["/Sandbox"])
    local_stack.reset_aws_requests()
    process, cached = ansible_inventory(local_stack, path)
    assert process.returncode == 0 and cached == first and organizations_requests(local_stack) == []

    # Other OUs or patterns are not answered from the cache: they read the organization again.
    write_inventory(str(tmp_path / "inventory"), include_accounts=["*-sandbox", "shared-services"], cache=True,
                    cache_plugin="ansible.builtin.jsonfile", cache_connection=str(cache), cache_timeout=600)
    process, other = ansible_inventory(local_stack, path)
    assert process.returncode == 0 and organizations_requests(local_stack)
    assert sorted(other["eks_irsa_accounts"]["hosts"]) == ["alice-sandbox", "bob-sandbox", "carol-sandbox", "dave-sandbox",
                                                           "shared-services"]

    write_inventory(str(tmp_path / "inventory"), include_accounts=["*-sandbox"], cache=True,
                    cache_plugin="ansible.builtin.jsonfile", cache_connection=str(cache), cache_timeout=600)
    local_stack.reset_aws_requests()
    process, again = ansible_inventory(local_stack, path)
    assert process.returncode == 0 and again == first and organizations_requests(local_stack) == []  # its own entry is kept
    # A run with --flush-cache (ansible-playbook's; ansible-inventory has it only from ansible-core 2.18) reads it again,
    # and refreshes the cache.
    flush = run_playbook([{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "List the accounts", "ansible.builtin.debug": {"msg": "{{ groups['eks_irsa_accounts'] | sort }}"}}]}],
        inventory=path, args=["--flush-cache"])
    assert flush.rc == 0, flush.stderr
    sandboxes = ["alice-sandbox", "bob-sandbox", "carol-sandbox", "dave-sandbox"]
    assert flush.result("List the accounts")["msg"] == sandboxes and organizations_requests(local_stack)
    local_stack.reset_aws_requests()
    process, refreshed = ansible_inventory(local_stack, path)
    assert process.returncode == 0 and sorted(refreshed["eks_irsa_accounts"]["hosts"]) == sandboxes
    assert organizations_requests(local_stack) == []
    client.close_account(AccountId=dave)  # the other tests' organization is as before


@pytest.mark.parametrize("options, faults, expected", [
    ({"organizational_units": ["/Workloads/Staging"]}, None,
     ["organizational_units[0]: no OU '/Workloads/Staging' in the organization", "/Workloads/Prod (ou-"]),
    ({"include_accounts": ["Prod EU"], "account_role_arn": "arn:aws:iam::{{ account_id }}:deployer"}, None,
     ["account_role_arn (account ", "is not an IAM role ARN"]),
    ({"include_accounts": ["Prod EU"], "account_role_arn": "arn:aws:iam::111111111111:role/deployer"}, None,
     ["account_role_arn (account ", "is a role in account 111111111111"]),
    ({"include_accounts": ["Prod EU"], "hostname": "{{ no_such_variable }}"}, None,
     ["hostname: could not render", "no_such_variable"]),
    ({"hostname": "{{ tags.env | default('x') }}"}, None, ["hostname: accounts ", "both get the host name"]),
    ({}, {"mode": "unavailable", "status": 400, "code": "AccessDeniedException", "message": "not allowed",
          "services": ["organizations"], "actions": ["DescribeOrganization"]},
     ["the credentials may not describe the organization (organizations:DescribeOrganization)",
      "management account or of a delegated administrator"]),
])
def test_bad_options_are_refused_naming_the_option_and_nothing_runs(local_stack, org, run_playbook, tmp_path, options, faults, expected):
    path = write_inventory(str(tmp_path), {"ansible_connection": "local", "eks_irsa_cluster_name": local_stack.cluster_name,
                                           "eks_irsa_roles": [{"name": RUNNER}]}, **options)
    if faults:
        local_stack.set_faults(faults)
    try:
        process, _listed = ansible_inventory(local_stack, path, ANSIBLE_INVENTORY_UNPARSED_FAILED="true")
        assert process.returncode != 0
        stderr = " ".join(process.stderr.split())  # Ansible wraps long messages
        for text in expected:
            assert text in stderr, process.stderr
        # A rollout with it writes nothing anywhere: it has no hosts, and says so.
        local_stack.reset_aws_requests()
        run = run_playbook(ROLLOUT, inventory=path)
    finally:
        local_stack.clear_faults()
    assert run.rc != 0 and mutating_aws_requests(local_stack) == []
    assert any("eks_irsa_accounts has no hosts" in failure[3] for failure in failures(run)), failures(run)
    assert expected[0] in " ".join(run.stderr.split())  # Ansible's warning gives the plugin's reason (its lines wrapped)


def test_the_example_lists_the_organization_and_passes_the_preflight(local_stack, org, run_playbook, tmp_path):
    # The example as a user runs it from the cluster's account: the commented assume_role_arn reaches the management account.
    shutil.copytree(os.path.join(REPO_ROOT, "examples", "organization"), tmp_path / "organization")
    path = tmp_path / "organization" / "org.aws_accounts.yml"
    text = path.read_text()
    assert "# assume_role_arn: " in text
    path.write_text(text + f"assume_role_arn: {READER}\n")
    process, listed = ansible_inventory(local_stack, str(path))
    assert process.returncode == 0, process.stderr
    expected = ["dev-eu", "dev-us", "prod-eu", "prod-legacy", "prod-us"]  # /Workloads, torque=enabled, active
    assert sorted(listed["eks_irsa_accounts"]["hosts"]) == expected
    assert sorted(listed["env_prod"]["hosts"]) == ["prod-eu", "prod-legacy", "prod-us"]
    assert listed["_meta"]["hostvars"]["dev-us"]["eks_irsa_namespace"] == "torque-envs"  # from its group_vars
    preflight = run_playbook("torque.eks_irsa.preflight", inventory=str(path))
    assert preflight.rc == 0, failures(preflight)


def test_a_throttled_page_of_ous_and_a_throttled_assume_role_are_retried_by_the_policy(local_stack, org, tmp_path):
    client = org["client"]
    fleet = client.create_organizational_unit(ParentId=org["units"]["/"], Name="Fleet")["OrganizationalUnit"]["Id"]
    # More than one page: Organizations (and moto) list 20 OUs at most by default. (OUs, not accounts: each new account
    # makes moto's next AssumeRole slow.)
    units = [client.create_organizational_unit(ParentId=fleet, Name=f"unit-{index:02}")["OrganizationalUnit"]["Id"]
             for index in range(21)]
    try:
        path = write_inventory(str(tmp_path), organizational_units=["/Fleet"])
        # moto answers the first AssumeRole after new accounts (the fixture's) slowly, beyond the policy's read timeout.
        local_stack.account_client("sts", MANAGEMENT)
        local_stack.reset_aws_requests()
        local_stack.set_faults([
            {"mode": "throttle", "services": ["organizations"], "actions": ["ListOrganizationalUnitsForParent"],
             "continued": True, "limit": 1},
            {"mode": "throttle", "services": ["sts"], "actions": ["AssumeRole"], "limit": 1}])
        try:
            process, listed = ansible_inventory(local_stack, path, ANSIBLE_INVENTORY_UNPARSED_FAILED="true")
        finally:
            local_stack.clear_faults()
        assert process.returncode == 0 and listed is not None, process.stderr  # (the Fleet has no accounts)
        requests = organizations_requests(local_stack)
        # The first page of the Fleet's OUs once; the throttled second page again, by the policy: every request is
        # botocore's one attempt. Then every OU of both pages has its accounts listed.
        pages = [(r["page_token"], r["fault"], r["sdk_attempt"]) for r in requests if r["action"] == "ListOrganizationalUnitsForParent"]
        continued = [page for page in pages if page[0] is not None]
        assert [(fault, attempt) for _token, fault, attempt in continued] == [("throttle", 1), (None, 1)], pages
        assert continued[0][0] == continued[1][0] and {attempt for _token, _fault, attempt in pages} == {1}
        parents = len(org["units"]) + 1 + len(units)  # the root, its OUs, the Fleet and the Fleet's units
        assert len(pages) == parents + 2  # each parent's one page once, the Fleet's second page twice
        assert len([r for r in requests if r["action"] == "ListAccountsForParent"]) == len(units) + 1
        assume = [(r["fault"], r["sdk_attempt"]) for r in local_stack.aws_requests() if r["action"] == "AssumeRole"]
        assert assume == [("throttle", 1), (None, 1)]  # amazon.aws's own AssumeRole for assume_role_arn too
    finally:
        for unit in units + [fleet]:
            client.delete_organizational_unit(OrganizationalUnitId=unit)


def test_the_management_account_is_added_with_organizational_units_whatever_the_filters(local_stack, org, tmp_path):
    ids = org["ids"]
    path = write_inventory(str(tmp_path), organizational_units=["/Workloads/Prod"], account_tags={"torque": "enabled"},
                           exclude_accounts=["prod-legacy"], include_management_account=True,
                           management_account_role_arn=f"arn:aws:iam::{MANAGEMENT}:role/platform-admin")
    local_stack.reset_aws_requests()
    process, listed = ansible_inventory(local_stack, path)
    assert process.returncode == 0, process.stderr
    # The management account is at the root, has no torque tag, and the OU, tag and name filters choose member accounts.
    assert sorted(listed["eks_irsa_accounts"]["hosts"]) == ["master", "prod-eu", "prod-us"]
    master = listed["_meta"]["hostvars"]["master"]
    assert (master["eks_irsa_account_id"], master["aws_account_management"], master["aws_account_ou_path"]) == (MANAGEMENT, True, "/")
    assert master["aws_account_ou_id"] == org["units"]["/"]
    assert master["eks_irsa_assume_role_arn"] == f"arn:aws:iam::{MANAGEMENT}:role/platform-admin"
    assert listed["_meta"]["hostvars"]["prod-eu"]["eks_irsa_account_id"] == ids["Prod EU"]
    # Without the option, the same OUs give only their own accounts.
    path = write_inventory(str(tmp_path), organizational_units=["/Workloads/Prod"], account_tags={"torque": "enabled"},
                           exclude_accounts=["prod-legacy"])
    process, listed = ansible_inventory(local_stack, path)
    assert process.returncode == 0 and sorted(listed["eks_irsa_accounts"]["hosts"]) == ["prod-eu", "prod-us"], process.stderr


def test_the_account_role_arn_example_renders_whole_in_ansible_doc():
    process = subprocess.run([os.path.join(ANSIBLE_BIN, "ansible-doc"), "-t", "inventory", "torque.eks_irsa.aws_accounts"],
                             env=ansible_env(), capture_output=True, text=True, timeout=120, check=False)
    assert process.returncode == 0, process.stderr
    text = "".join(process.stdout.split())
    assert "`arn:{{partition}}:iam::{{account_id}}:role/{{tags.deployer_role|default('platform-deployer')}}'." in text, process.stdout

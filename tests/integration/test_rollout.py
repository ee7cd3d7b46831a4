# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The rollout and teardown playbooks, as users run them: ``ansible-playbook torque.eks_irsa.rollout -i inventory.yml``.

Every test rolls out to three target accounts shaped like examples/inventory.yml: the cluster's own account
(123456789012, ambient credentials) and two accounts reached by ``sts:AssumeRole``, one of them with two roles.
The stack lives for the whole session, so each test has its own namespace, its own accounts and its own role
names in the shared cluster account, and removes what it made (teardown) even when it fails.

What a test believes comes from independent readers, not from the playbook's word: boto3 in each account,
``kubectl`` for the cluster, the recording AWS proxy and the emulator's request log for what was sent.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.parse

import pytest
import yaml

from tests.conftest import TOOLS_BIN
from tests.integration.reliability import InterceptingEndpoint
from tests.stack.local_stack import CLUSTER_ACCOUNT

pytestmark = pytest.mark.integration

KUBECTL = os.path.join(TOOLS_BIN, "kubectl")
ROLLOUT = "torque.eks_irsa.rollout"
TEARDOWN = "torque.eks_irsa.teardown"
ROLE_ARN = "eks.amazonaws.com/role-arn"
MANAGED_BY = "app.kubernetes.io/managed-by"
SUMMARY_TASK = "Summarise the rollout"


# -- the inventory ------------------------------------------------------------------------------------------------

class Rollout:
    """One test's rollout: its namespace, accounts and inventory, and readers for what it made."""

    def __init__(self, stack, run_playbook, tmp_path, tag, accounts, **group_vars):
        self.stack, self._run, self.tag = stack, run_playbook, tag
        self.namespace = f"rollout-{tag}"
        self.dev_account, self.prod_account = accounts
        self.hosts = {f"{tag}-tools": CLUSTER_ACCOUNT, f"{tag}-dev": self.dev_account, f"{tag}-prod": self.prod_account}
        self.tools, self.dev, self.prod = self.hosts
        # Role names are unique per test in the shared cluster account; the others reuse the example's names.
        self.runner = f"{tag}-runner"
        self.reader = f"{tag}-reader"
        self.inventory = str(tmp_path / f"inventory-{tag}.yml")
        self.group_vars = group_vars
        self.write_inventory()
        self.torn_down = True  # nothing to clean up until a real run

    def write_inventory(self, **host_overrides):
        deployer = "arn:aws:iam::{}:role/irsa-deployer"
        inventory = {"all": {"children": {"eks_irsa_accounts": {
            "vars": dict({
                "ansible_connection": "local",
                "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                "eks_irsa_cluster_name": self.stack.cluster_name,
                "eks_irsa_region": self.stack.region,
                "eks_irsa_namespace": self.namespace,
                "eks_irsa_create_namespace": True,
                "eks_irsa_tags": {"owner": "platform-team", "test": self.tag},
                "eks_irsa_roles": [{
                    "name": self.runner,
                    "description": "Torque runner pods deploying infrastructure with Terraform",
                    "managed_policies": ["arn:aws:iam::aws:policy/PowerUserAccess"],
                    "inline_policies": {"pass-deployment-roles": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "iam:PassRole",
                                       "Resource": "arn:aws:iam::*:role/deployed-by-torque/*"}]}},
                    "max_session_duration": 7200,
                }],
            }, **self.group_vars),
            "hosts": {
                self.tools: {"eks_irsa_account_id": CLUSTER_ACCOUNT},
                self.dev: {"eks_irsa_account_id": self.dev_account,
                           "eks_irsa_assume_role_arn": deployer.format(self.dev_account)},
                self.prod: {"eks_irsa_account_id": self.prod_account,
                            "eks_irsa_assume_role_arn": deployer.format(self.prod_account),
                            "eks_irsa_roles": [
                                {"name": self.runner, "managed_policies": ["arn:aws:iam::aws:policy/PowerUserAccess"]},
                                {"name": self.reader, "service_account": f"{self.reader}-prod",
                                 "managed_policies": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]},
                            ]},
            },
        }}}}
        for host, overrides in host_overrides.items():
            inventory["all"]["children"]["eks_irsa_accounts"]["hosts"][host].update(overrides)
        with open(self.inventory, "w", encoding="utf-8") as handle:
            yaml.safe_dump(inventory, handle, sort_keys=False)

    def expected(self):
        """``[(host, account, role name, ServiceAccount name)]``: what the inventory asks for."""
        return [
            (self.tools, CLUSTER_ACCOUNT, self.runner, f"{self.runner}-{self.tools}"),
            (self.dev, self.dev_account, self.runner, f"{self.runner}-{self.dev}"),
            (self.prod, self.prod_account, self.runner, f"{self.runner}-{self.prod}"),
            (self.prod, self.prod_account, self.reader, f"{self.reader}-prod"),
        ]

    def rollout(self, **kwargs):
        self.torn_down = False
        return Run(self._run(ROLLOUT, inventory=self.inventory, **kwargs))

    def teardown(self, **kwargs):
        run = Run(self._run(TEARDOWN, inventory=self.inventory, **kwargs))
        self.torn_down = run.rc == 0
        return run

    # -- independent readers ---------------------------------------------------------------------------------------

    def iam(self, account):
        return self.stack.account_client("iam", account)

    def role(self, account, name):
        try:
            return self.iam(account).get_role(RoleName=name)["Role"]
        except self.iam(account).exceptions.NoSuchEntityException:
            return None

    def role_names(self, account):
        return sorted(role["RoleName"] for role in self.iam(account).list_roles()["Roles"])

    def provider_arn(self, account):
        return f"arn:aws:iam::{account}:oidc-provider/{self.stack.issuer.removeprefix('https://').rstrip('/')}"

    def providers(self, account):
        return sorted(p["Arn"] for p in self.iam(account).list_open_id_connect_providers()["OpenIDConnectProviderList"])

    def aws_state(self):
        """Providers and roles of every account of the inventory."""
        return {account: {"providers": self.providers(account), "roles": self.role_names(account)}
                for account in sorted(set(self.hosts.values()))}

    def kubectl(self, *args, check=True, stdin=None):
        process = subprocess.run([KUBECTL, "--kubeconfig", self.stack.kubeconfig, *args], input=stdin,
                                 capture_output=True, text=True, timeout=60, check=False)
        if check:
            assert process.returncode == 0, f"kubectl {' '.join(args)}: {process.stderr}"
        return process

    def service_accounts(self):
        """``{name: ServiceAccount}`` of the namespace, read with kubectl."""
        process = self.kubectl("get", "serviceaccounts", "-n", self.namespace, "-o", "json")
        return {item["metadata"]["name"]: item for item in json.loads(process.stdout)["items"]}

    def namespace_objects(self):
        return [obj for obj in self.stack.kube_objects()
                if obj["metadata"].get("namespace") == self.namespace
                or (obj["kind"] == "Namespace" and obj["metadata"]["name"] == self.namespace)]


class Run:
    """A rollout/teardown run, with readers for its summary, its published stats and its failures."""

    def __init__(self, run):
        self.run = run
        self.rc = run.rc
        self.stats = run.stats

    def failures(self):
        return [(task["task"]["name"], host, result.get("msg"))
                for play in self.run.report["plays"] for task in play["tasks"]
                for host, result in task["hosts"].items() if result.get("failed") and not result.get("skipped")]

    def succeeded(self):
        assert self.rc == 0, f"rc={self.rc} failures={self.failures()} stderr={self.run.stderr[-3000:]}"
        return self

    def summary(self):
        """The summary fact (``lines``, ``accounts``, ``failed``...), as the play computed it."""
        results = self.run.results(SUMMARY_TASK)
        (result,) = results.values()  # run_once
        return result["ansible_facts"]["eks_irsa_summary"]

    def published(self):
        """What set_stats published for AWX workflows (custom stats, not per host)."""
        return self.run.report["custom_stats"]["_run"]["eks_irsa_rollout"]

    def changed(self):
        return {host: stats["changed"] for host, stats in self.stats.items()}


def mutating_aws_calls(stack):
    return [r for r in stack.aws_requests() if r["mutating"]]


def describe_cluster_calls(stack):
    return [r for r in stack.aws_requests() if r["service"] == "eks"]


def kube_writes(stack, since):
    """Writes the emulator stored (dry runs excluded) after request number ``since``."""
    return [r for r in stack.kube_requests()[since:] if r["mutating"] and not r["dry_run"]]


def summary_row(summary, host, service_account):
    """The summary table's line for ``host`` and ``service_account``, split into its columns."""
    for line in summary["lines"]:
        cells = line.split()
        if len(cells) == 7 and cells[1] == host and cells[5] == service_account:
            return dict(zip(["account", "host", "provider", "role", "role_status", "service_account", "sa_status"], cells))
    raise AssertionError(f"no summary row for {host} / {service_account}:\n" + "\n".join(summary["lines"]))


@pytest.fixture
def make_rollout(local_stack, run_playbook, tmp_path):
    """Build :class:`Rollout` objects; whatever a test left behind is torn down when it ends."""
    made = []

    def make(tag, accounts, **group_vars):
        made.append(Rollout(local_stack, run_playbook, tmp_path, tag, accounts, **group_vars))
        return made[-1]

    yield make
    for rollout in made:
        if not rollout.torn_down:
            rollout.write_inventory()  # the inventory as first written (a test may have broken it on purpose)
            rollout.teardown()


# -- the tests ----------------------------------------------------------------------------------------------------

@pytest.mark.matrix
def test_rollout_converges_is_idempotent_and_teardown_removes_only_what_it_made(local_stack, make_rollout):
    rollout = make_rollout("life", ("444444444401", "444444444402"))
    unrelated_role = {"RoleName": "life-unrelated", "AssumeRolePolicyDocument": json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})}
    for account in (CLUSTER_ACCOUNT, rollout.dev_account):
        rollout.iam(account).create_role(**unrelated_role)

    # First run: everything is created, with one issuer lookup for the three accounts.
    local_stack.reset_aws_requests()
    first = rollout.rollout().succeeded()
    assert len(describe_cluster_calls(local_stack)) == 1, describe_cluster_calls(local_stack)
    summary = first.summary()
    assert summary["failed"] == [] and summary["service_account_error"] is None
    for host, account, role_name, service_account in rollout.expected():
        row = summary_row(summary, host, service_account)
        role_arn = f"arn:aws:iam::{account}:role/{role_name}"
        assert row["account"] == account and row["role"] == role_arn, row
        assert row["role_status"] == "created" and row["sa_status"] == "created", row
        # The cluster account's provider may already exist from an earlier test of the session.
        assert row["provider"] == "created" or account == CLUSTER_ACCOUNT, row
        agent = (f"  account {account} ({host}), role {role_name}: {{name: '{{{{ .inputs.agent }}}}', service-account: {service_account}, "
                 f"runner-namespace: {rollout.namespace}}}")
        assert agent in summary["lines"], summary["lines"]
    assert f"Blueprint: the spec.agent of the grain that deploys into each account, in namespace {rollout.namespace}:" in summary["lines"]
    assert all(first.changed()[host] > 0 for host in rollout.hosts), first.changed()
    # The secret parts of the credentials never reach the output: the base credentials (from the environment) show
    # masked in module_args, as amazon.aws logs them; the AWS tasks of the assumed accounts were handed the role ARN
    # and assumed it themselves, so the temporary credentials are in no task's arguments or result at all.
    # (ansible-core 2.21 leaves module_args out of results unless INJECT_INVOCATION is set.)
    shown = set(re.findall(r'"(?:secret_key|session_token)": "([^"]*)"', first.run.stdout))
    with_invocation = any("invocation" in result for result in first.run.results("Ensure the OIDC provider and the roles").values())
    assert shown == ({"VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"} if with_invocation else set()), shown
    assumed = set(re.findall(r'"assume_role_arn": "([^"]*)"', first.run.stdout))
    assert assumed == {f"arn:aws:iam::{account}:role/irsa-deployer" for account in (rollout.dev_account, rollout.prod_account)}, assumed

    # The same data is published for AWX workflows.
    published = first.published()
    assert published["namespace"] == rollout.namespace and published["failed"] == []
    assert sorted(published["accounts"]) == sorted(rollout.hosts)
    assert published["accounts"][rollout.prod]["account_id"] == rollout.prod_account
    assert [(r["name"], r["status"], r["service_account_status"]) for r in published["accounts"][rollout.prod]["roles"]] == [
        (rollout.runner, "created", "created"), (rollout.reader, "created", "created")]

    # Read back independently: kubectl for the ServiceAccounts, boto3 in each account for its provider and role.
    service_accounts = rollout.service_accounts()
    for _host, account, role_name, service_account in rollout.expected():
        role = rollout.role(account, role_name)
        assert role is not None, f"role {role_name} missing in {account}"
        assert service_accounts[service_account]["metadata"]["annotations"][ROLE_ARN] == role["Arn"]
        assert role["Arn"] == f"arn:aws:iam::{account}:role/{role_name}"
        assert service_accounts[service_account]["metadata"]["labels"][MANAGED_BY] == "torque.eks_irsa"
        statement = role["AssumeRolePolicyDocument"]["Statement"]
        assert [s["Principal"]["Federated"] for s in statement] == [rollout.provider_arn(account)]
        issuer_key = rollout.provider_arn(account).split("oidc-provider/", 1)[1]
        assert statement[0]["Condition"]["StringEquals"] == {
            f"{issuer_key}:aud": "sts.amazonaws.com",
            f"{issuer_key}:sub": f"system:serviceaccount:{rollout.namespace}:{service_account}"}
        assert rollout.provider_arn(account) in rollout.providers(account)
    assert sorted(service_accounts) == sorted(["default"] + [expected[3] for expected in rollout.expected()])

    # A ServiceAccount someone else made in the same namespace, without the ownership label.
    rollout.kubectl("apply", "-f", "-", stdin=yaml.safe_dump({
        "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "someone-elses", "namespace": rollout.namespace}}))

    # Second run: nothing to do, and proven by what was sent, not only by `changed`.
    local_stack.reset_aws_requests()
    kube_mark = len(local_stack.kube_requests())
    second = rollout.rollout().succeeded()
    assert second.changed() == {host: 0 for host in rollout.hosts}
    assert mutating_aws_calls(local_stack) == []
    assert kube_writes(local_stack, kube_mark) == []
    assert len(describe_cluster_calls(local_stack)) == 1
    for host, _account, _role, service_account in rollout.expected():
        row = summary_row(second.summary(), host, service_account)
        assert (row["provider"], row["role_status"], row["sa_status"]) == ("ok", "ok", "ok"), row

    # Teardown, previewed: check mode predicts the deletions (the providers too, although the roles that trust
    # them are only deleted in theory) and writes nothing.
    local_stack.reset_aws_requests()
    kube_mark = len(local_stack.kube_requests())
    preview = rollout.teardown(check=True).succeeded()
    rollout.torn_down = False
    assert mutating_aws_calls(local_stack) == [] and kube_writes(local_stack, kube_mark) == []
    account_results = preview.run.results("Delete the roles, then the OIDC provider")
    predicted = {host: (result["provider"]["status"], sorted(name for name, role in result["roles"].items() if role["status"] == "deleted"))
                 for host, result in account_results.items()}
    assert predicted == {host: ("deleted", sorted(role for other, _account, role, _sa in rollout.expected() if other == host))
                         for host in rollout.hosts}, predicted
    deletions = preview.run.results("Delete the ServiceAccounts of every account")
    ((status,),) = [[group["status"] for group in result["results"].values()] for result in deletions.values()]
    assert status == {expected[3]: "deleted" for expected in rollout.expected()}
    assert rollout.provider_arn(rollout.dev_account) in rollout.providers(rollout.dev_account)

    # Teardown: the labelled ServiceAccounts, the roles and the providers go; nothing else is touched.
    rollout.teardown().succeeded()
    for account in (CLUSTER_ACCOUNT, rollout.dev_account, rollout.prod_account):
        assert rollout.provider_arn(account) not in rollout.providers(account)
        assert not [name for name in rollout.role_names(account) if name in (rollout.runner, rollout.reader)]
    for account in (CLUSTER_ACCOUNT, rollout.dev_account):
        assert rollout.role(account, "life-unrelated") is not None, f"teardown deleted an unrelated role in {account}"
    assert sorted(rollout.service_accounts()) == ["default", "someone-elses"]


@pytest.mark.matrix
def test_check_mode_on_fresh_accounts_writes_nothing_and_shows_what_would_be_created(local_stack, make_rollout):
    rollout = make_rollout("check", ("444444444411", "444444444412"))
    aws_before, kube_before = rollout.aws_state(), local_stack.kube_objects()
    local_stack.reset_aws_requests()
    kube_mark = len(local_stack.kube_requests())

    run = rollout.rollout(check=True, diff=True).succeeded()
    rollout.torn_down = True  # check mode made nothing

    assert mutating_aws_calls(local_stack) == []
    assert kube_writes(local_stack, kube_mark) == []
    assert rollout.aws_state() == aws_before
    assert local_stack.kube_objects() == kube_before
    assert rollout.namespace_objects() == []
    # What would be created, account by account, and in the cluster.
    summary = run.summary()
    assert summary["failed"] == []
    for host, account, role_name, service_account in rollout.expected():
        row = summary_row(summary, host, service_account)
        assert row["role"] == f"arn:aws:iam::{account}:role/{role_name}", row
        assert (row["role_status"], row["sa_status"]) == ("created", "created"), row
        assert row["provider"] == "created" or account == CLUSTER_ACCOUNT, row
    # --diff shows each new role as it would be.
    account_results = run.run.results("Ensure the OIDC provider and the roles")
    diffs = {diff["after_header"]: diff["after"] for diff in account_results[rollout.prod]["diff"]}
    after = {header.removeprefix("role "): diff for header, diff in diffs.items() if header.startswith("role ")}
    assert f"OIDC provider {rollout.provider_arn(rollout.prod_account)}" in diffs, sorted(diffs)
    assert sorted(after) == sorted([rollout.runner, rollout.reader])
    assert json.dumps(after[rollout.reader]).count(f"system:serviceaccount:{rollout.namespace}:{rollout.reader}-prod") == 1


def test_render_only_writes_valid_manifests_and_applies_nothing(local_stack, make_rollout, tmp_path):
    render_dir = tmp_path / "manifests"
    rollout = make_rollout("render", ("444444444421", "444444444422"), eks_irsa_render_dir=str(render_dir))
    kube_mark = len(local_stack.kube_requests())

    run = rollout.rollout().succeeded()

    assert kube_writes(local_stack, kube_mark) == []
    assert rollout.namespace_objects() == []
    expected = {service_account: (account, role_name) for _host, account, role_name, service_account in rollout.expected()}
    assert sorted(os.listdir(render_dir)) == sorted(f"{name}.yaml" for name in expected)
    for name, (account, role_name) in expected.items():
        with open(render_dir / f"{name}.yaml", encoding="utf-8") as handle:
            (manifest,) = list(yaml.safe_load_all(handle))
        assert manifest["apiVersion"] == "v1" and manifest["kind"] == "ServiceAccount"
        assert manifest["metadata"]["name"] == name and manifest["metadata"]["namespace"] == rollout.namespace
        assert manifest["metadata"]["labels"][MANAGED_BY] == "torque.eks_irsa"
        assert manifest["metadata"]["annotations"][ROLE_ARN] == rollout.role(account, role_name)["Arn"]
    for host, _account, _role, service_account in rollout.expected():
        assert summary_row(run.summary(), host, service_account)["sa_status"] == "rendered"
    # kubectl accepts the files as they are (the GitOps path applies them later).
    dry_run = rollout.kubectl("apply", "--dry-run=client", "-f", str(render_dir), "-o", "name")
    assert sorted(dry_run.stdout.split()) == sorted(f"serviceaccount/{name}" for name in expected)
    assert kube_writes(local_stack, kube_mark) == []

    # Teardown in render-only mode leaves the cluster to the GitOps tool and removes the AWS side.
    kube_mark = len(local_stack.kube_requests())
    rollout.teardown().succeeded()
    assert local_stack.kube_requests()[kube_mark:] == []
    for _host, account, role_name, _sa in rollout.expected():
        assert rollout.role(account, role_name) is None
        assert rollout.provider_arn(account) not in rollout.providers(account)


# -- an account whose credentials are refused ---------------------------------------------------------------------

class DenyingEndpoint(InterceptingEndpoint):
    """An AWS endpoint in front of the stack that refuses ``sts:AssumeRole`` into the roles in ``denied``.

    moto lets anyone assume any role, so the refusal AWS sends when a role's trust policy does not trust
    the caller is made here, with AWS's status, code and message; every other request goes to the stack
    (through its recording proxy, so the calls are still counted there).
    """

    def __init__(self, upstream):
        self.denied = set()
        super().__init__(upstream)

    def answer(self, method, path, headers, body):
        query = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        role_arn = (query.get("RoleArn") or [""])[0]
        if query.get("Action") == ["AssumeRole"] and role_arn in self.denied:
            message = (f"User: arn:aws:iam::{CLUSTER_ACCOUNT}:user/ci is not authorized to perform: sts:AssumeRole "
                       f"on resource: {role_arn}")
            payload = ('<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
                       f"<Code>AccessDenied</Code><Message>{message}</Message></Error>"
                       "<RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ErrorResponse>").encode()
            return 403, [("Content-Type", "text/xml")], payload
        return self.forward(method, path, headers, body)


@pytest.fixture
def denying_endpoint(local_stack):
    endpoint = DenyingEndpoint(local_stack.aws_url)
    yield endpoint
    endpoint.stop()


def test_account_with_refused_credentials_fails_alone_and_a_rerun_converges(local_stack, make_rollout, denying_endpoint):
    rollout = make_rollout("deny", ("444444444431", "444444444432"))
    env = {"AWS_ENDPOINT_URL": denying_endpoint.url}
    denied_role = f"arn:aws:iam::{rollout.dev_account}:role/irsa-deployer"
    denying_endpoint.denied.add(denied_role)

    local_stack.reset_aws_requests()
    kube_mark = len(local_stack.kube_requests())
    failed = rollout.rollout(env=env)

    assert failed.rc != 0
    assert len(describe_cluster_calls(local_stack)) == 1
    summary = failed.summary()
    assert summary["failed"] == [rollout.dev]
    error = summary["accounts"][rollout.dev]["error"]
    assert "AccessDenied" in error or "not authorized to perform: sts:AssumeRole" in error, error
    assert denied_role in error
    assert f"FAILED {rollout.dev} ({rollout.dev_account}): {error}" in summary["lines"]
    assert summary_row(summary, rollout.dev, "-")["provider"] == "FAILED"
    assert failed.published()["failed"] == [rollout.dev]
    # The refusal failed (and was rescued) on the refused account only; then the last task failed the run.
    assert [(task, host) for task, host, _msg in failed.failures()] == [
        ("Ensure the OIDC provider and the roles", rollout.dev),
        ("Fail the run when an account or the ServiceAccounts failed", rollout.tools)]
    # Nothing was written in the refused account; the other two converged, ServiceAccounts included.
    assert not [r for r in mutating_aws_calls(local_stack) if r["account"] == rollout.dev_account]
    assert rollout.providers(rollout.dev_account) == [] and rollout.role(rollout.dev_account, rollout.runner) is None
    service_accounts = rollout.service_accounts()
    assert f"{rollout.runner}-{rollout.dev}" not in service_accounts
    for host, account, role_name, service_account in rollout.expected():
        if host == rollout.dev:
            continue
        assert summary_row(summary, host, service_account)["role_status"] == "created"
        assert service_accounts[service_account]["metadata"]["annotations"][ROLE_ARN] == rollout.role(account, role_name)["Arn"]
    assert kube_writes(local_stack, kube_mark)

    # The fix (the role now trusts the caller), and a re-run: only the account that failed changes.
    denying_endpoint.denied.clear()
    local_stack.reset_aws_requests()
    fixed = rollout.rollout(env=env).succeeded()
    assert {r["account"] for r in mutating_aws_calls(local_stack)} == {rollout.dev_account}
    for host, _account, _role, service_account in rollout.expected():
        row = summary_row(fixed.summary(), host, service_account)
        want = "created" if host == rollout.dev else "ok"
        assert (row["role_status"], row["sa_status"]) == (want, want), row
    assert rollout.service_accounts()[f"{rollout.runner}-{rollout.dev}"]["metadata"]["annotations"][ROLE_ARN] == \
        f"arn:aws:iam::{rollout.dev_account}:role/{rollout.runner}"
    rollout.teardown(env=env).succeeded()


@pytest.mark.parametrize("case", ["shared service account", "token expiration"])
def test_bad_service_account_settings_are_refused_before_anything_is_written(local_stack, make_rollout, case):
    """Two accounts' roles on one ServiceAccount, or a token lifetime EKS refuses: the preflight stops the run."""
    if case == "shared service account":
        rollout = make_rollout("dup", ("444444444441", "444444444442"))
        shared = {"eks_irsa_roles": [{"name": rollout.runner, "service_account": "shared-runner"}]}
        rollout.write_inventory(**{rollout.dev: shared, rollout.prod: shared})
        task = "Check every account's ID, assume-role ARN, external ID, issuer and roles"
        message = (f"{rollout.prod}: eks_irsa_roles[0] ({rollout.runner}): service account 'shared-runner' is already used by "
                   f"role '{rollout.runner}' of {rollout.dev}; one ServiceAccount carries one role ARN, so give each role its own "
                   "service_account")
    else:
        rollout = make_rollout("ttl", ("444444444443", "444444444444"), eks_irsa_token_expiration=60)
        task = "Check that every account sets what it needs"
        message = "eks_irsa_token_expiration 60 is not a token lifetime EKS accepts: give seconds from 600 to 86400"
    local_stack.reset_aws_requests()
    kube_mark = len(local_stack.kube_requests())

    run = rollout.rollout()

    rollout.torn_down = True  # the preflight stopped the run: nothing was made
    assert run.rc != 0
    failures = [msg for name, _host, msg in run.failures()]
    assert [name for name, _host, _msg in run.failures()] == [task] and failures[0].endswith(message), failures
    assert mutating_aws_calls(local_stack) == [] and kube_writes(local_stack, kube_mark) == []
    assert rollout.role(rollout.dev_account, rollout.runner) is None

# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Bad input is refused before anything is written: one real ``ansible-playbook torque.eks_irsa.rollout`` per case.

Each case breaks one thing in a two-account inventory (hosts ``bad-0`` / ``bad-1``, accounts 555555555510/11,
reached by assume-role). The run must fail in the preflight play, with a message that names the field (and the
inventory host when the value comes from a host), and says how to fix it; and nothing may be written: no mutating
AWS request reaches the recording proxy, no write reaches the Kubernetes emulator (server-side dry runs aside),
and the providers and roles of both accounts and every Kubernetes object are as before.

What the rollout inventory cannot express is checked on the modules themselves (``test_module_refuses_...``):
a trust policy over IAM's size limit (the rollout trusts one ServiceAccount per role, whose trust policy is at most
about 1,300 characters with the longest names Kubernetes and IAM allow), malformed or too many thumbprints (the
rollout does not manage thumbprints), and a few module-only options.
"""

from __future__ import annotations

import pytest
import yaml

from tests.integration.reliability import PREFLIGHT_PLAY, ROLLOUT, Scenario, failures, kube_writes, mutating_aws_requests
from tests.integration.reliability import task_results
from tests.stack.local_stack import CLUSTER_ACCOUNT

pytestmark = pytest.mark.integration

ACCOUNTS = ("555555555510", "555555555511")
BAD, OTHER = "bad-0", "bad-1"
RUNNER = "rel-bad-runner"
STATEMENT = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}


def _group(**values):
    return lambda group, hosts: group.update(values)


def _drop_group(key):
    return lambda group, hosts: group.pop(key)


def _host(host=BAD, **values):
    return lambda group, hosts: hosts[host].update(values)


def _drop_host(key, host=BAD):
    return lambda group, hosts: hosts[host].pop(key)


def _role(host=BAD, **values):
    """Give ``host`` (only) one role: the runner with ``values``."""
    return _host(host, eks_irsa_roles=[dict({"name": RUNNER}, **values)])


def _roles(*roles, host=BAD):
    return _host(host, eks_irsa_roles=list(roles))


def _both(*changes):
    def change(group, hosts):
        for one in changes:
            one(group, hosts)
    return change


# (id, how to break the inventory, the host named (``"<host>: "`` in the message; None: a value of the whole group,
# checked by the ServiceAccount role), fragments the message must contain: the field, and the fix)
CASES = [
    # -- the account and how to reach it
    ("account-id-not-12-digits", _host(eks_irsa_account_id="55555555551"), BAD,
     ["eks_irsa_account_id '55555555551' is not an AWS account ID", "exactly 12 digits", "quote it in YAML"]),
    ("account-id-not-digits", _host(eks_irsa_account_id="55555555551O"), BAD,
     ["eks_irsa_account_id '55555555551O' is not an AWS account ID", "exactly 12 digits"]),
    ("missing-account-id", _drop_host("eks_irsa_account_id"), BAD,
     ["eks_irsa_account_id is not set", "12-digit ID of the account as a host variable"]),
    ("assume-role-arn-malformed", _host(eks_irsa_assume_role_arn="irsa-deployer"), BAD,
     ["eks_irsa_assume_role_arn 'irsa-deployer' is not an IAM role ARN", "write arn:aws:iam::555555555510:role/<role name>"]),
    ("assume-role-arn-not-a-role", _host(eks_irsa_assume_role_arn="arn:aws:iam::555555555510:user/irsa-deployer"), BAD,
     ["eks_irsa_assume_role_arn 'arn:aws:iam::555555555510:user/irsa-deployer' is not an IAM role ARN",
      "write arn:aws:iam::555555555510:role/"]),
    ("assume-role-arn-of-another-account", _host(eks_irsa_assume_role_arn="arn:aws:iam::555555555599:role/irsa-deployer"), BAD,
     ["eks_irsa_assume_role_arn arn:aws:iam::555555555599:role/irsa-deployer is a role in account 555555555599, "
      "not in account 555555555510", "fix the account ID or the ARN"]),
    ("external-id-too-short", _host(eks_irsa_external_id="x"), BAD,
     ["eks_irsa_external_id \"x\" is not an external ID STS accepts", "2 to 1224"]),
    # -- the cluster and its issuer
    ("missing-cluster-name", _both(_drop_group("eks_irsa_cluster_name"), _drop_group("eks_irsa_issuer")), BAD,
     ["eks_irsa_cluster_name is not set", "or its issuer URL as eks_irsa_issuer"]),
    ("unknown-cluster", _both(_group(eks_irsa_cluster_name="no-such-cluster"), _drop_group("eks_irsa_issuer")), None,
     ["EKS cluster 'no-such-cluster' was not found in region 'eu-west-1'", "check cluster_name and region"]),
    ("region-not-a-region", _group(eks_irsa_region="mars-1"), BAD,
     ["eks_irsa_region 'mars-1' is not an AWS region botocore", "write it like eu-west-1"]),
    ("region-in-no-partition", _group(eks_irsa_region="eu-west-9"), BAD,
     ["eks_irsa_region 'eu-west-9' is not an AWS region botocore", "did you mean", "eu-west-1?", "upgrade botocore"]),
    ("region-misspelt", _group(eks_irsa_region="eu-wset-1"), BAD, ["eks_irsa_region 'eu-wset-1'", "did you mean", "eu-west-1"]),
    ("assume-role-arn-of-another-partition", _host(eks_irsa_assume_role_arn="arn:aws-us-gov:iam::555555555510:role/irsa-deployer"), BAD,
     ["eks_irsa_assume_role_arn arn:aws-us-gov:iam::555555555510:role/irsa-deployer is in the partition aws-us-gov, but "
      "eks_irsa_region eu-west-1 is in aws", "use a region of aws-us-gov"]),
    ("account-id-read-as-octal", _host(eks_irsa_account_id=0o12345670123), BAD,
     [f"eks_irsa_account_id was read by YAML as the number {0o12345670123} (an unquoted 012345670123 is read so, as octal)",
      "quote the ID"]),
    ("account-id-read-as-a-short-number", _host(eks_irsa_account_id=55555555551), BAD,
     ["eks_irsa_account_id was read by YAML as the number 55555555551, not as the 12 digits", "quote the ID"]),
    ("issuer-not-https", _group(eks_irsa_issuer="http://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE"), BAD,
     ["eks_irsa_issuer 'http://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE' uses the scheme 'http'",
      "use the https:// URL that EKS reports"]),
    ("issuer-eks-without-its-id", _group(eks_irsa_issuer="https://oidc.eks.eu-west-1.amazonaws.com"), BAD,
     ["eks_irsa_issuer 'https://oidc.eks.eu-west-1.amazonaws.com' is an EKS issuer without its ID",
      "https://oidc.eks.eu-west-1.amazonaws.com/id/<issuer ID>"]),
    ("issuer-eks-path-not-an-id", _group(eks_irsa_issuer="https://oidc.eks.eu-west-1.amazonaws.com/EXAMPLE"), BAD,
     ["is an EKS issuer without its ID", "aws eks describe-cluster"]),
    ("issuer-too-long-for-iam", _group(eks_irsa_issuer="https://oidc.example.com/" + "x" * 240), BAD,
     ["eks_irsa_issuer 'https://oidc.example.com/xxx", "is 265 characters", "at most 255"]),
    # -- the namespace and the ServiceAccounts
    ("missing-namespace", _drop_group("eks_irsa_namespace"), BAD,
     ["eks_irsa_namespace is not set", "give the Kubernetes namespace"]),
    ("namespace-kubernetes-rejects", _group(eks_irsa_namespace="Torque_Envs"), BAD,
     ["the namespace 'Torque_Envs' is not a valid Kubernetes name", "DNS-1123 label (lower-case letters, digits and '-'"]),
    ("service-account-kubernetes-rejects", _role(service_account="Runner_SA"), BAD,
     [f"eks_irsa_roles[0] ({RUNNER})", "the service account name 'Runner_SA' is not a valid Kubernetes name",
      "DNS-1123 subdomain"]),
    ("service-account-default", _role(service_account="default"), BAD,
     [f"eks_irsa_roles[0] ({RUNNER}): service_account: the service account 'default' of namespace 'rel-bad' is what every pod",
      "Give the pods that need the role their own ServiceAccount"]),
    ("wildcard-service-account-without-opt-in", _role(service_account="*"), BAD,
     ["the service account name '*' contains the wildcard '*'", "needs allow_wildcard_subjects=true"]),
    ("duplicate-service-account-in-one-account",
     _roles({"name": RUNNER, "service_account": "shared-sa"}, {"name": "rel-bad-reader", "service_account": "shared-sa"}), BAD,
     [f"eks_irsa_roles[1] (rel-bad-reader): service account 'shared-sa' is already used by role '{RUNNER}'",
      "give each role its own service_account"]),
    ("duplicate-service-account-across-accounts",
     _both(_role(BAD, service_account="shared-sa"), _role(OTHER, service_account="shared-sa")), OTHER,
     [f"eks_irsa_roles[0] ({RUNNER}): service account 'shared-sa' is already used by role '{RUNNER}' of {BAD}",
      "give each role its own service_account"]),
    ("token-expiration-out-of-range", _group(eks_irsa_token_expiration=599), None,
     ["eks_irsa_token_expiration 599 is not a token lifetime EKS accepts", "give seconds from 600 to 86400"]),
    ("label-value-kubernetes-rejects", _group(eks_irsa_service_account_labels={"team": "platform team"}), None,
     ["eks_irsa_service_account_labels: the value 'platform team' of label 'team' is not a valid Kubernetes label value",
      "use up to 63 letters, digits"]),
    ("sts-regional-endpoints-not-a-boolean", _group(eks_irsa_sts_regional_endpoints="maybe"), None,
     ["eks_irsa_sts_regional_endpoints 'maybe' is not a boolean: write true or false"]),
    # -- the roles
    ("missing-roles", _drop_group("eks_irsa_roles"), BAD,
     ["eks_irsa_roles is not set", "for example [{name: torque-runner}]"]),
    ("roles-not-a-list", _group(eks_irsa_roles="not a list"), BAD,
     ["eks_irsa_roles \"not a list\" is not a list of roles", "write each role as a mapping"]),
    ("roles-empty", _host(eks_irsa_roles=[]), BAD,
     ["eks_irsa_roles is empty", "list at least one role for this account"]),
    ("unknown-key-in-a-role (typo)", _role(managed_policy=["arn:aws:iam::aws:policy/ReadOnlyAccess"]), BAD,
     ["eks_irsa_roles.managed_policy", "Supported parameters include:", "managed_policies"]),
    ("duplicate-role-in-one-account",
     _roles({"name": RUNNER, "service_account": "runner-a"}, {"name": RUNNER.upper(), "service_account": "runner-b"}), BAD,
     [f"eks_irsa_roles[1] ({RUNNER.upper()}): the role is already listed as eks_irsa_roles[0]",
      "list each role once"]),
    ("same-role-from-two-hosts-of-one-account",
     _host(OTHER, eks_irsa_account_id=ACCOUNTS[0], eks_irsa_assume_role_arn=f"arn:aws:iam::{ACCOUNTS[0]}:role/irsa-deployer"), OTHER,
     [f"eks_irsa_roles[0] ({RUNNER}): role '{RUNNER}' of account {ACCOUNTS[0]} is already listed by {BAD}",
      "list it under one host only"]),
    ("role-name-too-long", _role(name="r" * 65), BAD,
     [f"name '{'r' * 65}' is not a valid IAM role name", "use 1 to 64 characters (this one has 65)"]),
    ("role-name-bad-characters", _role(name="rel bad/runner"), BAD,
     ["name 'rel bad/runner' is not a valid IAM role name", "letters, digits and + = , . @ _ -"]),
    ("role-path-malformed", _role(path="irsa"), BAD,
     ["path 'irsa': role path must begin and end with /", "for example /irsa/ or /"]),
    ("description-too-long", _role(description="d" * 1001), BAD,
     ["description is 1001 characters", "IAM accepts at most 1000: shorten it"]),
    ("inline-policy-not-json", _role(inline_policies={"deploy": "{\"Version\": \"2012-10-17\", Statement: []"}), BAD,
     ["inline_policies['deploy']: not valid JSON"]),
    ("inline-policy-not-a-policy", _role(inline_policies={"deploy": {"Version": "2012-10-17", "Action": "s3:*"}}), BAD,
     ["inline_policies['deploy']: a policy document needs a 'Statement'"]),
    ("inline-policy-name-bad", _role(inline_policies={"deploy all!": {"Version": "2012-10-17", "Statement": [STATEMENT]}}), BAD,
     ["inline_policies: the policy name 'deploy all!' is not valid", "use 1 to 128 letters, digits"]),
    ("managed-policy-arn-malformed", _role(managed_policies=["ReadOnlyAccess"]), BAD,
     ["managed_policies[0] 'ReadOnlyAccess' is not an IAM policy ARN", "for example arn:aws:iam::aws:policy/ReadOnlyAccess"]),
    ("permissions-boundary-malformed", _role(permissions_boundary="arn:aws:iam::555555555510:role/boundary"), BAD,
     ["permissions_boundary 'arn:aws:iam::555555555510:role/boundary' is not an IAM policy ARN",
      "expected arn:<partition>:iam::<account or aws>:policy/"]),
    ("max-session-out-of-range", _role(max_session_duration=43201), BAD,
     ["max_session_duration 43201 is out of range", "IAM accepts 3600 to 43200 seconds"]),
    ("tag-key-too-long", _group(eks_irsa_tags={"k" * 129: "v"}), BAD,
     ["eks_irsa_tags: tag key 'kkk", "is not a valid IAM tag key", "use 1 to 128"]),
    # -- IAM's patterns and quotas, beyond lengths
    ("role-path-non-ascii", _role(path="/équipe/"), BAD,
     [f"eks_irsa_roles[0] ({RUNNER}): path '/équipe/': role path must begin and end with /", "only printable ASCII"]),
    ("role-path-with-space", _role(path="/team a/"), BAD, ["path '/team a/': role path must begin and end with /", "no spaces"]),
    ("role-name-non-ascii", _role(name="équipe-runner"), BAD,
     ["name 'équipe-runner' is not a valid IAM role name", "ASCII letters, digits"]),
    ("tag-value-control-character", _group(eks_irsa_tags={"team": "platform\tteam"}), BAD,
     ["eks_irsa_tags: the value of tag 'team' has the character '\\t' (U+0009), which IAM refuses", "no tabs, newlines"]),
    ("role-tag-value-newline", _role(tags={"owner": "a\nb"}), BAD,
     [f"eks_irsa_roles[0] ({RUNNER}): tags: the value of tag 'owner' has the character '\\n' (U+000A), which IAM refuses"]),
    ("tags-over-the-count-with-ours", _group(eks_irsa_tags={f"k{index}": "v" for index in range(49)}), BAD,
     ["eks_irsa_tags: 51 tags with the 2 this collection adds", "give at most 48"]),
    ("description-emoji", _role(description="deploys 🚀"), BAD,
     [f"eks_irsa_roles[0] ({RUNNER}): description has the character '🚀' (U+1F680), which IAM refuses", "printable Latin-1"]),
    ("description-cjk", _role(description="東京のランナー"), BAD, ["description has the character '東' (U+6771), which IAM refuses"]),
    ("inline-policies-over-iam-size",
     _role(inline_policies={"a": {"Version": "2012-10-17", "Statement": [dict(STATEMENT, Resource="r" * 6000)]},
                            "b": {"Version": "2012-10-17", "Statement": [dict(STATEMENT, Resource="r" * 5000)]}}), BAD,
     [f"eks_irsa_roles[0] ({RUNNER}): inline_policies: the inline policies add up to", "over the 10240 IAM allows one role",
      "customer managed policy"]),
    ("more-managed-policies-than-the-quota", _role(managed_policies=[f"arn:aws:iam::aws:policy/P{index}" for index in range(11)]), BAD,
     [f"eks_irsa_roles[0] ({RUNNER}): managed_policies: 11 managed policies, but a role may have 10 (eks_irsa_managed_policy_quota)",
      "raise the account's quota"]),
    ("managed-policy-quota-over-iam-maximum", _group(eks_irsa_managed_policy_quota=21), BAD,
     ["eks_irsa_managed_policy_quota 21 is out of range", "give 1 to 20"]),
    # -- what the run uses once, given by one host for itself (its roles would trust a cluster its ServiceAccounts are not in;
    # a host's own eks_irsa_namespace is honoured: tests/integration/test_namespaces.py)
    ("host-with-its-own-cluster", _host(eks_irsa_cluster_name="no-such-cluster"), BAD,
     ["eks_irsa_cluster_name differs between hosts", f'{BAD}: "no-such-cluster"', "the issuer is looked up once",
      "Set it once, for the group eks_irsa_accounts"]),
    ("host-with-its-own-issuer", _host(eks_irsa_issuer="https://oidc.eks.eu-west-1.amazonaws.com/id/0THERC1USTER"), BAD,
     ["eks_irsa_issuer differs between hosts", "every account's roles trust one cluster", "Set it once"]),
    ("host-with-its-own-kube-context", _host(eks_irsa_kube_context="elsewhere"), BAD,
     ["eks_irsa_kube_context differs between hosts", f"{OTHER}: (not set)", "one Kubernetes connection"]),
    ("host-with-its-own-service-account-labels", _host(eks_irsa_service_account_labels={"team": "b"}), BAD,
     ["eks_irsa_service_account_labels differs between hosts", "every ServiceAccount gets the same labels"]),
]


@pytest.fixture
def bad_inventory(local_stack, tmp_path):
    """The two-account scenario the cases break; whatever a case wrongly made is removed afterwards.

    The issuer is given (``eks_irsa_issuer``, as for a cluster one cannot describe) so that each case spends no
    module run on the lookup; the cases about the cluster take it out again.
    """
    scenario = Scenario(local_stack, tmp_path, "bad", ACCOUNTS, eks_irsa_issuer=local_stack.issuer)
    yield scenario
    if mutating_aws_requests(local_stack):  # the log was cleared when the case started
        scenario.purge()
    scenario.purge_namespace()


@pytest.mark.parametrize("case, breaks, host, fragments", CASES, ids=[case[0] for case in CASES])
def test_bad_input_is_refused_before_anything_is_written(local_stack, run_playbook, bad_inventory, case, breaks, host, fragments):
    document = bad_inventory.document()
    group = document["all"]["children"]["eks_irsa_accounts"]
    breaks(group["vars"], group["hosts"])
    inventory = bad_inventory.write(document)
    aws_before, kube_before = bad_inventory.aws_state(), local_stack.kube_objects()
    local_stack.reset_aws_requests()
    kube_mark = len(local_stack.kube_requests())

    run = run_playbook(ROLLOUT, inventory=inventory)

    failed = failures(run)
    assert run.rc != 0 and failed, f"{case}: the rollout accepted the bad input (rc={run.rc}):\n{run.stdout[-3000:]}"
    # Refused in the preflight play, before the play that writes started.
    assert {play for play, _task, _host, _msg in failed} == {PREFLIGHT_PLAY}, failed
    # The message names the field (and the host the value came from) and says how to fix it.
    messages = [msg for _play, _task, _host, msg in failed]
    matching = [msg for msg in messages if all(fragment in msg for fragment in fragments)]
    assert matching, f"{case}: no message contains {fragments}:\n" + "\n".join(messages)
    if host is not None:
        assert any(f"{host}: " in msg for msg in matching), f"{case}: the message does not name host {host}:\n{matching}"
    else:  # a group-wide value: the failed result is a host's of the inventory
        assert {failed_host for _play, _task, failed_host, _msg in failed} <= set(bad_inventory.hosts)
    # Nothing written: no mutating request was sent anywhere, and AWS and Kubernetes hold what they held.
    assert mutating_aws_requests(local_stack) == []
    assert kube_writes(local_stack, kube_mark) == []
    assert bad_inventory.aws_state() == aws_before
    assert local_stack.kube_objects() == kube_before


@pytest.mark.matrix
def test_every_bad_account_is_reported_in_one_run(local_stack, run_playbook, bad_inventory):
    """Two accounts, each with its own mistake: one run names both, each with its host, and writes nothing."""
    document = bad_inventory.document()
    hosts = document["all"]["children"]["eks_irsa_accounts"]["hosts"]
    hosts[BAD].update(eks_irsa_account_id="55555555551")
    hosts[OTHER].update(eks_irsa_roles=[{"name": RUNNER, "path": "irsa"}])
    local_stack.reset_aws_requests()

    run = run_playbook(ROLLOUT, inventory=bad_inventory.write(document))

    failed = failures(run)
    assert run.rc != 0 and len(failed) == 1, failed  # one task, run once for the whole inventory, failed once
    message = failed[0][3]
    assert "The inventory has 2 problems; nothing was written" in message, message
    assert f"{BAD}: eks_irsa_account_id '55555555551' is not an AWS account ID" in message, message
    assert f"{OTHER}: eks_irsa_roles[0] ({RUNNER}): path 'irsa': role path must begin and end with /" in message, message
    assert mutating_aws_requests(local_stack) == []


# -- what the rollout inventory cannot reach: the modules themselves ------------------------------------------

def _long_service_accounts(count):
    return [f"rel-bad-{'n' * 50}:runner-{index:02d}-{'s' * 60}" for index in range(count)]


# (task name, module, options, fragments of the message)
MODULE_CASES = [
    ("trust policy over the size limit", "torque.eks_irsa.iam_web_identity_role",
     {"name": "rel-bad-too-big", "trust": [{"issuer": "{{ issuer }}", "service_accounts": _long_service_accounts(16)}]},
     ["the trust policy would be", "over the limit of 2048 (trust_policy_size_limit)", "trust fewer service accounts per role",
      "raise trust_policy_size_limit up to 4096"]),
    ("trust policy size limit over IAM's maximum", "torque.eks_irsa.iam_web_identity_role",
     {"name": "rel-bad-limit", "trust_policy_size_limit": 5000,
      "trust": [{"issuer": "{{ issuer }}", "service_accounts": ["rel-bad:runner"]}]},
     ["trust_policy_size_limit 5000 is out of range", "give a number up to 4096"]),
    ("wildcard subject without opt-in", "torque.eks_irsa.iam_web_identity_role",
     {"name": "rel-bad-wildcard", "trust": [{"issuer": "{{ issuer }}", "service_accounts": ["rel-bad:runner-*"]}]},
     ["trust[0].service_accounts[0]: the service account name 'runner-*' contains the wildcard '*'", "allow_wildcard_subjects=true"]),
    ("provider of another account", "torque.eks_irsa.iam_web_identity_role",
     {"name": "rel-bad-foreign", "account_id": CLUSTER_ACCOUNT,
      "trust": [{"provider_arn": "arn:aws:iam::555555555599:oidc-provider/{{ issuer | regex_replace('^https://', '') }}",
                 "service_accounts": ["rel-bad:runner"]}]},
     ["trust[0].provider_arn", "is in account 555555555599", "IAM only honours an OIDC provider in the same account"]),
    ("audience empty", "torque.eks_irsa.iam_web_identity_role",
     {"name": "rel-bad-audience", "audience": " ", "trust": [{"issuer": "{{ issuer }}", "service_accounts": ["rel-bad:runner"]}]},
     ["audience is empty", "sts.amazonaws.com for EKS"]),
    ("thumbprint malformed", "torque.eks_irsa.iam_oidc_provider",
     {"url": "{{ issuer }}", "thumbprints": ["9e99a48a9960b14926bb7f3b02e22da2b0ab72"]},
     ["thumbprints: '9e99a48a9960b14926bb7f3b02e22da2b0ab72' is not a certificate thumbprint"]),
    ("too many thumbprints", "torque.eks_irsa.iam_oidc_provider",
     {"url": "{{ issuer }}", "thumbprints": [f"{index:040x}" for index in range(6)]},
     ["thumbprints: 6 thumbprints given, IAM allows at most 5 per provider"]),
]


def test_module_refuses_what_the_rollout_inventory_cannot_express(local_stack, run_playbook):
    """One playbook, one task per bad input, each run for real against the cluster account; none may write."""
    tasks = [{"name": name, module: options, "ignore_errors": True} for name, module, options, _fragments in MODULE_CASES]
    playbook = [{"hosts": "localhost", "gather_facts": False, "vars": {"issuer": local_stack.issuer}, "tasks": tasks}]
    iam = local_stack.client("iam")
    before = (iam.list_roles()["Roles"], iam.list_open_id_connect_providers()["OpenIDConnectProviderList"])
    local_stack.reset_aws_requests()

    run = run_playbook(playbook)

    assert run.rc == 0, run  # every failure was expected (ignore_errors); the play itself ran to the end
    for name, _module, _options, fragments in MODULE_CASES:
        result = run.result(name)
        assert result.get("failed"), f"{name}: the module accepted it: {result}"
        assert all(fragment in result["msg"] for fragment in fragments), f"{name}: {result['msg']}"
    assert mutating_aws_requests(local_stack) == []
    assert (iam.list_roles()["Roles"], iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]) == before


# -- every rule the preflight applies, a direct module call applies too -------------------------------------------

ASSUMED = {"assume_role_arn": f"arn:aws:iam::{ACCOUNTS[0]}:role/irsa-deployer"}
TRUST = [{"issuer": "{{ issuer }}", "service_accounts": ["rel-bad:runner"]}]


def _role_module(**options):
    return dict({"name": "rel-bad-direct", "trust": TRUST}, **options)


# (the inventory case above, the rule its message states, module, options, the module's field in its message)
SAME_RULES = [
    ("account-id-not-12-digits", "is not an AWS account ID",
     "torque.eks_irsa.irsa_account", {"account_id": "55555555551", "provider": {"url": "{{ issuer }}"}}, "account_id '55555555551'"),
    ("assume-role-arn-malformed", "is not an IAM role ARN",
     "torque.eks_irsa.iam_oidc_provider", {"url": "{{ issuer }}", "assume_role_arn": "irsa-deployer"}, "assume_role_arn 'irsa-deployer'"),
    ("external-id-too-short", "is not an external ID STS accepts",
     "torque.eks_irsa.iam_oidc_provider", dict(ASSUMED, url="{{ issuer }}", assume_role_external_id="x"), 'assume_role_external_id "x"'),
    ("issuer-not-https", "uses the scheme 'http'",
     "torque.eks_irsa.iam_oidc_provider", {"url": "http://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE"}, "url 'http://oidc.eks"),
    ("issuer-too-long-for-iam", "is 265 characters",
     "torque.eks_irsa.iam_oidc_provider", {"url": "https://oidc.example.com/" + "x" * 240}, "url 'https://oidc.example.com/xxx"),
    ("tag-key-too-long", "is not a valid IAM tag key",
     "torque.eks_irsa.iam_oidc_provider", {"url": "{{ issuer }}", "tags": {"k" * 129: "v"}}, "tags: tag key 'kkk"),
    ("tag-key-too-long", "is not a valid IAM tag key",
     "torque.eks_irsa.iam_web_identity_role", _role_module(tags={"k" * 129: "v"}), "tags: tag key 'kkk"),
    ("tag-key-too-long", "is not a valid IAM tag key", "torque.eks_irsa.irsa_account",
     {"provider": {"url": "{{ issuer }}"}, "roles": [_role_module(tags={"k" * 129: "v"})]}, "roles[0] (rel-bad-direct): tags: tag key"),
    ("description-too-long", "is 1001 characters",
     "torque.eks_irsa.iam_web_identity_role", _role_module(description="d" * 1001), "description"),
    ("description-too-long", "is 1001 characters", "torque.eks_irsa.irsa_account",
     {"provider": {"url": "{{ issuer }}"}, "roles": [_role_module(description="d" * 1001)]}, "roles[0] (rel-bad-direct): description"),
    ("role-name-too-long", "is not a valid IAM role name",
     "torque.eks_irsa.iam_web_identity_role", _role_module(name="r" * 65), f"name '{'r' * 65}'"),
    ("role-path-malformed", "role path must begin and end with /",
     "torque.eks_irsa.iam_web_identity_role", _role_module(path="irsa"), "path 'irsa'"),
    ("inline-policy-not-json", "not valid JSON", "torque.eks_irsa.iam_web_identity_role",
     _role_module(inline_policies={"deploy": "{\"Version\": \"2012-10-17\", Statement: []"}), "inline_policies['deploy']"),
    ("managed-policy-arn-malformed", "is not an IAM policy ARN",
     "torque.eks_irsa.iam_web_identity_role", _role_module(managed_policies=["ReadOnlyAccess"]), "managed_policies[0] 'ReadOnlyAccess'"),
    ("permissions-boundary-malformed", "is not an IAM policy ARN", "torque.eks_irsa.iam_web_identity_role",
     _role_module(permissions_boundary="arn:aws:iam::555555555510:role/boundary"), "permissions_boundary 'arn:aws:iam::555555555510:role/boundary'"),
    ("max-session-out-of-range", "is out of range",
     "torque.eks_irsa.iam_web_identity_role", _role_module(max_session_duration=43201), "max_session_duration 43201"),
    ("service-account-kubernetes-rejects", "is not a valid Kubernetes name", "torque.eks_irsa.iam_web_identity_role",
     _role_module(trust=[{"issuer": "{{ issuer }}", "service_accounts": ["rel-bad:Runner_SA"]}]), "trust[0].service_accounts[0]"),
    ("namespace-kubernetes-rejects", "is not a valid Kubernetes name", "torque.eks_irsa.iam_web_identity_role",
     _role_module(trust=[{"issuer": "{{ issuer }}", "service_accounts": ["Torque_Envs:runner"]}]), "the namespace 'Torque_Envs'"),
    ("role-path-non-ascii", "role path must begin and end with /",
     "torque.eks_irsa.iam_web_identity_role", _role_module(path="/équipe/"), "path '/équipe/'"),
    ("role-name-non-ascii", "is not a valid IAM role name",
     "torque.eks_irsa.iam_web_identity_role", _role_module(name="équipe-runner"), "name 'équipe-runner'"),
    ("tag-value-control-character", "which IAM refuses",
     "torque.eks_irsa.iam_oidc_provider", {"url": "{{ issuer }}", "tags": {"team": "platform\tteam"}},
     "tags: the value of tag 'team' has the character '\\t' (U+0009)"),
    ("role-tag-value-newline", "which IAM refuses",
     "torque.eks_irsa.iam_web_identity_role", _role_module(tags={"owner": "a\nb"}), "tags: the value of tag 'owner'"),
    ("description-emoji", "which IAM refuses", "torque.eks_irsa.iam_web_identity_role",
     _role_module(description="deploys 🚀"), "description has the character '🚀' (U+1F680)"),
    ("description-cjk", "which IAM refuses", "torque.eks_irsa.irsa_account",
     {"provider": {"url": "{{ issuer }}"}, "roles": [_role_module(description="東京のランナー")]},
     "roles[0] (rel-bad-direct): description has the character '東'"),
    ("inline-policies-over-iam-size", "over the 10240 IAM allows one role", "torque.eks_irsa.iam_web_identity_role",
     _role_module(inline_policies={"a": {"Version": "2012-10-17", "Statement": [dict(STATEMENT, Resource="r" * 6000)]},
                                   "b": {"Version": "2012-10-17", "Statement": [dict(STATEMENT, Resource="r" * 5000)]}}),
     "inline_policies: the inline policies add up to"),
    ("more-managed-policies-than-the-quota", "11 managed policies, but a role may have 10", "torque.eks_irsa.iam_web_identity_role",
     _role_module(managed_policies=[f"arn:aws:iam::aws:policy/P{index}" for index in range(11)]), "managed_policies: 11"),
    ("managed-policy-quota-over-iam-maximum", "is out of range", "torque.eks_irsa.iam_web_identity_role",
     _role_module(managed_policy_quota=21), "managed_policy_quota 21"),
    ("issuer-eks-without-its-id", "is an EKS issuer without its ID",
     "torque.eks_irsa.iam_oidc_provider", {"url": "https://oidc.eks.eu-west-1.amazonaws.com"}, "url 'https://oidc.eks"),
    ("issuer-eks-without-its-id", "is an EKS issuer without its ID", "torque.eks_irsa.iam_web_identity_role",
     _role_module(trust=[{"issuer": "https://oidc.eks.eu-west-1.amazonaws.com", "service_accounts": ["rel-bad:runner"]}]),
     "trust[0].issuer"),
    ("region-in-no-partition", "is not an AWS region botocore",
     "torque.eks_irsa.iam_oidc_provider", {"url": "{{ issuer }}", "region": "eu-west-9"}, "region 'eu-west-9'"),
    ("assume-role-arn-of-another-partition", "is in the partition aws-us-gov, but",
     "torque.eks_irsa.irsa_account", {"provider": {"url": "{{ issuer }}"}, "region": "eu-west-1",
                                      "assume_role_arn": "arn:aws-us-gov:iam::555555555510:role/irsa-deployer"},
     "assume_role_arn arn:aws-us-gov:iam::555555555510:role/irsa-deployer"),
    # The module's account_id is a string option: Ansible turns the number into text first, so the module states the same
    # fix (quote the ID) for the digits it was given.
    ("account-id-read-as-octal", "quote",
     "torque.eks_irsa.irsa_account", {"account_id": 0o12345670123, "provider": {"url": "{{ issuer }}"}}, "account_id '1402433619'"),
    ("service-account-default", "is what every pod", "torque.eks_irsa.iam_web_identity_role",
     _role_module(trust=[{"issuer": "{{ issuer }}", "service_accounts": ["rel-bad:default"]}]), "trust[0].service_accounts[0]"),
    # No inventory variable sets the session name: the rule stands for the modules alone.
    (None, "is not a session name STS accepts",
     "torque.eks_irsa.iam_oidc_provider", dict(ASSUMED, url="{{ issuer }}", assume_role_session_name="a"), 'assume_role_session_name "a"'),
]


@pytest.mark.matrix
def test_a_direct_module_call_refuses_what_the_preflight_refuses(local_stack, run_playbook):
    """One task per rule, run for real; each fails naming its option with the rule the preflight states, and none writes."""
    inventory_fragments = {case[0]: " ".join(case[3]) for case in CASES}  # test_bad_input_is_refused... proves them
    tasks = [{"name": f"{index}: {case or 'module only'}", module: options, "ignore_errors": True}
             for index, (case, _rule, module, options, _field) in enumerate(SAME_RULES)]
    playbook = [{"hosts": "localhost", "gather_facts": False, "vars": {"issuer": local_stack.issuer}, "tasks": tasks}]
    local_stack.reset_aws_requests()

    run = run_playbook(playbook)

    assert run.rc == 0, run
    for index, (case, rule, _module, _options, field) in enumerate(SAME_RULES):
        result = run.result(f"{index}: {case or 'module only'}")
        assert result.get("failed") and field in result["msg"] and rule in result["msg"], (case, result.get("msg"))
        assert case is None or rule in inventory_fragments[case], (case, rule)
    assert mutating_aws_requests(local_stack) == []


# -- what only AWS knows: refused in the account, with reads, before the account's first write ----------------------

READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
MISSING_POLICY_CASES = [
    ("aws-managed-policy-misspelt", {"managed_policies": ["arn:aws:iam::aws:policy/ReadOnlyAcess"]}, "managed_policies[0]",
     "arn:aws:iam::aws:policy/ReadOnlyAcess"),
    ("customer-policy-never-made", {"managed_policies": [READ_ONLY, f"arn:aws:iam::{ACCOUNTS[0]}:policy/never-made"]},
     "managed_policies[1]", f"arn:aws:iam::{ACCOUNTS[0]}:policy/never-made"),
    ("boundary-never-made", {"permissions_boundary": f"arn:aws:iam::{ACCOUNTS[0]}:policy/irsa/no-boundary"}, "permissions_boundary",
     f"arn:aws:iam::{ACCOUNTS[0]}:policy/irsa/no-boundary"),
]


@pytest.mark.parametrize("check", [False, True], ids=["run", "check"])
@pytest.mark.parametrize("case, role, field, arn", MISSING_POLICY_CASES, ids=[case[0] for case in MISSING_POLICY_CASES])
def test_a_policy_that_does_not_exist_is_refused_before_the_accounts_first_write(local_stack, run_playbook, bad_inventory,
                                                                                 case, role, field, arn, check):
    document = bad_inventory.document()
    group = document["all"]["children"]["eks_irsa_accounts"]
    _role(**role)(group["vars"], group["hosts"])
    refused_before = bad_inventory.aws_state()[ACCOUNTS[0]]
    local_stack.reset_aws_requests()

    run = run_playbook(ROLLOUT, inventory=bad_inventory.write(document), check=check)

    assert run.rc != 0, f"{case}: the rollout accepted a policy that does not exist:\n{run.stdout[-3000:]}"
    summary = "\n".join(task_results(run, "Show the summary")[BAD]["msg"])
    assert f"FAILED {BAD} ({ACCOUNTS[0]}): eks_irsa_roles[0] ({RUNNER}): {field}: the managed policy {arn} does not exist" in summary
    assert "nothing was written for this role" in summary
    # Nothing in the refused account: not its provider, not the role, no attach retried; only reads reached it.
    assert mutating_aws_requests(local_stack, accounts=[ACCOUNTS[0]]) == []
    assert bad_inventory.aws_state()[ACCOUNTS[0]] == refused_before
    looked_up = [r for r in local_stack.aws_requests() if r["account"] == ACCOUNTS[0] and r["action"] == "GetPolicy"]
    assert looked_up, "the policy was not looked up"
    # The other account is independent: converged, or in check mode only predicted.
    assert (RUNNER in bad_inventory.role_names(ACCOUNTS[1])) is not check


# -- the valid neighbours of the refused inputs: accepted, and written exactly ----------------------------------------

TEN_POLICIES = [f"arn:aws:iam::aws:policy/{name}" for name in (
    "ReadOnlyAccess", "SecurityAudit", "IAMReadOnlyAccess", "AmazonS3ReadOnlyAccess", "AmazonEC2ReadOnlyAccess",
    "CloudWatchReadOnlyAccess", "AmazonSQSReadOnlyAccess", "AmazonSNSReadOnlyAccess", "AmazonDynamoDBReadOnlyAccess",
    "AmazonRDSReadOnlyAccess")]


def test_the_valid_neighbours_are_accepted_and_written_exactly(local_stack, run_playbook, bad_inventory):
    """At each limit, or just inside IAM's and Kubernetes' patterns: written as given, nothing refused or changed."""
    service_account = "runner." + "s" * 243  # 250 characters: a valid ServiceAccount name no internal tag may refuse
    role_tags = {"équipe": "données", "owner": "Zoë Ng"}  # letters of any script, spaces
    group_tags = {f"k{index:02d}": f"v{index}" for index in range(46)}  # with the role's 2, the cluster and ownership tags: 50
    role = {"name": RUNNER, "service_account": service_account, "path": "/team~1/a.b/", "description": "Déploiement: café\tZürich",
            "tags": role_tags, "managed_policies": TEN_POLICIES}
    document = bad_inventory.document()
    group = document["all"]["children"]["eks_irsa_accounts"]
    group["vars"]["eks_irsa_tags"] = group_tags
    _role(**role)(group["vars"], group["hosts"])

    run = run_playbook(ROLLOUT, inventory=bad_inventory.write(document))

    assert run.rc == 0, run.stdout[-3000:]
    iam = bad_inventory.iam(ACCOUNTS[0])
    held = iam.get_role(RoleName=RUNNER)["Role"]
    assert (held["Path"], held["Description"]) == (role["path"], role["description"])
    assert {tag["Key"]: tag["Value"] for tag in held["Tags"]} == dict(
        group_tags, **role_tags, **{"eks-irsa:cluster": local_stack.cluster_name, "eks-irsa:managed-by": "torque.eks_irsa"})
    attached = iam.list_attached_role_policies(RoleName=RUNNER)["AttachedPolicies"]
    assert sorted(policy["PolicyArn"] for policy in attached) == sorted(TEN_POLICIES)
    (statement,) = bad_inventory.trust_policy(ACCOUNTS[0], RUNNER)["Statement"]
    assert list(statement["Condition"]["StringEquals"].values()).count(
        f"system:serviceaccount:{bad_inventory.namespace}:{service_account}") == 1
    annotations = bad_inventory.kubectl("-n", bad_inventory.namespace, "get", "serviceaccount", service_account,
                                        "-o", "jsonpath={.metadata.annotations}").stdout
    assert held["Arn"] in annotations


@pytest.mark.parametrize("playbook", ["rollout", "teardown", "verify", "preflight"])
@pytest.mark.parametrize("groups", [{"eks_irsa_accounts": {"hosts": {}}}, {"other_group": {"hosts": {"x": {}}}}],
                         ids=["empty-group", "no-group"])
def test_an_inventory_with_no_accounts_fails_saying_so(local_stack, run_playbook, tmp_path, playbook, groups):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": groups}}))
    local_stack.reset_aws_requests()

    run = run_playbook(f"torque.eks_irsa.{playbook}", inventory=str(inventory))

    assert run.rc != 0, run.stdout[-2000:]
    (failure,) = failures(run)
    assert failure[1] == "Stop when the group eks_irsa_accounts has no hosts"
    assert "The inventory's group eks_irsa_accounts has no hosts" in failure[3] and "nothing to do" in failure[3]
    assert ("there is no such group" in failure[3]) is ("eks_irsa_accounts" not in groups)
    assert local_stack.aws_requests() == []

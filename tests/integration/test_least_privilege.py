# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Least privilege, proven: every trust policy the rollout stores lets in exactly its one ServiceAccount.

moto stores trust policies without ever checking them, so the proof is an evaluation of the policies IAM holds
(read back with boto3) by ``plugins/module_utils/trust_evaluation.py``, an evaluator of IAM's condition semantics written from
the IAM documentation, not from this collection's code. For every role the rollout made, in the cluster's own
account and in two assumed accounts:

- the intended ``system:serviceaccount:<namespace>:<sa>`` with audience ``sts.amazonaws.com``, from the cluster's
  issuer, through the account's own OIDC provider: Allow;
- every other ServiceAccount of the rollout, ``default``, the same name in another namespace, look-alike names,
  another or no audience, a token of another cluster's issuer, the right claims presented through another
  account's provider, and ``sts:AssumeRole`` instead of ``sts:AssumeRoleWithWebIdentity``: not Allow.

Wildcard subjects only exist when asked for (``allow_wildcard_subjects`` on the module); they are evaluated too.
"""

from __future__ import annotations

import pytest

from tests.integration.reliability import ROLE_ARN_ANNOTATION, ROLLOUT, Scenario, delete_role
from tests.stack.local_stack import CLUSTER_ACCOUNT
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import ALLOW, WEB_IDENTITY_ACTION, evaluate_trust
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import evaluate_web_identity
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import provider_arn
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import web_identity_context

pytestmark = pytest.mark.integration

ACCOUNTS = (CLUSTER_ACCOUNT, "555555555530", "555555555531")
OTHER_CLUSTER = ("rel-lp-other", "us-west-2")
WILDCARD_ROLE = "rel-lp-wildcard"


def sub(namespace, name):
    return f"system:serviceaccount:{namespace}:{name}"


@pytest.fixture
def other_issuer(local_stack):
    """The issuer of a second cluster (moto gives every cluster of one region the same issuer: another region)."""
    eks = local_stack.client("eks", OTHER_CLUSTER[1])
    try:
        return local_stack.create_cluster(*OTHER_CLUSTER)
    except eks.exceptions.ResourceInUseException:
        return eks.describe_cluster(name=OTHER_CLUSTER[0])["cluster"]["identity"]["oidc"]["issuer"]


@pytest.fixture
def scenario(local_stack, tmp_path):
    made = Scenario(local_stack, tmp_path, "lp", ACCOUNTS)
    # The last account has a second role, on a ServiceAccount named in the inventory.
    last = list(made.hosts)[-1]
    made.reader = "rel-lp-reader"
    made.host_roles = {host: [made.runner] for host in made.hosts}
    made.host_roles[last] = [made.runner, made.reader]
    document = made.document()
    document["all"]["children"]["eks_irsa_accounts"]["hosts"][last]["eks_irsa_roles"] = [
        {"name": made.runner}, {"name": made.reader, "service_account": "rel-lp-reader-sa",
                                "managed_policies": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]}]
    made.roles = made.roles + [{"name": made.reader}, {"name": WILDCARD_ROLE}]  # what purge removes from the cluster account
    made.write(document)
    yield made
    made.purge()


def test_every_role_the_rollout_makes_trusts_exactly_its_service_account(local_stack, run_playbook, scenario, other_issuer):
    issuer, namespace = local_stack.issuer, scenario.namespace
    assert other_issuer.rstrip("/") != issuer.rstrip("/")
    run = run_playbook(ROLLOUT, inventory=scenario.inventory)
    assert run.rc == 0, run

    # What the rollout made: role -> the one ServiceAccount that carries its ARN (read from the cluster).
    service_accounts = scenario.service_accounts()
    carried = {obj["metadata"]["annotations"][ROLE_ARN_ANNOTATION]: name for name, obj in service_accounts.items()
               if ROLE_ARN_ANNOTATION in obj["metadata"].get("annotations", {})}
    roles = [(host, scenario.hosts[host], name) for host, names in scenario.host_roles.items() for name in names]
    assert len(carried) == len(roles) == 4
    every_sa = sorted(carried.values())

    for host, account, role_name in roles:
        policy = scenario.trust_policy(account, role_name)
        own_sa = carried[f"arn:aws:iam::{account}:role/{role_name}"]
        where = f"{host} {account} {role_name} (for {own_sa}): {policy}"

        # The intended caller, and only it.
        assert evaluate_web_identity(policy, account, issuer, sub(namespace, own_sa)) == ALLOW, where
        denied_subjects = [sub(namespace, other) for other in every_sa if other != own_sa] + [
            sub(namespace, "default"),
            sub("rel-lp-elsewhere", own_sa),  # the same name in another namespace
            sub("default", own_sa),
            sub(namespace, own_sa + "x"),  # look-alikes: no pattern matching where none was asked for
            sub(namespace, own_sa[:-1]),
            sub(namespace, "*"),
            f"system:serviceaccount:{namespace}",
            own_sa,
        ]
        for subject in denied_subjects:
            assert evaluate_web_identity(policy, account, issuer, subject) != ALLOW, f"{subject} let in by {where}"
        right = sub(namespace, own_sa)
        for audience in ("sts.example.com", "https://kubernetes.default.svc", None):  # None: a token without aud
            assert evaluate_web_identity(policy, account, issuer, right, aud=audience) != ALLOW, f"aud {audience}: {where}"
        # A token of another cluster (issuer), with the right claims.
        assert evaluate_web_identity(policy, account, other_issuer, right) != ALLOW, where
        # The right claims, through another account's provider for the same issuer.
        for other_account in ACCOUNTS + ("555555555539",):
            if other_account != account:
                decision = evaluate_trust(policy, provider_arn("aws", other_account, issuer), WEB_IDENTITY_ACTION,
                                          web_identity_context(issuer, right))
                assert decision != ALLOW, f"through {other_account}'s provider: {where}"
        # Only web identity: no sts:AssumeRole (or any other action) with the same principal and claims.
        for action in ("sts:AssumeRole", "sts:AssumeRoleWithSAML", "sts:TagSession"):
            assert evaluate_trust(policy, provider_arn("aws", account, issuer), action, web_identity_context(issuer, right)) != ALLOW
        # The provider the policy trusts exists in the role's own account (IAM honours no other).
        assert scenario.provider_arn(account) in scenario.providers(account), where


def test_wildcard_subjects_only_with_opt_in_and_still_bounded(local_stack, run_playbook, scenario, other_issuer):
    """The module with allow_wildcard_subjects: the pattern lets in what it says, and nothing beyond it."""
    issuer = local_stack.issuer
    playbook = [{"hosts": "localhost", "gather_facts": False, "tasks": [{
        "name": "A role for every runner-* ServiceAccount of one namespace and one name in rel-lp-* namespaces",
        "torque.eks_irsa.iam_web_identity_role": {
            "name": WILDCARD_ROLE, "account_id": CLUSTER_ACCOUNT, "allow_wildcard_subjects": True,
            "trust": [{"issuer": issuer, "service_accounts": ["rel-lp:runner-*", "rel-lp-*:deployer"]}]},
    }]}]
    try:
        run = run_playbook(playbook)
        assert run.rc == 0, run
        policy = scenario.trust_policy(CLUSTER_ACCOUNT, WILDCARD_ROLE)
    finally:
        iam = local_stack.client("iam")
        if WILDCARD_ROLE in scenario.role_names(CLUSTER_ACCOUNT):
            delete_role(iam, WILDCARD_ROLE)

    # aud stays exact (StringEquals) even when sub is a pattern (StringLike).
    (statement,) = policy["Statement"]
    host_path = issuer.removeprefix("https://").rstrip("/")
    assert statement["Condition"]["StringEquals"] == {f"{host_path}:aud": "sts.amazonaws.com"}
    assert set(statement["Condition"]["StringLike"]) == {f"{host_path}:sub"}

    allowed = [sub("rel-lp", "runner-a"), sub("rel-lp", "runner-prod-7"), sub("rel-lp-dev", "deployer"), sub("rel-lp-x", "deployer")]
    denied = [sub("rel-lp", "runner"), sub("rel-lp", "reader-a"), sub("rel-lp-dev", "runner-a"), sub("other", "runner-a"),
              sub("rel-lp", "deployer-2"), sub("rel-lp-dev", "deployers"), sub("rel-lpx", "runner-a"), sub("default", "deployer")]
    for subject in allowed:
        assert evaluate_web_identity(policy, CLUSTER_ACCOUNT, issuer, subject) == ALLOW, subject
        assert evaluate_web_identity(policy, CLUSTER_ACCOUNT, issuer, subject, aud="sts.example.com") != ALLOW, subject
        assert evaluate_web_identity(policy, CLUSTER_ACCOUNT, other_issuer, subject) != ALLOW, subject
        assert evaluate_trust(policy, provider_arn("aws", "555555555530", issuer), WEB_IDENTITY_ACTION,
                              web_identity_context(issuer, subject)) != ALLOW, subject
    for subject in denied:
        assert evaluate_web_identity(policy, CLUSTER_ACCOUNT, issuer, subject) != ALLOW, subject

# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check that ours and the baseline reach the same end state, so the comparison is fair.

For an account, the state is: its OIDC providers (URL, client IDs, tags), each benchmark role (path,
description, max session, trust policy without ``Sid``s, attached and inline policies, tags) and each
ServiceAccount's role annotation. The account ID, host name and namespace are replaced by placeholders, so
two accounts' states compare equal when both tools did the same thing.
"""

import json
import urllib.parse

from benchmark.inventory import ROLE_TEMPLATES, host_name, service_account_names

ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"


def _document(value):
    """A policy document as a dict, whether boto3 returns it decoded, URL-encoded or as JSON text."""
    if isinstance(value, str):
        return json.loads(urllib.parse.unquote(value))
    return value


def _without_sids(document):
    statements = document.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    return dict(document, Statement=[{k: v for k, v in statement.items() if k != "Sid"} for statement in statements])


# Ours adds ownership and provenance tags (eks-irsa:managed-by, :cluster, :service-account) that a
# hand-written playbook does not; they describe the resources, not the access, so the comparison skips them.
OWN_TAG_PREFIX = "eks-irsa:"


def _tags(tag_list):
    return {tag["Key"]: tag["Value"] for tag in tag_list or [] if not tag["Key"].startswith(OWN_TAG_PREFIX)}


def _providers(iam):
    providers = []
    for entry in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
        provider = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=entry["Arn"])
        providers.append({"url": provider["Url"], "client_ids": sorted(provider.get("ClientIDList", [])),
                          "tags": _tags(provider.get("Tags"))})
    return providers


def _role(iam, name):
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except iam.exceptions.NoSuchEntityException:
        return None
    inline = {policy: _document(iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"])
              for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]}
    attached = sorted(p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"])
    return {
        "path": role.get("Path"), "description": role.get("Description"), "max_session": role.get("MaxSessionDuration"),
        "trust": _without_sids(_document(role["AssumeRolePolicyDocument"])),
        "managed_policies": attached, "inline_policies": inline, "tags": _tags(role.get("Tags")),
    }


def _service_accounts(kube_objects, namespace, account_id):
    wanted = set(service_account_names(account_id))
    return {
        obj["metadata"]["name"]: (obj["metadata"].get("annotations") or {}).get(ROLE_ARN_ANNOTATION)
        for obj in kube_objects
        if obj.get("kind") == "ServiceAccount" and obj["metadata"].get("namespace") == namespace and obj["metadata"]["name"] in wanted
    }


def account_state(stack, account_id, namespace, kube_objects):
    """The normalised end state of one account (see the module docstring)."""
    iam = stack.account_client("iam", account_id)
    state = {
        "providers": _providers(iam),
        "roles": {role["name"]: _role(iam, role["name"]) for role in ROLE_TEMPLATES},
        "service_accounts": _service_accounts(kube_objects, namespace, account_id),
    }
    text = json.dumps(state, sort_keys=True).replace(host_name(account_id), "<host>").replace(account_id, "<account>")
    text = text.replace(f"system:serviceaccount:{namespace}:", "system:serviceaccount:<namespace>:")
    return json.loads(text)


def differences(left, right, where=""):
    """Paths where two JSON-like values differ (empty when equal)."""
    if isinstance(left, dict) and isinstance(right, dict):
        found = []
        for key in sorted(set(left) | set(right)):
            found.extend(differences(left.get(key), right.get(key), f"{where}/{key}"))
        return found
    return [] if left == right else [f"{where or '/'}: {json.dumps(left, sort_keys=True)} != {json.dumps(right, sort_keys=True)}"]


def compare(stack, ours, baseline):
    """Compare ``(account, namespace)`` pairs of ours and the baseline; ``{"equal": bool, "differences": [...]}``."""
    objects = stack.kube_objects()
    left = account_state(stack, ours[0], ours[1], objects)
    right = account_state(stack, baseline[0], baseline[1], objects)
    found = differences(left, right)
    return {"equal": not found, "differences": found, "ours": left, "baseline": right}

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: irsa_verify
short_description: Explain why a pod cannot get AWS credentials through IRSA, and how to fix it
version_added: 1.0.0
description:
  - Read-only. For each (role, ServiceAccount) of one AWS account, checks the whole chain a pod's
    C(sts:AssumeRoleWithWebIdentity) call depends on, and reports every problem as a finding with a stable code,
    a one-line explanation, the error the pod would see and a concrete fix.
  - The issuer (format, and that it is the cluster's current one); the IAM OIDC provider for it in the account and
    its client IDs; the role and its trust policy, evaluated with IAM's condition semantics for the pod's exact
    request (provider of the role's own account, C(sts:AssumeRoleWithWebIdentity), C(<issuer>:sub) and
    C(<issuer>:aud)), then diagnosed (condition keys with C(https://) or a trailing slash, wrong audience, subject
    of another namespace or service account, principal of another account or issuer...), including what it allows
    beyond that one service account, and its size; the ServiceAccount and its C(eks.amazonaws.com/*) annotations;
    and pods started before the annotation they carry (they keep their old credentials until restarted).
  - The Kubernetes objects are not read by the module; pass them from M(kubernetes.core.k8s_info). Without
    O(service_accounts) the ServiceAccount checks are skipped; without O(pods) the pod check is.
  - A (role, ServiceAccount) without problems gets one finding with code C(ok).
  - The codes are listed in the collection's README, section "Verify a setup".
  - In the hub topology (Torque's one-agent cross-account pattern) it also checks each spoke role of O(spokes) (it
    exists, its trust policy lets the hub role in, with the external ID, and nobody else of the hub's account, its
    session fits role chaining's hour) and, with O(hub), that the hub role may C(sts:AssumeRole) each spoke role.
options:
  issuer:
    description:
      - The OIDC issuer URL to verify, as M(torque.eks_irsa.eks_oidc_issuer) returns it (C(issuer_url)).
      - Required when O(checks) is not empty.
    type: str
  cluster_issuer:
    description:
      - The cluster's current issuer, when known. A different O(issuer) gives the finding C(issuer-not-cluster).
    type: str
  account_id:
    description:
      - The 12-digit ID of the account the credentials act in, where the roles and the provider live.
    type: str
    required: true
  audience:
    description:
      - The audience (C(aud) claim) of the pods' tokens.
    type: str
    default: sts.amazonaws.com
  checks:
    description:
      - The roles of the account and the ServiceAccount each one serves.
    type: list
    elements: dict
    default: []
    suboptions:
      role_name:
        description: Name of the IAM role.
        type: str
        required: true
      role_path:
        description: Path of the IAM role, used for the expected role ARN while the role does not exist.
        type: str
        default: /
      namespace:
        description: Namespace of the ServiceAccount.
        type: str
        required: true
      service_account:
        description: Name of the ServiceAccount the role should trust.
        type: str
        required: true
      audience:
        description:
          - The audience of this ServiceAccount's tokens (its C(eks.amazonaws.com/audience) annotation), when the role
            trusts another than O(audience).
        type: str
        version_added: 1.3.0
  spokes:
    description:
      - Spoke roles of the hub topology in the account, each trusting the hub role instead of a cluster.
    type: list
    elements: dict
    default: []
    version_added: 1.4.0
    suboptions:
      role_name:
        description: Name of the spoke role.
        type: str
        required: true
      role_path:
        description: Path of the spoke role.
        type: str
        default: /
      hub_role_arn:
        description: ARN of the hub role that must be able to assume it.
        type: str
        required: true
      external_id:
        description: The external ID the hub gives (C(sts:ExternalId)), when the spoke requires one.
        type: str
      namespace:
        description: Namespace of the hub's ServiceAccount, for the findings.
        type: str
      service_account:
        description: Name of the hub's ServiceAccount, whose pods deploy with the spoke role, for the findings.
        type: str
  hub:
    description:
      - The hub role of the hub topology, when it is in this account (its IRSA trust is checked through O(checks)).
      - Its inline and attached managed policies must allow C(sts:AssumeRole) on each of O(hub.spoke_arns).
    type: dict
    version_added: 1.4.0
    suboptions:
      role_name:
        description: Name of the hub role.
        type: str
        required: true
      spoke_arns:
        description: The ARNs of the spoke roles it must be able to assume.
        type: list
        elements: str
        required: true
      namespace:
        description: Namespace of the hub's ServiceAccount, for the findings.
        type: str
      service_account:
        description: Name of the hub's ServiceAccount, for the findings.
        type: str
  pod_identity:
    description:
      - The roles and ServiceAccounts of EKS Pod Identity (the rollout's mode C(pod_identity)), each checked for the chain
        a pod's credentials depend on there; findings C(pod-identity-agent-missing), C(association-missing),
        C(association-other-role), C(association-target-role), C(role-missing), C(pod-identity-trust-denied),
        C(service-account-missing), C(irsa-annotation-conflict), C(pods-use-irsa), C(pod-restart-needed) (running pods of
        the ServiceAccount without the agent's address, or still with an IRSA web identity; with O(pods)), or C(ok).
      - The cluster runs the Pod Identity Agent (the C(eks-pod-identity-agent) add-on; EKS Auto Mode has it built in); the
        ServiceAccount has an association naming the role, without a target role; the role's trust lets
        C(pods.eks.amazonaws.com) in for the request EKS makes (C(sts:AssumeRole), and C(sts:TagSession) unless the
        association disables session tags, with the cluster as C(aws:SourceArn) and the pod's session tags); and the
        ServiceAccount carries no IRSA role annotation, which the SDK would take first.
      - Each cluster is read once, in the task's region (C(eks:DescribeCluster), C(eks:DescribeAddon),
        C(eks:ListPodIdentityAssociations), C(eks:DescribePodIdentityAssociation)).
    type: list
    elements: dict
    default: []
    version_added: 1.6.0
    suboptions:
      role_name:
        description: Name of the role.
        type: str
        required: true
      role_path:
        description: Path of the role.
        type: str
        default: /
      cluster_name:
        description: Name of the EKS cluster.
        type: str
        required: true
      cluster_arn:
        description: ARN of the EKS cluster, which EKS sends as C(aws:SourceArn).
        type: str
        required: true
      namespace:
        description: Namespace of the ServiceAccount.
        type: str
        required: true
      service_account:
        description: Name of the ServiceAccount.
        type: str
        required: true
      irsa_too:
        description:
          - The role is reached through IRSA too (the rollout's mode C(irsa_and_pod_identity), a migration's first step),
            and its O(checks) entry verifies that. The ServiceAccount's IRSA annotation, which its pods then still use,
            is the warning C(pods-use-irsa) instead of the error C(irsa-annotation-conflict).
        type: bool
        default: false
  service_accounts:
    description:
      - The ServiceAccount objects of the namespace(s), as M(kubernetes.core.k8s_info) returns them in C(resources).
      - A ServiceAccount of O(checks) that is not in this list gives C(service-account-missing); V([]) means
        none exists (for example the namespace does not).
      - Left out, the ServiceAccount and pod checks are skipped.
    type: list
    elements: dict
  pods:
    description:
      - The Pod objects of the namespace(s), as M(kubernetes.core.k8s_info) returns them in C(resources).
      - Running pods of a checked ServiceAccount whose containers lack the C(AWS_ROLE_ARN) the annotation names give
        C(pod-restart-needed). Left out, pods are not checked.
    type: list
    elements: dict
  trust_policy_size_limit:
    description:
      - The account's trust policy size quota in characters (IAM's default is 2048, raisable to 4096).
      - Larger gives C(trust-policy-too-large), 90 % or more C(trust-policy-near-limit).
    type: int
    default: 2048
author:
  - Torque platform team (@torque)
notes:
  - >-
    IAM permissions used: C(iam:ListOpenIDConnectProviders) once, C(iam:GetOpenIDConnectProvider) only for the
    provider of O(issuer) when it exists, C(iam:GetRole) once per role. Nothing is written.
  - The module fails (instead of reporting findings about the wrong account) when the ARNs IAM returns are in another
    account than O(account_id).
  - Supports check mode; C(changed) is always V(false).
extends_documentation_fragment:
  - torque.eks_irsa.assume_role
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Read the namespace's ServiceAccounts
  kubernetes.core.k8s_info:
    kind: ServiceAccount
    namespace: torque-envs
  register: service_accounts

- name: Verify the role and ServiceAccount of one account
  torque.eks_irsa.irsa_verify:
    issuer: https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE
    account_id: "222222222222"
    checks:
      - role_name: torque-runner
        namespace: torque-envs
        service_account: torque-runner-dev
    service_accounts: "{{ service_accounts.resources }}"
  register: verified

- name: Stop when a pod could not get credentials
  ansible.builtin.assert:
    that: verified.error_count == 0
    fail_msg: "{{ verified.findings | selectattr('severity', 'equalto', 'error') | map(attribute='message') | list }}"
"""

RETURN = r"""
findings:
  description:
    - One entry per problem found, and one with code C(ok) for each (role, ServiceAccount) without problems, in the
      order of O(checks).
  returned: always
  type: list
  elements: dict
  contains:
    account_id:
      description: The account.
      type: str
      sample: "222222222222"
    role_name:
      description: The role.
      type: str
      sample: torque-runner
    role_arn:
      description: The role's ARN (as IAM returns it, or as it would be while the role does not exist).
      type: str
      sample: arn:aws:iam::222222222222:role/torque-runner
    namespace:
      description: The ServiceAccount's namespace.
      type: str
      sample: torque-envs
    service_account:
      description: The ServiceAccount.
      type: str
      sample: torque-runner-dev
    code:
      description: Stable code of the finding, for example C(provider-missing), C(trust-audience-mismatch) or C(ok).
      type: str
      sample: provider-missing
    severity:
      description: V(error) (the pod cannot get credentials, or gets the wrong ones), V(warning) or V(ok).
      type: str
      sample: error
    message:
      description: What is wrong, in one line.
      type: str
      sample: account 222222222222 has no IAM OIDC provider for oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE
    pod_error:
      description: The error the pod would see (C(InvalidIdentityToken), C(AccessDenied), ...), or V(null).
      type: str
      sample: InvalidIdentityToken
    fix:
      description: How to fix it, in one line.
      type: str
      sample: "create it: ansible-playbook torque.eks_irsa.rollout -i <inventory>, or aws iam create-open-id-connect-provider ..."
error_count:
  description: Number of findings with severity V(error).
  returned: always
  type: int
  sample: 1
warning_count:
  description:
    - Number of findings with severity V(warning).
    - Not called C(warnings), which Ansible reserves for a module's warning messages.
  returned: always
  type: int
  sample: 0
"""

from ansible_collections.amazon.aws.plugins.module_utils.iam import IAMErrorHandler
from ansible_collections.torque.eks_irsa.plugins.module_utils.clients import AWSModule
from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError
from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import reported
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import IssuerError
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import normalize_issuer
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import validate_account_id
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import validate_role_arn
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import DEFAULT_AUDIENCE
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import arn_account_id
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import get_provider
from ansible_collections.torque.eks_irsa.plugins.module_utils.pod_identity import agent_runs
from ansible_collections.torque.eks_irsa.plugins.module_utils.pod_identity import cluster_associations
from ansible_collections.torque.eks_irsa.plugins.module_utils.pod_identity import describe as describe_association
from ansible_collections.torque.eks_irsa.plugins.module_utils.retry import paginate
from ansible_collections.torque.eks_irsa.plugins.module_utils.role import get_role
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import DEFAULT_SIZE_LIMIT
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import validate_size_limit
from ansible_collections.torque.eks_irsa.plugins.module_utils.verify import NOT_READ
from ansible_collections.torque.eks_irsa.plugins.module_utils.verify import Spoke
from ansible_collections.torque.eks_irsa.plugins.module_utils.verify import make_check
from ansible_collections.torque.eks_irsa.plugins.module_utils.verify import make_context
from ansible_collections.torque.eks_irsa.plugins.module_utils.verify import provider_arn
from ansible_collections.torque.eks_irsa.plugins.module_utils.verify import same_provider
from ansible_collections.torque.eks_irsa.plugins.module_utils.verify import summarise
from ansible_collections.torque.eks_irsa.plugins.module_utils.verify import verify
from ansible_collections.torque.eks_irsa.plugins.module_utils.verify import verify_hub_permissions
from ansible_collections.torque.eks_irsa.plugins.module_utils.verify import verify_spoke
from ansible_collections.torque.eks_irsa.plugins.module_utils.verify_pod_identity import PodIdentityCheck
from ansible_collections.torque.eks_irsa.plugins.module_utils.verify_pod_identity import PodIdentityState
from ansible_collections.torque.eks_irsa.plugins.module_utils.verify_pod_identity import verify_pod_identity

ARGUMENT_SPEC = dict(
    issuer=dict(type="str"),
    cluster_issuer=dict(type="str"),
    account_id=dict(type="str", required=True),
    audience=dict(type="str", default=DEFAULT_AUDIENCE),
    checks=dict(type="list", elements="dict", default=[], options=dict(
        role_name=dict(type="str", required=True),
        role_path=dict(type="str", default="/"),
        namespace=dict(type="str", required=True),
        service_account=dict(type="str", required=True),
        audience=dict(type="str"),
    )),
    spokes=dict(type="list", elements="dict", default=[], options=dict(
        role_name=dict(type="str", required=True),
        role_path=dict(type="str", default="/"),
        hub_role_arn=dict(type="str", required=True),
        external_id=dict(type="str", no_log=False),  # not a secret (AWS says so)
        namespace=dict(type="str"),
        service_account=dict(type="str"),
    )),
    hub=dict(type="dict", options=dict(
        role_name=dict(type="str", required=True),
        spoke_arns=dict(type="list", elements="str", required=True),
        namespace=dict(type="str"),
        service_account=dict(type="str"),
    )),
    pod_identity=dict(type="list", elements="dict", default=[], options=dict(
        role_name=dict(type="str", required=True),
        role_path=dict(type="str", default="/"),
        cluster_name=dict(type="str", required=True),
        cluster_arn=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        service_account=dict(type="str", required=True),
        irsa_too=dict(type="bool", default=False),
    )),
    service_accounts=dict(type="list", elements="dict"),
    pods=dict(type="list", elements="dict"),
    trust_policy_size_limit=dict(type="int", default=DEFAULT_SIZE_LIMIT),
)
ARGUMENT_RULES = {}


@IAMErrorHandler.list_error_handler("list the OIDC providers (iam:ListOpenIDConnectProviders)", default_value=[])
def _list_provider_arns(client):
    return [p["Arn"] for p in client.list_open_id_connect_providers(aws_retry=True)["OpenIDConnectProviderList"]]


def read_providers(client, context_without_providers):
    """``{ARN: details}``: every provider of the account, with details (url, client_ids) only for the issuer's own.

    Other providers only matter by their ARN, which already names their issuer, so they cost no call.
    """
    arns = _list_provider_arns(client)
    try:
        wanted = provider_arn(context_without_providers, normalize_issuer(context_without_providers.issuer))
    except IssuerError:
        return dict.fromkeys(arns)
    providers = {}
    for arn in arns:
        details = None
        if same_provider(arn, wanted):
            found = get_provider(client, arn)
            if found is not None:  # deleted between the two calls: reported as missing
                details = {"url": found["url"], "client_ids": found["client_ids"]}
            else:
                continue
        providers[arn] = details
    return providers


def read_roles(client, names):
    """``{name: GetRole's Role or None}``, one GetRole per distinct name."""
    return {name: get_role(client, name) for name in dict.fromkeys(names)}


@IAMErrorHandler.list_error_handler("read the role's policies (iam:ListRolePolicies, iam:GetRolePolicy, "
                                    "iam:ListAttachedRolePolicies, iam:GetPolicy, iam:GetPolicyVersion)", default_value=None)
def read_policy_documents(client, name):
    """The documents of the role's inline and attached managed policies (their default versions); None when the role
    does not exist."""
    documents = []
    for policy_name in paginate(client, "list_role_policies", "PolicyNames", RoleName=name):
        documents.append(client.get_role_policy(aws_retry=True, RoleName=name, PolicyName=policy_name)["PolicyDocument"])
    for attached in paginate(client, "list_attached_role_policies", "AttachedPolicies", RoleName=name):
        version = client.get_policy(aws_retry=True, PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
        documents.append(client.get_policy_version(aws_retry=True, PolicyArn=attached["PolicyArn"],
                                                   VersionId=version)["PolicyVersion"]["Document"])
    return documents


def account_mismatch(account_id, providers, roles):
    """The first ARN IAM returned that is in another account than ``account_id`` (wrong credentials), or None."""
    arns = list(providers) + [role["Arn"] for role in roles.values() if role]
    return next((arn for arn in arns if arn_account_id(arn) != account_id), None)


def find_object(objects, namespace, name):
    """The object named ``namespace/name`` in a k8s_info ``resources`` list, or None; NOT_READ when no list was given."""
    if objects is None:
        return NOT_READ
    for obj in objects:
        metadata = obj.get("metadata") or {}
        if metadata.get("name") == name and metadata.get("namespace", namespace) == namespace:
            return obj
    return None


def pod_identity_findings(eks, account_id, partition, params, roles):
    """The findings of every O(pod_identity) check: each cluster read once (its agent, its associations)."""
    clusters, findings = {}, []
    for check in params["pod_identity"]:
        name = check["cluster_name"]
        if name not in clusters:
            clusters[name] = (agent_runs(eks, name), cluster_associations(eks, name))
        agent, listed = clusters[name]
        summary = listed.get((check["namespace"], check["service_account"]))
        association = describe_association(eks, name, summary["associationId"]) if summary else None
        state = PodIdentityState(agent, association, roles[check["role_name"]],
                                 find_object(params["service_accounts"], check["namespace"], check["service_account"]), params["pods"])
        findings.extend(verify_pod_identity(account_id, partition, PodIdentityCheck(**check), state))
    return findings


def checked_params(module):
    params = module.params
    account_id = validate_account_id(params["account_id"])
    validate_size_limit(params["trust_policy_size_limit"])
    if not (params["audience"] or "").strip():
        raise EksIrsaError("audience is empty: give the aud claim of the pods' tokens, sts.amazonaws.com for EKS")
    if params["checks"] and not params["issuer"]:
        raise EksIrsaError("issuer is required with checks: give the cluster's OIDC issuer URL the roles of checks should trust")
    for index, spoke in enumerate(params["spokes"]):
        validate_role_arn(spoke["hub_role_arn"], field=f"spokes[{index}].hub_role_arn")
    return account_id


def run(module):
    """The module's result for ``module.params``; a module process and the controller action both call it."""
    params = module.params
    account_id = checked_params(module)
    client = module.client("iam")
    partition = client.meta.partition
    base = make_context(params["issuer"], account_id, {}, params["audience"], params["cluster_issuer"], partition,
                        params["trust_policy_size_limit"])
    hub = params["hub"]
    providers = read_providers(client, base) if params["checks"] else {}
    roles = read_roles(client, [check["role_name"] for check in params["checks"]] + [spoke["role_name"] for spoke in params["spokes"]]
                       + [check["role_name"] for check in params["pod_identity"]])
    hub_policies = read_policy_documents(client, hub["role_name"]) if hub else None
    stranger = account_mismatch(account_id, providers, roles)
    if stranger:
        raise EksIrsaError(f"account_id {account_id} is not the account the credentials act in: IAM returned {stranger}. "
                           "Use credentials for that account (for example from amazon.aws.sts_assume_role), or fix account_id")

    context = base._replace(providers=providers)
    checks = [make_check(check["role_name"], check["namespace"], check["service_account"], role=roles[check["role_name"]],
                         role_path=check["role_path"],
                         service_account_object=find_object(params["service_accounts"], check["namespace"], check["service_account"]),
                         pods=params["pods"], audience=check.get("audience"))
              for check in params["checks"]]
    findings = verify(context, checks)
    if hub:
        findings.extend(verify_hub_permissions(account_id, hub["role_name"], (roles.get(hub["role_name"]) or {}).get("Arn"),
                                               hub["namespace"], hub["service_account"], hub_policies, hub["spoke_arns"]))
    for spoke in params["spokes"]:
        findings.extend(verify_spoke(account_id, partition, Spoke(spoke["role_name"], spoke["role_path"], spoke["hub_role_arn"],
                                                                  spoke["external_id"], spoke["namespace"], spoke["service_account"],
                                                                  roles[spoke["role_name"]])))
    if params["pod_identity"]:
        findings.extend(pod_identity_findings(module.client("eks"), account_id, partition, params, roles))
    errors, warnings = summarise(findings)
    return dict(changed=False, findings=findings, error_count=errors, warning_count=warnings)


def main():
    module = AWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, **ARGUMENT_RULES)
    module.exit_json(**reported(module, run))


if __name__ == "__main__":
    main()

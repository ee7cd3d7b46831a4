# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Why a pod cannot get credentials through EKS Pod Identity: pure diagnosis, no boto3 (``irsa_verify`` reads AWS).

A pod of a ServiceAccount gets a role through EKS Pod Identity when, in order: the cluster runs the Pod Identity Agent
(the ``eks-pod-identity-agent`` add-on; EKS Auto Mode has it built in); the ServiceAccount has an association naming the
role, without a target role; and the role's trust lets ``pods.eks.amazonaws.com`` in for the request EKS makes
(``sts:AssumeRole``, and ``sts:TagSession`` unless the association disables session tags; ``aws:SourceArn`` the cluster,
``aws:SourceAccount`` its account, the session tags). The ServiceAccount must also not carry IRSA's role annotation:
the SDK's default chain takes a web identity before the container provider, so such a pod gets the annotation's role.

:func:`verify_pod_identity` gives the findings of one (role, ServiceAccount), in the shape of :mod:`.verify`'s.
"""

from __future__ import annotations

from collections import namedtuple

from ansible_collections.torque.eks_irsa.plugins.module_utils.names import POD_IDENTITY_PRINCIPAL
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import ROLE_ARN_ANNOTATION
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import role_arn as role_arn_text
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import ALLOW
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import PolicyEvaluationError
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import evaluate_pod_identity
from ansible_collections.torque.eks_irsa.plugins.module_utils.verify import ERROR
from ansible_collections.torque.eks_irsa.plugins.module_utils.verify import NOT_READ
from ansible_collections.torque.eks_irsa.plugins.module_utils.verify import OK
from ansible_collections.torque.eks_irsa.plugins.module_utils.verify import ROLLOUT
from ansible_collections.torque.eks_irsa.plugins.module_utils.verify import WARNING
from ansible_collections.torque.eks_irsa.plugins.module_utils.verify import pod_uses
from ansible_collections.torque.eks_irsa.plugins.module_utils.verify import restart_command

AGENT_ADDON = "eks-pod-identity-agent"
# What the SDK of a pod reports when the agent refuses it (the agent's error, through the container provider).
REFUSED = "CredentialRetrievalError: the Pod Identity Agent's request is refused (AccessDeniedException from eks-auth)"
NO_CREDENTIALS = ("no Pod Identity credentials are injected: the AWS SDK falls back to the node's role (NoCredentialsError where "
                  "the node gives none)")

# irsa_too: the role is reached through IRSA as well (a migration's first step), so the annotation is expected.
PodIdentityCheck = namedtuple("PodIdentityCheck", ["role_name", "role_path", "cluster_name", "cluster_arn", "namespace",
                                                   "service_account", "irsa_too"], defaults=(False,))
# What irsa_verify read of the cluster: the agent (``True``: the add-on or Auto Mode), the association of the
# ServiceAccount as EKS describes it (or None), the role (GetRole's, or None), the ServiceAccount object (or NOT_READ),
# the namespace's pods (or None: not read).
PodIdentityState = namedtuple("PodIdentityState", ["agent", "association", "role", "service_account_object", "pods"],
                              defaults=(None,))
# What the EKS Pod Identity webhook gives a pod's containers, and what IRSA's gives (which the SDK would take first).
CONTAINER_CREDENTIALS = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
WEB_IDENTITY_ROLE = "AWS_ROLE_ARN"


def verify_pod_identity(account_id, partition, check, state):
    """The findings of one role and ServiceAccount in mode pod_identity; one ``ok`` finding when nothing is wrong."""
    arn = state.role["Arn"] if state.role else role_arn_text(partition, account_id, check.role_name, check.role_path)
    where = f"ServiceAccount {check.namespace}/{check.service_account} in cluster {check.cluster_name}"
    findings = []

    def finding(code, severity, pod_error, message, fix):
        findings.append(dict(account_id=account_id, role_name=check.role_name, role_arn=arn, namespace=check.namespace,
                             service_account=check.service_account, code=code, severity=severity, message=message,
                             pod_error=pod_error, fix=fix, mode="pod_identity"))

    if not state.agent:
        finding("pod-identity-agent-missing", ERROR, "CredentialRetrievalError: nothing answers at the Pod Identity Agent's address "
                "(169.254.170.23)", f"cluster {check.cluster_name} has no {AGENT_ADDON} add-on (and is not in EKS Auto Mode), so "
                "no node runs the Pod Identity Agent",
                f"aws eks create-addon --cluster-name {check.cluster_name} --addon-name {AGENT_ADDON}")
    association = state.association
    if association is None:
        finding("association-missing", ERROR, NO_CREDENTIALS, f"{where} has no EKS Pod Identity association",
                f"create it: {ROLLOUT}")
    elif association.get("roleArn") != arn:
        finding("association-other-role", ERROR, f"credentials of {association.get('roleArn')}, not of this role",
                f"the association of {where} names {association.get('roleArn')}, not {arn}",
                f"{ROLLOUT} (it updates the association), or delete the association of the other role first")
    elif association.get("targetRoleArn"):
        finding("association-target-role", ERROR, f"credentials of the target role {association['targetRoleArn']}, not of this role",
                f"the association of {where} chains to the target role {association['targetRoleArn']}",
                f"{ROLLOUT} (it removes the target role)")
    if state.role is None:
        finding("role-missing", ERROR, REFUSED, f"role {arn} does not exist", f"create it: {ROLLOUT}")
    else:
        session_tags = not (association or {}).get("disableSessionTags")
        try:
            decision = evaluate_pod_identity(state.role.get("AssumeRolePolicyDocument"), check.cluster_arn, check.namespace,
                                             check.service_account, session_tags)
        except PolicyEvaluationError as e:
            decision = f"cannot be evaluated: {e}"
        if decision != ALLOW:
            actions = "sts:AssumeRole and sts:TagSession" if session_tags else "sts:AssumeRole"
            finding("pod-identity-trust-denied", ERROR, REFUSED,
                    f"the trust policy of {arn} does not let {POD_IDENTITY_PRINCIPAL} in for {check.namespace}/{check.service_account} "
                    f"of cluster {check.cluster_arn} ({actions}, with the cluster as aws:SourceArn"
                    f"{' and its session tags' if session_tags else ''}): {decision}",
                    f"let {ROLLOUT} rewrite it")
    obj = state.service_account_object
    if obj is not NOT_READ:
        if obj is None:
            finding("service-account-missing", ERROR, f'pods cannot start: serviceaccount "{check.service_account}" not found',
                    f"{where} does not exist", f"create it: {ROLLOUT}")
        else:
            annotated = ((obj.get("metadata") or {}).get("annotations") or {}).get(ROLE_ARN_ANNOTATION)
            if annotated and check.irsa_too:
                finding("pods-use-irsa", WARNING, f"credentials of {annotated} through IRSA: the annotation wins over the association",
                        f"{where} keeps its IRSA annotation while the role is reached both ways (mode irsa_and_pod_identity), so its "
                        "pods use IRSA, not the association",
                        "to move them: set the role's mode to pod_identity and run the rollout (it removes the annotation, the IRSA "
                        "trust and, where nothing else trusts it, the OIDC provider), then restart the pods")
            elif annotated:
                finding("irsa-annotation-conflict", ERROR, f"credentials of {annotated} through IRSA (or its error): the SDK takes "
                        "the web identity first and never asks the Pod Identity Agent",
                        f"{where} still has the IRSA annotation {ROLE_ARN_ANNOTATION}={annotated}",
                        f"kubectl -n {check.namespace} annotate serviceaccount {check.service_account} {ROLE_ARN_ANNOTATION}- "
                        f"(the rollout removes it only where it set it), then restart the pods")
    stale = _stale_pods(check, state.pods) if association is not None and not check.irsa_too else []
    if stale:
        names = [pod["metadata"]["name"] for pod in stale]
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        restarts = sorted({restart_command(pod, check.namespace) for pod in stale})
        finding("pod-restart-needed", WARNING, "their old credentials (an IRSA web identity, or none) until they restart",
                f"{len(names)} running pod(s) of {where} started without Pod Identity's {CONTAINER_CREDENTIALS}, or still with "
                f"IRSA's {WEB_IDENTITY_ROLE}, which the SDK takes first: {shown}", f"restart them: {'; '.join(restarts[:3])}")
    if not findings:
        finding("ok", OK, None, f"pods of {where} get {arn} through EKS Pod Identity", "nothing to do")
    return findings


def _stale_pods(check, pods):
    """The running pods of the ServiceAccount a container of which lacks the agent's address or still has a web identity."""
    def stale(pod):
        for container in (pod.get("spec") or {}).get("containers") or []:
            names = {env.get("name") for env in container.get("env") or []}
            if CONTAINER_CREDENTIALS not in names or WEB_IDENTITY_ROLE in names:
                return True
        return False
    return [pod for pod in pods or [] if pod_uses(pod, check.namespace, check.service_account) and stale(pod)]

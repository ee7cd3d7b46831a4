# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""EKS Pod Identity associations: the checks EKS would make, decided before any call, and the one converge.

An association is found by (cluster, namespace, ServiceAccount), which EKS keeps unique, with one
``ListPodIdentityAssociations`` filtered on both and one ``DescribePodIdentityAssociation`` (the list's summaries lack
the role, the target role, the session policy and the tags). What the task does not give is not managed. What changes is
decided from that read, so check mode is exact; a new association's ``associationId``, ``associationArn`` and, with a
target role, ``externalId`` are made by EKS and known only once it exists.
"""

from __future__ import annotations

import fnmatch
import json
import re

try:
    import botocore.exceptions
except ImportError:
    pass  # AnsibleAWSModule reports the missing library

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags
from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import IssuerError
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import validate_role_arn
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import POD_IDENTITY_PRINCIPAL
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import arn_account_id
from ansible_collections.torque.eks_irsa.plugins.module_utils.ownership import is_owned
from ansible_collections.torque.eks_irsa.plugins.module_utils.ownership import not_owned
from ansible_collections.torque.eks_irsa.plugins.module_utils.ownership import with_owner_tag
from ansible_collections.torque.eks_irsa.plugins.module_utils.retry import paginate
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import PolicyEvaluationError
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import as_list
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import decode_policy
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import statements

SESSION_POLICY_LIMIT = 2048  # characters: STS's limit for a session policy, which EKS passes on
_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # DNS-1123 label: a namespace
_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")  # a ServiceAccount name
# The options of one association: the module's, and each entry of irsa_account's associations.
ASSOCIATION_ARGUMENT_SPEC = dict(
    cluster_name=dict(type="str", required=True),
    namespace=dict(type="str", required=True),
    service_account=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    role_arn=dict(type="str"),
    target_role_arn=dict(type="str"),
    disable_session_tags=dict(type="bool"),
    policy=dict(type="json"),
    force=dict(type="bool", default=False),
    tags=dict(type="dict", aliases=["resource_tags"]),
    purge_tags=dict(type="bool", default=True),
)
ASSOCIATION_LIMIT = 1000  # per cluster, fixed by EKS
# What EKS makes for a new association: unknown in check mode until it exists.
MADE_BY_EKS = ("association_id", "association_arn", "external_id", "created_at", "modified_at")


def checked_options(params):
    """The task's options as EKS would take them, or :class:`EksIrsaError` naming the option and the fix, before any call."""
    namespace, service_account = params["namespace"], params["service_account"]
    if len(namespace) > 63 or not _LABEL_RE.match(namespace):
        raise EksIrsaError(f"namespace {namespace!r} is not a Kubernetes namespace name: lower-case letters, digits and '-', at most "
                           "63 characters, starting and ending with a letter or digit")
    if len(service_account) > 253 or not _SUBDOMAIN_RE.match(service_account):
        raise EksIrsaError(f"service_account {service_account!r} is not a Kubernetes ServiceAccount name: lower-case letters, digits, "
                           "'-' and '.', at most 253 characters")
    try:
        for option in ("role_arn", "target_role_arn"):
            if params.get(option):  # target_role_arn "" removes the target role
                validate_role_arn(params[option], field=option)
    except IssuerError as e:
        raise EksIrsaError(str(e)) from e
    policy = params.get("policy")
    if policy:
        try:
            document = json.loads(policy)
        except ValueError as e:
            raise EksIrsaError(f"policy is not JSON: {e}: give the session policy as a mapping or as JSON text") from e
        if not isinstance(document, dict):
            raise EksIrsaError("policy must be a policy document (a mapping with Version and Statement)")
        if len(policy) > SESSION_POLICY_LIMIT:
            raise EksIrsaError(f"policy has {len(policy)} characters, over the {SESSION_POLICY_LIMIT} STS allows for a session "
                               "policy: shorten it, or put the permissions on the role")
        if params.get("disable_session_tags") is not True:
            raise EksIrsaError("policy needs disable_session_tags: true (EKS refuses a session policy with session tags): set it")
    return params


def trusts_pod_identity(document, session_tags=True):
    """Whether a trust policy has an Allow statement for ``pods.eks.amazonaws.com`` with ``sts:AssumeRole`` (and
    ``sts:TagSession``, which EKS needs to send session tags): what EKS checks when an association names the role. Its
    conditions are judged by STS, when a pod asks."""
    wanted = ["sts:assumerole"] + (["sts:tagsession"] if session_tags else [])
    found = set()
    try:
        document = decode_policy(document, "the role's trust policy")
    except PolicyEvaluationError:
        return False
    for statement in statements(document or {}):
        principal = statement.get("Principal") if isinstance(statement, dict) else None
        services = [s.lower() for s in as_list(principal.get("Service", []))] if isinstance(principal, dict) else []
        if statement.get("Effect") != "Allow" or (principal != "*" and POD_IDENTITY_PRINCIPAL not in services):
            continue
        actions = [a.lower() for a in as_list(statement.get("Action", [])) if isinstance(a, str)]
        found.update(action for action in wanted if any(fnmatch.fnmatchcase(action, pattern) for pattern in actions))
    return all(action in found for action in wanted)


def cluster_account(client, cluster, missing_ok=False):
    """The account of EKS cluster ``cluster`` (one ``DescribeCluster``), or :class:`EksIrsaError` when it is not there (None
    with ``missing_ok``: a deleted cluster took its associations with it)."""
    try:
        arn = client.describe_cluster(aws_retry=True, name=cluster)["cluster"]["arn"]
    except is_boto3_error_code("ResourceNotFoundException") as e:
        if missing_ok:
            return None
        raise EksIrsaError(f"cluster_name: EKS cluster {cluster!r} was not found in this region and account: check cluster_name and "
                           "region", exception=e) from e
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:  # pylint: disable=duplicate-except
        raise EksIrsaError(f"could not read EKS cluster {cluster}", exception=e) from e
    return arn_account_id(arn)


def check_role(iam, params, account):
    """What EKS refuses about O(role_arn), decided before any write: a role of another account than the cluster's, a role
    that does not exist, a trust that does not let ``pods.eks.amazonaws.com`` in."""
    role_arn = params["role_arn"]
    if arn_account_id(role_arn) != account:
        raise EksIrsaError(f"role_arn {role_arn} is a role of account {arn_account_id(role_arn)}, but cluster {params['cluster_name']} "
                           f"is in account {account}: EKS takes only a role of the cluster's account; give that role, and this one "
                           "as target_role_arn")
    name = role_arn.rsplit("/", 1)[-1]
    try:
        role = iam.get_role(aws_retry=True, RoleName=name)["Role"]
    except is_boto3_error_code("NoSuchEntity") as e:
        raise EksIrsaError(f"role_arn {role_arn} does not exist: create it (trusting {POD_IDENTITY_PRINCIPAL}) first", exception=e) from e
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:  # pylint: disable=duplicate-except
        raise EksIrsaError(f"could not read role {role_arn}", exception=e) from e
    session_tags = params.get("disable_session_tags") is not True
    if role.get("Arn") != role_arn or not trusts_pod_identity(role.get("AssumeRolePolicyDocument"), session_tags):
        actions = '["sts:AssumeRole", "sts:TagSession"]' if session_tags else '"sts:AssumeRole"'
        raise EksIrsaError(f"role_arn {role_arn}: its trust policy does not let EKS Pod Identity in, so EKS refuses it: add a statement "
                           f'{{"Effect": "Allow", "Principal": {{"Service": "{POD_IDENTITY_PRINCIPAL}"}}, "Action": {actions}}}')


def find(client, cluster, namespace, service_account):
    """The association of ``namespace/service_account`` in ``cluster`` as EKS describes it, or None."""
    try:
        summaries = client.list_pod_identity_associations(aws_retry=True, clusterName=cluster, namespace=namespace,
                                                          serviceAccount=service_account)["associations"]
    except is_boto3_error_code("ResourceNotFoundException") as e:
        raise EksIrsaError(f"cluster_name: EKS cluster {cluster!r} was not found in this region and account: check cluster_name and "
                           "region", exception=e) from e
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:  # pylint: disable=duplicate-except
        raise EksIrsaError(f"could not list the pod identity associations of cluster {cluster}", exception=e) from e
    matching = [s for s in summaries if (s.get("namespace"), s.get("serviceAccount")) == (namespace, service_account)]
    return describe(client, cluster, matching[0]["associationId"]) if matching else None


def agent_runs(client, cluster):
    """Whether the cluster runs the Pod Identity Agent: EKS Auto Mode has it built in, else the ``eks-pod-identity-agent``
    add-on (one ``DescribeCluster``, one ``DescribeAddon``)."""
    try:
        described = client.describe_cluster(aws_retry=True, name=cluster)["cluster"]
        if (described.get("computeConfig") or {}).get("enabled"):
            return True
        client.describe_addon(aws_retry=True, clusterName=cluster, addonName="eks-pod-identity-agent")
    except is_boto3_error_code("ResourceNotFoundException"):
        return False
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:  # pylint: disable=duplicate-except
        raise EksIrsaError(f"could not read EKS cluster {cluster} and its add-on eks-pod-identity-agent", exception=e) from e
    return True


def cluster_associations(client, cluster):
    """``{(namespace, ServiceAccount): summary}`` of every association of ``cluster``: one listing, each page retried alone."""
    try:
        summaries = paginate(client, "list_pod_identity_associations", "associations", clusterName=cluster)
    except is_boto3_error_code("ResourceNotFoundException") as e:
        raise EksIrsaError(f"EKS cluster {cluster!r} was not found in this region and account: check the cluster's name and "
                           "region", exception=e) from e
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:  # pylint: disable=duplicate-except
        raise EksIrsaError(f"could not list the pod identity associations of cluster {cluster}", exception=e) from e
    return {(summary.get("namespace"), summary.get("serviceAccount")): summary for summary in summaries}


def describe(client, cluster, association_id):
    """The association ``association_id`` of ``cluster`` as EKS describes it (its role, target, policy and tags)."""
    try:
        return client.describe_pod_identity_association(aws_retry=True, clusterName=cluster, associationId=association_id)["association"]
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        raise EksIrsaError(f"could not read pod identity association {association_id} of cluster {cluster}", exception=e) from e


def _same_policy(left, right):
    if not left or not right:
        return not left and not right
    try:
        return json.loads(left) == json.loads(right)
    except ValueError:
        return left == right


def changes(existing, params):
    """The members of ``UpdatePodIdentityAssociation`` that bring ``existing`` to what ``params`` ask (empty: nothing)."""
    update = {}
    if params.get("role_arn") is not None and params["role_arn"] != existing.get("roleArn"):
        update["roleArn"] = params["role_arn"]
    target = params.get("target_role_arn")
    if target is not None and (target or None) != existing.get("targetRoleArn"):
        update["targetRoleArn"] = target
    disable = params.get("disable_session_tags")
    if disable is not None and disable != bool(existing.get("disableSessionTags")):
        update["disableSessionTags"] = disable
    policy = params.get("policy")
    if policy is not None and not _same_policy(policy, existing.get("policy")):
        update["policy"] = policy
    return update


def view(association):
    """What the module returns: EKS's association, snake_case, tags as they are, and None for what it did not say."""
    return {
        "cluster_name": association.get("clusterName"), "namespace": association.get("namespace"),
        "service_account": association.get("serviceAccount"), "role_arn": association.get("roleArn"),
        "target_role_arn": association.get("targetRoleArn"), "external_id": association.get("externalId"),
        "disable_session_tags": bool(association.get("disableSessionTags")), "policy": association.get("policy"),
        "association_id": association.get("associationId"), "association_arn": association.get("associationArn"),
        "owner_arn": association.get("ownerArn"), "tags": dict(association.get("tags") or {}),
        "created_at": _iso(association.get("createdAt")), "modified_at": _iso(association.get("modifiedAt")),
    }


def _iso(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


def _predicted(existing, params, update, tags):
    """The association after the run, as EKS will hold it; for a new one without what only EKS makes."""
    merged = dict(existing or {"clusterName": params["cluster_name"], "namespace": params["namespace"],
                               "serviceAccount": params["service_account"], "disableSessionTags": False})
    for member, value in update.items():
        if member == "targetRoleArn" and not value:
            merged.pop("targetRoleArn", None)
            merged.pop("externalId", None)
        else:
            merged[member] = value
    merged["tags"] = tags
    return view(merged)


def converge(module, client, iam, params):
    """Create, update, re-tag or delete the association; the module's result. ``iam`` reads the role (when O(role_arn) is
    given) in the cluster's account."""
    cluster = params["cluster_name"]
    account = cluster_account(client, cluster)
    if params["state"] == "present" and params.get("role_arn"):
        check_role(iam, params, account)
    existing = find(client, cluster, params["namespace"], params["service_account"])
    return Plan(params, existing).apply(client, module.check_mode)


class Plan:
    """One association's change, decided from its read (``existing``, as EKS describes it, or None): ``status``, the
    views ``before`` and ``after``, what only EKS makes (``learnt_later``), and the writes :meth:`apply` makes."""

    def __init__(self, params, existing):
        self.params, self.existing = params, existing
        self.where = f"pod identity association of {params['namespace']}/{params['service_account']} in cluster {params['cluster_name']}"
        self.before = view(existing) if existing else None
        self.update, self.to_set, self.to_unset, self.learnt_later = {}, {}, [], []
        self.status = self.request = self.tags = None
        if params["state"] == "absent":
            self._plan_absent()
        elif existing is None:
            self._plan_create()
        else:
            self._plan_update()

    def _plan_absent(self):
        self.after = None
        self.status = "ok" if self.existing is None else "deleted"
        if self.existing is not None and not self.params.get("force") and not is_owned(self.existing.get("tags")):
            raise EksIrsaError(f"not deleting it: {not_owned('the', self.where)}. Set force: true to delete it anyway",
                               association=self.before)

    def _plan_create(self):
        params = self.params
        if not params.get("role_arn"):
            raise EksIrsaError(f"role_arn is required to create the {self.where}: give the ARN of a role in the cluster's account that "
                               "trusts pods.eks.amazonaws.com")
        tags = with_owner_tag(params.get("tags"))
        self.request = {"clusterName": params["cluster_name"], "namespace": params["namespace"],
                        "serviceAccount": params["service_account"], "roleArn": params["role_arn"], "tags": tags}
        for option, member in (("target_role_arn", "targetRoleArn"), ("disable_session_tags", "disableSessionTags"), ("policy", "policy")):
            if params.get(option) not in (None, ""):
                self.request[member] = params[option]
        update = {member: value for member, value in self.request.items()
                  if member in ("roleArn", "targetRoleArn", "disableSessionTags", "policy")}
        self.after = _predicted(None, params, update, tags)
        self.learnt_later = [key for key in MADE_BY_EKS if key != "external_id" or self.request.get("targetRoleArn")]
        self.status = "created"

    def _plan_update(self):
        params, existing = self.params, self.existing
        self.update = changes(existing, params)
        current_tags = dict(existing.get("tags") or {})
        wanted_tags = current_tags if params.get("tags") is None else params["tags"]
        if params.get("tags") is not None and is_owned(current_tags):
            wanted_tags = with_owner_tag(wanted_tags)
        self.to_set, self.to_unset = compare_aws_tags(current_tags, wanted_tags, purge_tags=params.get("purge_tags", True))
        self.tags = {k: v for k, v in current_tags.items() if k not in self.to_unset}
        self.tags.update(self.to_set)
        self.after = _predicted(existing, params, self.update, self.tags)
        self.status = "updated" if self.changed else "ok"

    @property
    def changed(self):
        return self.status in ("created", "deleted") or bool(self.update or self.to_set or self.to_unset)

    def predicted(self):
        """The result as check mode gives it."""
        return _result(self.changed, self.status, self.before, self.after, self.learnt_later)

    def apply(self, client, check_mode):
        """Make the writes (none in check mode); the result."""
        if check_mode or not self.changed:
            return self.predicted()
        cluster = self.params["cluster_name"]
        try:
            if self.status == "created":
                try:
                    made = view(client.create_pod_identity_association(aws_retry=True, **self.request)["association"])
                except is_boto3_error_code("ResourceInUseException") as e:
                    raise EksIrsaError(f"the {self.where} was created by someone else meanwhile: run again to converge it", exception=e) from e
                return _result(True, "created", None, made, [])
            if self.status == "deleted":
                try:
                    client.delete_pod_identity_association(aws_retry=True, clusterName=cluster, associationId=self.existing["associationId"])
                except is_boto3_error_code("ResourceNotFoundException"):
                    pass  # deleted meanwhile: what was asked
                return self.predicted()
            after = self.after
            if self.update:
                answer = client.update_pod_identity_association(aws_retry=True, clusterName=cluster,
                                                                associationId=self.existing["associationId"], **self.update)["association"]
                after = dict(view(answer), tags=self.tags)
            if self.to_unset:
                client.untag_resource(aws_retry=True, resourceArn=self.existing["associationArn"], tagKeys=list(self.to_unset))
            if self.to_set:
                client.tag_resource(aws_retry=True, resourceArn=self.existing["associationArn"], tags=self.to_set)
        except EksIrsaError:
            raise
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            verb = {"created": "create", "deleted": "delete"}.get(self.status, "update")
            raise EksIrsaError(f"could not {verb} the {self.where}", exception=e) from e
        return _result(True, "updated", self.before, after, [])


def _result(changed, status, before, after, learnt_later):
    result = {"changed": changed, "status": status, "association": after if after is not None else before or {},
              "learnt_later": learnt_later}
    header = "pod identity association"
    if learnt_later:
        header += f" ({', '.join(learnt_later)}: made by EKS when it creates the association, not known before)"
    result["diff"] = {"before": before or {}, "after": after or {}, "before_header": "pod identity association", "after_header": header}
    return result

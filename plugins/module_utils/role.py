# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The thin boto3 layer for ``iam_web_identity_role``: read, converge and delete one IAM role.

:class:`RoleConverger` has the shape of every converger here (:mod:`.converger`): each step compares what
the role holds with what was asked before it calls AWS, so check mode is exact and a converged role gets
no mutating call.

Facets the caller leaves as ``None`` in :class:`RoleSpec` are not managed: they are neither read
for comparison nor changed.
"""

from __future__ import annotations

import copy
import functools
import json
from collections import namedtuple

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_message
from ansible_collections.amazon.aws.plugins.module_utils.exceptions import is_ansible_aws_error_code
from ansible_collections.amazon.aws.plugins.module_utils.iam import get_aws_account_info
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.torque.eks_irsa.plugins.module_utils.converger import Converger
from ansible_collections.torque.eks_irsa.plugins.module_utils.converger import IAMCalls
from ansible_collections.torque.eks_irsa.plugins.module_utils.converger import Raced
from ansible_collections.torque.eks_irsa.plugins.module_utils.converger import Refusal
from ansible_collections.torque.eks_irsa.plugins.module_utils.converger import converged
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import LimitError
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import check_inline_policies_size
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import check_managed_policy_count
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import arn_account_id
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import role_arn
from ansible_collections.torque.eks_irsa.plugins.module_utils.ownership import is_owned
from ansible_collections.torque.eks_irsa.plugins.module_utils.ownership import not_owned
from ansible_collections.torque.eks_irsa.plugins.module_utils.ownership import with_owner_tag
from ansible_collections.torque.eks_irsa.plugins.module_utils.regions import partition_of
from ansible_collections.torque.eks_irsa.plugins.module_utils.retry import Retry
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import decode_policy
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_evaluation import statements
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import TrustPolicyError
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import desired_trust
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import policies_differ

DEFAULT_MAX_SESSION_DURATION = 3600  # what IAM gives a role created without MaxSessionDuration


def _names_a_policy(error):
    """A NoSuchEntity that names a policy ARN is about the policy (AttachRolePolicy, PutRolePermissionsBoundary), not the role."""
    return isinstance(error, is_boto3_error_message(":policy/", error))


# IAM is eventually consistent: for a while after CreateRole, calls on the new role may still
# answer NoSuchEntity. Those are retried, but only for a role this run has just created, and only about the role.
AFTER_CREATE_RETRY = Retry(extra_codes=["NoSuchEntity"], unless=_names_a_policy)

RoleSpec = namedtuple("RoleSpec", [
    "name",
    "path",
    "account_id",
    "partition",
    "trust",  # a trust_policy.DesiredTrust: builds the document from the role's current one
    "description",
    "max_session_duration",
    "permissions_boundary",  # "" removes the boundary
    "managed_policies",
    "purge_managed_policies",
    "managed_policy_quota",  # how many managed policies the account lets a role have
    "inline_policies",  # name -> policy document (dict)
    "purge_inline_policies",
    "tags",
    "purge_tags",
    "adopt",  # take over an existing role without the ownership tag
])


def role_spec(options, account_id, partition):
    """The :class:`RoleSpec` for the module's checked options (``trust_policy.check_role_options``) and the role's account."""
    same_names = {field: options.get(field) for field in RoleSpec._fields if field not in ("account_id", "partition", "trust")}
    return RoleSpec(**dict(same_names, account_id=account_id, partition=partition, trust=desired_trust(options, partition, account_id)))


def role_account(module, account_id=None):
    """``(account_id, partition)`` the role lives in: the caller's (one sts:GetCallerIdentity) unless given."""
    if account_id is None:
        return get_aws_account_info(module)
    return account_id, partition_of(module.region or "us-east-1")


def compact_json(document):
    return json.dumps(document, separators=(",", ":"))


def role_calls(client, name):
    """The IAM calls on the role ``name`` (see :class:`~.converger.IAMCalls`)."""
    return IAMCalls(client, f"role {name}", AFTER_CREATE_RETRY, RoleName=name)


def get_role(client, name):
    """GetRole's ``Role`` structure, or None when the role does not exist."""
    response = role_calls(client, name).read("get role", "get_role")
    return None if response is None else response["Role"]


def read_role(calls, with_inline_documents=False):
    """A snapshot of the role (plain values, policies decoded), or None when it does not exist.

    Inline policy documents cost one call each, so they are fetched only when they are compared.
    """
    response = calls.read("get role", "get_role")
    if response is None:
        return None
    role = response["Role"]
    inline_names = sorted(calls.paginate("list inline policies", "list_role_policies", "PolicyNames"))
    attached = calls.paginate("list attached policies", "list_attached_role_policies", "AttachedPolicies")
    inline = {name: None for name in inline_names}
    if with_inline_documents:
        inline = {name: decode_policy(calls.call("get inline policy", "get_role_policy", PolicyName=name)["PolicyDocument"])
                  for name in inline_names}
    return dict(
        name=role["RoleName"],
        arn=role["Arn"],
        role_id=role["RoleId"],
        path=role["Path"],
        create_date=_iso_date(role.get("CreateDate")),
        description=role.get("Description", ""),
        trust_policy=decode_policy(role.get("AssumeRolePolicyDocument")),
        max_session_duration=role.get("MaxSessionDuration", DEFAULT_MAX_SESSION_DURATION),
        permissions_boundary=(role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn", ""),
        managed_policies=sorted(policy["PolicyArn"] for policy in attached),
        inline_policies=inline,
        tags=boto3_tag_list_to_ansible_dict(role.get("Tags") or []),
    )


def _iso_date(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


class RoleConverger(Converger):
    """Brings the role ``name`` to a :class:`RoleSpec`, or deletes it."""

    def __init__(self, client, name, check_mode):
        super().__init__(check_mode)
        self.name = name
        self.calls = role_calls(client, name)

    # -- the whole role -------------------------------------------------------------------

    def plan_present(self, spec):
        """Plan the role's creation, or bringing the existing one to ``spec``; the predicted :class:`Outcome`."""
        self._planning(functools.partial(self.plan_present, spec))
        before = read_role(self.calls, with_inline_documents=spec.inline_policies is not None)
        if before is None:
            role = new_role(spec, trust_document(spec))
            self._creating({facet: role[facet] for facet in ("path", "description", "trust_policy", "max_session_duration",
                                                             "permissions_boundary", "tags")},
                           functools.partial(self._create, role, spec))
        else:
            role = copy.deepcopy(before)
            # Ownership first: the path refusal suggests deleting the role, which is no advice for someone else's role.
            self._check_ownership(role, spec)
            self._check_identity(role, spec)
        self._check_policies_exist(before, spec)
        self._converge(role, spec)
        return self._planned(before, role)

    def plan_absent(self, force=False, shared_trust=None):
        """Plan deleting the role and what blocks deletion. A role without the ownership tag is only deleted with ``force``.

        With ``shared_trust`` (a :class:`DesiredTrust` of ``trust_policy_mode=shared``) only its statements go: the role
        itself is deleted only when no other writer's statement is left in its trust policy.
        """
        self._planning(functools.partial(self.plan_absent, force, shared_trust))
        role = read_role(self.calls)
        if role is None:
            return self._planned(None, None)
        if shared_trust is not None:
            left, _removed = shared_trust.without_ours(role["trust_policy"])
            if statements(left):
                after = copy.deepcopy(role)
                self._set_trust_policy(after, left)
                return self._planned(role, after)
        if not (force or is_owned(role["tags"])):
            raise Refusal(not_owned("role", self.name) + ", so the module does not delete it; set force=true to delete it anyway")
        self._deleting(role_result(role), functools.partial(self._delete, role))
        return self._planned(role, None)

    def _applied(self):
        return read_role(self.calls)

    def _delete(self, role):
        # IAM refuses to delete a role that still has policies or instance profiles.
        for arn in role["managed_policies"]:
            self.calls.call_if_present(f"detach managed policy {arn}", "detach_role_policy", PolicyArn=arn)
        for policy_name in role["inline_policies"]:
            self.calls.call_if_present(f"delete inline policy {policy_name}", "delete_role_policy", PolicyName=policy_name)
        for profile in self.calls.paginate("list instance profiles", "list_instance_profiles_for_role", "InstanceProfiles"):
            self.calls.call_if_present(f"remove from instance profile {profile['InstanceProfileName']}",
                                       "remove_role_from_instance_profile", InstanceProfileName=profile["InstanceProfileName"])
        self.calls.call_if_present("delete role", "delete_role")

    def _check_policies_exist(self, before, spec):
        """Refuse, with reads, a managed policy or permissions boundary to be attached that does not exist.

        IAM would refuse it only after the role and its trust were written. What the role (``before``, None when it
        does not exist) already has is known to exist.
        """
        attached = before["managed_policies"] if before else []
        boundary = before["permissions_boundary"] if before else ""
        wanted = [(f"managed_policies[{index}]", arn) for index, arn in enumerate(spec.managed_policies or []) if arn not in attached]
        if spec.permissions_boundary and spec.permissions_boundary != boundary:
            wanted.append(("permissions_boundary", spec.permissions_boundary))
        for field, arn in wanted:
            if self.calls.lookup(f"get managed policy {arn} (iam:GetPolicy)", "get_policy", PolicyArn=arn) is None:
                raise Refusal(f"{field}: the managed policy {arn} does not exist (iam:GetPolicy found none in the account's "
                              "partition): check its name and path, or create it first; nothing was written for this role")

    def _check_identity(self, role, spec):
        """Refuse what IAM cannot do in place, before any change."""
        arn_account = arn_account_id(role["arn"])
        if arn_account != spec.account_id:
            raise Refusal(f"role {self.name} is in account {arn_account}, but account_id is {spec.account_id}: the trust policy "
                          "must name the OIDC provider of the role's own account; fix account_id or the credentials")
        if role["path"] != spec.path:
            raise Refusal(f"role {self.name} has path {role['path']!r}, not {spec.path!r}: IAM cannot move a role to another "
                          "path. Set path to the current one, or delete the role (state=absent) and run again to recreate it "
                          "with the new path")

    def _check_ownership(self, role, spec):
        """An existing role that is not ours is only changed when the user asked to adopt it."""
        if self.created or is_owned(role["tags"]) or spec.adopt:
            return
        raise Refusal(not_owned("role", self.name) + (
            ", so the module changes nothing on it. To manage it from now on (trust policy, policies, tags), set adopt=true; "
            "or choose another role name"))

    def _converge(self, role, spec):
        """Apply every managed facet; ``role`` is updated in place to the state each step leaves."""
        self._set_trust_policy(role, trust_document(spec, role["trust_policy"]))
        self._set_settings(role, spec.description, spec.max_session_duration)
        self._set_permissions_boundary(role, spec.permissions_boundary)
        self._set_managed_policies(role, spec.managed_policies, spec.purge_managed_policies, spec.managed_policy_quota)
        self._set_inline_policies(role, spec.inline_policies, spec.purge_inline_policies)
        # Our roles always keep the ownership tag, also when the user does not manage tags.
        if spec.tags is None:
            self._set_tags(role, with_owner_tag({}), False, "tag_role", "untag_role")
        else:
            self._set_tags(role, with_owner_tag(spec.tags), spec.purge_tags, "tag_role", "untag_role")

    def _create(self, role, spec):
        """CreateRole with everything it accepts; the rest converges afterwards."""
        try:
            created = self.calls.call("create role", "create_role", **create_params(role, spec))["Role"]
        except is_ansible_aws_error_code("EntityAlreadyExists"):
            raise Raced() from None  # converge what the other run made, which IAM may not show yet
        self.calls.created()
        role.update(arn=created["Arn"], role_id=created["RoleId"], create_date=_iso_date(created.get("CreateDate")))

    # -- one facet each -------------------------------------------------------------------

    def _set_trust_policy(self, role, desired):
        if not policies_differ(role["trust_policy"], desired):
            return
        self._change("trust_policy", role["trust_policy"], desired)
        self._write("update trust policy", "update_assume_role_policy", PolicyDocument=compact_json(desired))
        role["trust_policy"] = desired

    def _set_settings(self, role, description, max_session_duration):
        """Description and maximum session duration share one UpdateRole call."""
        updates = {}
        if description is not None and description != role["description"]:
            self._change("description", role["description"], description)
            updates["Description"] = role["description"] = description
        if max_session_duration is not None and max_session_duration != role["max_session_duration"]:
            self._change("max_session_duration", role["max_session_duration"], max_session_duration)
            updates["MaxSessionDuration"] = role["max_session_duration"] = max_session_duration
        if updates:
            self._write("update description and maximum session duration", "update_role", **updates)

    def _set_permissions_boundary(self, role, desired):
        if desired is None or desired == role["permissions_boundary"]:
            return
        self._change("permissions_boundary", role["permissions_boundary"], desired)
        if desired:
            self._write("set permissions boundary", "put_role_permissions_boundary", PermissionsBoundary=desired)
        else:
            self._write("remove permissions boundary", "delete_role_permissions_boundary")
        role["permissions_boundary"] = desired

    def _set_managed_policies(self, role, desired, purge, quota):
        if desired is None:
            return
        current = set(role["managed_policies"])
        to_attach = sorted(set(desired) - current)
        to_detach = sorted(current - set(desired)) if purge else []
        if not (to_attach or to_detach):
            return
        after = sorted((current | set(to_attach)) - set(to_detach))
        try:  # only without purge can the role's other policies add to the count: the options alone were checked before
            check_managed_policy_count(after, quota)
        except LimitError as e:
            raise Refusal(f"{e}; with purge_managed_policies=false the {len(current)} the role has count too (or set it "
                          "to true); nothing was written for this role") from None
        self._change("managed_policies", role["managed_policies"], after)
        # Detach first: a role holds a limited number of managed policies (10 by default).
        for arn in to_detach:
            self._write(f"detach managed policy {arn}", "detach_role_policy", PolicyArn=arn)
        for arn in to_attach:
            self._write(f"attach managed policy {arn}", "attach_role_policy", PolicyArn=arn)
        role["managed_policies"] = after

    def _set_inline_policies(self, role, desired, purge):
        if desired is None:
            return
        current = role["inline_policies"]
        to_put = {name: document for name, document in sorted(desired.items()) if policies_differ(current.get(name), document)}
        to_delete = sorted(set(current) - set(desired)) if purge else []
        if not (to_put or to_delete):
            return
        after = {name: document for name, document in current.items() if name not in to_delete}
        after.update(to_put)
        after = dict(sorted(after.items()))
        try:  # only without purge can the role's other inline policies add to the size
            check_inline_policies_size(after)
        except LimitError as e:
            raise Refusal(f"{e}; with purge_inline_policies=false the role's other inline policies count too; nothing was "
                          "written for this role") from None
        self._change("inline_policies", current, after)
        for name in to_delete:
            self._write(f"delete inline policy {name}", "delete_role_policy", PolicyName=name)
        for name, document in to_put.items():
            self._write(f"put inline policy {name}", "put_role_policy", PolicyName=name, PolicyDocument=compact_json(document))
        role["inline_policies"] = after


def trust_document(spec, current=None):
    """The trust policy to store, given the role's ``current`` one; one IAM would refuse is a refusal."""
    try:
        return spec.trust.document(current)
    except TrustPolicyError as e:
        raise Refusal(str(e)) from None


def new_role(spec, trust_policy):
    """The snapshot a role created from ``spec`` will have; its ARN is derived, its ID and date unknown yet."""
    return dict(
        name=spec.name,
        arn=role_arn(spec.partition, spec.account_id, spec.name, spec.path),
        role_id=None,
        path=spec.path,
        create_date=None,
        description=spec.description or "",
        trust_policy=trust_policy,
        max_session_duration=spec.max_session_duration or DEFAULT_MAX_SESSION_DURATION,
        permissions_boundary=spec.permissions_boundary or "",
        managed_policies=[],
        inline_policies={},
        tags=with_owner_tag(spec.tags),
    )


def create_params(role, spec):
    """CreateRole's parameters for the new role's snapshot."""
    params = dict(Path=role["path"], AssumeRolePolicyDocument=compact_json(role["trust_policy"]))
    if role["description"]:
        params["Description"] = role["description"]
    if spec.max_session_duration:
        params["MaxSessionDuration"] = role["max_session_duration"]
    if role["permissions_boundary"]:
        params["PermissionsBoundary"] = role["permissions_boundary"]
    if role["tags"]:
        params["Tags"] = ansible_dict_to_boto3_tag_list(role["tags"])
    return params


def role_result(role):
    """The module's return values from a snapshot: AWS's documents verbatim, inline policies by name."""
    return dict(role, inline_policies=sorted(role["inline_policies"]))


def plan_role(module, converger, options):
    """Plan ``options['state']`` (options checked by ``check_role_options``) with reads and refusals only."""
    if options["state"] == "absent":
        shared = options["trust_policy_mode"] == "shared"
        return converger.plan_absent(options["force"], desired_trust(options, None, None) if shared else None)
    return converger.plan_present(role_spec(options, *role_account(module, options["account_id"])))


def role_outcome_result(module, outcome):
    """The module's result for the role's :class:`~.converger.Outcome`."""
    result = dict(changed=outcome.changed, status=outcome.status, **(role_result(outcome.after) if outcome.after else {}))
    if module._diff:
        result["diff"] = outcome.diff
    return result


def converge_role(module, client, options):
    """What iam_web_identity_role does for ``options`` (checked by ``check_role_options``): its result.

    Fails the module on an error.
    """
    converger = RoleConverger(client, options["name"], module.check_mode)
    converged(functools.partial(plan_role, module, converger, options))
    return role_outcome_result(module, converged(converger.apply))

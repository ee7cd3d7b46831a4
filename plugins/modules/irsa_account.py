#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: irsa_account
short_description: Ensure (or delete) one AWS account's IAM OIDC provider and web identity roles in one task
version_added: 1.1.0
description:
  - Brings one target account's IRSA resources to O(state) in one module run. With V(present), first the IAM OIDC
    provider for the cluster's issuer (or each of O(providers)), then each role in O(roles) in order, then the
    providers that go. With V(absent), first every role of O(roles), then the provider. O(associations) go with them
    (see there).
  - A provider that goes (O(state=absent), or a retired cluster's entry) is kept, not deleted, while any role of the
    account other than those of this task still trusts it, or when this collection did not create it, unless C(force)
    is set. Its result then has C(status=kept), says why in C(kept) and names the roles in C(trusted_by); the task
    warns, and the roles of the task are converged all the same. (M(torque.eks_irsa.iam_oidc_provider) refuses in both
    cases instead.)
  - Otherwise each does exactly what
    M(torque.eks_irsa.iam_oidc_provider) and M(torque.eks_irsa.iam_web_identity_role) do with the same options
    (same checks, same AWS calls, same results), so the rollout playbook uses one task per account instead of one
    per resource.
  - One run assumes O(assume_role_arn) once and uses one IAM client for the provider and every role.
  - Every option of the provider and of every role is checked before the first AWS call; a bad entry fails the task
    naming it (V(provider) or V(roles[<index>] (<name>))) and nothing is written.
  - The first failure stops the run; what comes after it is left untouched. The failure result carries what was done
    before it (RV(provider), RV(roles)).
  - Check mode is exact, as in the two modules (with V(absent), the roles the run would delete do not count as
    trusting the provider); diff mode gives one diff per resource, headed by its name (C(OIDC provider <arn>),
    C(role <name>)).
options:
  state:
    description:
      - V(present) ensures the provider and the roles (a role entry may still say C(state=absent) to delete it).
      - V(absent) deletes the roles, then the provider. A role entry may not say C(state=present) then.
    type: str
    choices: [present, absent]
    default: present
    version_added: 1.2.0
  provider:
    description:
      - The options of M(torque.eks_irsa.iam_oidc_provider) for the account's provider (C(url) is required), for
        example a C(url) and C(tags); its state is O(state) (a C(state) given here must be the same).
      - The AWS connection options (credentials, region, O(assume_role_arn), ...) are this task's, not given here.
      - One of O(provider) and O(providers) is required, unless every role of O(roles) trusts another role
        (C(trusted_role)) and none a cluster's issuer (C(trust)).
    type: dict
  providers:
    description:
      - The account's providers, one per cluster issuer its roles trust, each with the options of
        M(torque.eks_irsa.iam_oidc_provider), as in O(provider). Instead of O(provider).
      - With O(state=present), an entry with C(state=absent) is a retired cluster's provider. It is deleted after the
        roles, only when this collection made it (or C(force)) and no role of the account still trusts it once the roles
        of this task are done; otherwise it is kept and reported (see the description).
      - With O(state=absent) every provider is deleted after the roles; an entry may not say C(state=present) then.
    type: list
    elements: dict
    version_added: 1.3.0
  roles:
    description:
      - The roles of the account, each a dict of the options of M(torque.eks_irsa.iam_web_identity_role)
        (C(name), C(trust) or C(trusted_role), C(managed_policies), C(inline_policies), C(tags), C(state), ...),
        converged in order.
      - A role with C(state=absent) is deleted as M(torque.eks_irsa.iam_web_identity_role) deletes it.
    type: list
    elements: dict
    default: []
  associations:
    description:
      - The EKS Pod Identity associations of the account's clusters, each a dict of the options of
        M(torque.eks_irsa.eks_pod_identity_association) (C(cluster_name), C(namespace), C(service_account), C(role_arn),
        C(disable_session_tags), C(policy), C(tags), C(state), ...), or with C(role_name), the name of a role of O(roles)
        with C(pod_identity), instead of C(role_arn).
      - Every association is read and decided with the roles, before the first write. Each cluster is described once
        (it must be in this account, where EKS keeps its associations and whose roles alone it takes) and its
        associations listed once. More than 1,000 associations in a cluster, EKS's limit, is refused.
      - The associations that go are deleted first; the others are created or changed after the roles, once the role they
        name trusts EKS Pod Identity. With O(state=absent) every association is deleted (those this collection did not
        make only with C(force)).
      - An entry with C(state=absent), C(role_name) and C(when_role_leaves_pod_identity=true) counts only when that role's
        trust holds a Pod Identity statement of this collection's before the run (the role is going back to IRSA), and
        then deletes only an association of this collection's for that role; otherwise it costs no call.
      - The task's region is the clusters' region.
    type: list
    elements: dict
    default: []
    version_added: 1.6.0
  account_id:
    description:
      - The 12-digit account the provider and the roles are in, given to both (an entry's own C(account_id) wins).
      - Saves the C(sts:GetCallerIdentity) call each would make to find it; see the two modules.
    type: str
author:
  - Torque platform team (@torque)
notes:
  - The required IAM permissions are those of M(torque.eks_irsa.iam_oidc_provider) and M(torque.eks_irsa.iam_web_identity_role).
extends_documentation_fragment:
  - torque.eks_irsa.assume_role
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Ensure the provider and the Torque runner role in a target account
  torque.eks_irsa.irsa_account:
    assume_role_arn: arn:aws:iam::222222222222:role/irsa-deployer
    account_id: "222222222222"
    provider:
      url: "{{ cluster.issuer }}"
      tags:
        eks-irsa:cluster: agents
    roles:
      - name: torque-runner
        trust:
          - issuer: "{{ cluster.issuer }}"
            service_accounts: ["torque-agents:runner"]
        managed_policies:
          - arn:aws:iam::aws:policy/ReadOnlyAccess
      - name: old-runner
        state: absent
  register: account

- name: Blue/green, last step - trust only the green cluster; blue's provider goes when nothing else trusts it
  torque.eks_irsa.irsa_account:
    assume_role_arn: arn:aws:iam::222222222222:role/irsa-deployer
    account_id: "222222222222"
    providers:
      - url: "{{ green.issuer }}"
      - url: "{{ blue.issuer }}"
        state: absent
    roles:
      - name: torque-runner
        trust:
          - issuer: "{{ green.issuer }}"
            service_accounts: ["torque-agents:runner"]

- name: Delete the role, then the provider when nothing else trusts it (else the provider is kept, status kept)
  torque.eks_irsa.irsa_account:
    state: absent
    assume_role_arn: arn:aws:iam::222222222222:role/irsa-deployer
    account_id: "222222222222"
    provider:
      url: "{{ cluster.issuer }}"
    roles:
      - name: torque-runner
"""

RETURN = r"""
provider:
  description:
    - The result of the provider, as M(torque.eks_irsa.iam_oidc_provider) returns it (without its diff).
    - A provider asked to go but kept has C(status=kept), C(changed=false), C(kept) (why, for example
      V(still trusted by team-x-deployer)) and C(trusted_by) (the roles outside this task that still trust it).
  returned: when O(provider) is given; on failure, when the provider was done
  type: dict
  sample: {arn: "arn:aws:iam::222222222222:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE", status: ok, changed: false}
providers:
  description: The result of each provider done, in the order of O(providers), as for RV(provider).
  returned: when O(providers) is given; on failure, the providers done before it
  type: list
  elements: dict
  version_added: 1.3.0
  sample:
    - {arn: "arn:aws:iam::222222222222:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/GREEN", status: created, changed: true}
    - {arn: "arn:aws:iam::222222222222:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/BLUE", status: deleted, changed: true}
roles:
  description:
    - The result of each role done, keyed by role name, in the order of O(roles), as
      M(torque.eks_irsa.iam_web_identity_role) returns it (without its diff), with C(service_accounts), the
      ServiceAccounts (C(namespace:name)) the entry's C(trust) names, and C(trusted_role), the ARN of the role the
      entry's C(trusted_role) names.
  returned: always; on failure, the roles done before it
  type: dict
  version_added: 1.2.0
  sample:
    torque-runner:
      name: torque-runner
      arn: "arn:aws:iam::222222222222:role/torque-runner"
      status: created
      changed: true
      service_accounts: ["torque-agents:runner"]
associations:
  description:
    - The result of each association done, in the order of O(associations), as
      M(torque.eks_irsa.eks_pod_identity_association) returns it (without its diff), with C(learnt_later) in check mode.
  returned: when O(associations) is given; on failure, the associations done before it
  type: list
  elements: dict
  version_added: 1.6.0
  sample:
    - status: created
      changed: true
      learnt_later: []
      association: {cluster_name: agents, namespace: torque-envs, service_account: runner,
                    role_arn: "arn:aws:iam::222222222222:role/torque-runner", association_id: a-0123456789abcdef0}
"""

import functools
from collections import namedtuple

from ansible_collections.torque.eks_irsa.plugins.module_utils.clients import AWSModule
from ansible_collections.torque.eks_irsa.plugins.module_utils.converger import converged
from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError
from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import reported
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import PROVIDER_ARGUMENT_SPEC
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import checked_provider_options
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import plan_provider
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import provider_converger
from ansible_collections.torque.eks_irsa.plugins.module_utils.oidc_provider import provider_result
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import POD_IDENTITY_PRINCIPAL
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import arn_account_id
from ansible_collections.torque.eks_irsa.plugins.module_utils.options import OptionsError
from ansible_collections.torque.eks_irsa.plugins.module_utils.ownership import is_owned
from ansible_collections.torque.eks_irsa.plugins.module_utils.options import validated_options
from ansible_collections.torque.eks_irsa.plugins.module_utils.pod_identity import ASSOCIATION_ARGUMENT_SPEC
from ansible_collections.torque.eks_irsa.plugins.module_utils.pod_identity import ASSOCIATION_LIMIT
from ansible_collections.torque.eks_irsa.plugins.module_utils.pod_identity import Plan as AssociationPlan
from ansible_collections.torque.eks_irsa.plugins.module_utils.pod_identity import check_role
from ansible_collections.torque.eks_irsa.plugins.module_utils.pod_identity import checked_options as checked_association
from ansible_collections.torque.eks_irsa.plugins.module_utils.pod_identity import cluster_account
from ansible_collections.torque.eks_irsa.plugins.module_utils.pod_identity import cluster_associations
from ansible_collections.torque.eks_irsa.plugins.module_utils.pod_identity import describe as describe_association
from ansible_collections.torque.eks_irsa.plugins.module_utils.pod_identity import trusts_pod_identity
from ansible_collections.torque.eks_irsa.plugins.module_utils.role import RoleConverger
from ansible_collections.torque.eks_irsa.plugins.module_utils.role import plan_role
from ansible_collections.torque.eks_irsa.plugins.module_utils.role import role_outcome_result
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import has_pod_identity_statement
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import parse_service_account
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import validated_role_options

ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["present", "absent"], default="present"),
    provider=dict(type="dict"),
    providers=dict(type="list", elements="dict"),
    roles=dict(type="list", elements="dict", default=[]),
    associations=dict(type="list", elements="dict", default=[]),
    account_id=dict(type="str"),
)
# An entry of associations: the options of eks_pod_identity_association, and the role by its name in roles.
ASSOCIATION_ENTRY_SPEC = dict(ASSOCIATION_ARGUMENT_SPEC, role_name=dict(type="str"), when_role_leaves_pod_identity=dict(type="bool"))
ARGUMENT_RULES = dict(mutually_exclusive=[("provider", "providers")])

# One provider entry, checked: where messages name it, its options, the wanted provider, the account given for it.
ProviderEntry = namedtuple("ProviderEntry", ["where", "options", "wanted", "account"])


def _entry_state(entry, state, where):
    """A role entry for a task of ``state``: with ``state=absent`` every role is deleted, so an entry may not say present."""
    if state == "present":
        return entry
    if entry.get("state") not in (None, "absent"):
        raise OptionsError(f"{where}: state is {entry['state']} but the task's state is absent, which deletes every role "
                           "and then the provider: leave the entry's state out, or run the task with state=present")
    return dict(entry, state="absent")


def _provider_entry(given, index, state, account_id):
    """One provider entry, checked as iam_oidc_provider checks its options; its state defaults to the task's.

    ``provider`` (``index`` None) has the task's state. A ``providers`` entry of a ``state=present`` task may say
    absent (a cluster retired: its provider goes once the run's roles no longer trust it); with ``state=absent`` every
    provider goes.
    """
    where = "provider" if index is None else f"providers[{index}]"
    try:
        if index is None and given.get("state") not in (None, state):
            raise OptionsError(f"state is {given['state']} but the task's state is {state}: set state on the task, not here "
                               "(or list the providers in providers, where each may say its own)")
        if state == "absent" and given.get("state") not in (None, "absent"):
            raise OptionsError(f"state is {given['state']} but the task's state is absent, which deletes every provider: "
                               "leave the entry's state out, or run the task with state=present")
        options = validated_options(PROVIDER_ARGUMENT_SPEC, dict({"account_id": account_id, "state": state}, **given))
        wanted, provider_account = checked_provider_options(options)
    except EksIrsaError as e:
        raise e.at(f"{where}: ")
    return ProviderEntry(where, options, wanted, provider_account)


def checked_options(module):
    """``(providers, roles)``: every provider's and role's options, checked as their modules check them, before any AWS call."""
    account_id, state = module.params["account_id"], module.params["state"]
    given = [(None, module.params["provider"])] if module.params.get("provider") is not None else \
        list(enumerate(module.params.get("providers") or []))
    providers, issuers = [], {}
    for index, entry in given:
        provider = _provider_entry(entry, index, state, account_id)
        host_path = provider.wanted.issuer.host_path
        if host_path in issuers:
            raise OptionsError(f"{provider.where}: the issuer {host_path} is already {issuers[host_path]}: list each provider once")
        issuers[host_path] = provider.where
        providers.append(provider)
    roles = []
    for index, role in enumerate(module.params["roles"]):
        where = f"roles[{index}] ({role.get('name') or role.get('role_name')})"
        entry = _entry_state(role, state, where)
        try:
            roles.append(validated_role_options(dict({"account_id": account_id}, **entry)))
        except EksIrsaError as e:
            raise e.at(f"{where}: ")
    associations = [_association_entry(entry, index, state, roles) for index, entry in enumerate(module.params.get("associations") or [])]
    seen = {}
    for where, params, _role in associations:
        key = (params["cluster_name"], params["namespace"], params["service_account"])
        if key in seen:
            raise OptionsError(f"{where}: the ServiceAccount is already {seen[key]}: EKS keeps one association per ServiceAccount")
        seen[key] = where
    if not providers and any(role.get("trust") for role in roles):
        # A role that trusts a cluster needs its provider in the account; one that trusts a role (trusted_role) needs none.
        raise OptionsError("providers is empty, but roles trust a cluster's issuer: list the account's OIDC providers, each "
                           "with its url (only an account whose roles all trust another role, trusted_role, needs none)")
    return providers, roles, associations


def _association_entry(given, index, state, roles):
    """``(where, params, role)``: one associations entry checked as eks_pod_identity_association checks its options, with
    ``role`` the options of the entry of ``roles`` it names by ``role_name`` (None when it gives ``role_arn``)."""
    where = f"associations[{index}] ({given.get('namespace')}/{given.get('service_account')})"
    try:
        if state == "absent" and given.get("state") not in (None, "absent"):
            raise OptionsError(f"state is {given['state']} but the task's state is absent, which deletes every association: "
                               "leave the entry's state out, or run the task with state=present")
        params = validated_options(ASSOCIATION_ENTRY_SPEC, dict({"state": state}, **given),
                                   mutually_exclusive=[("role_name", "role_arn")])
        role = None
        if params["state"] == "present" and params["role_name"] is not None:
            role = next((options for options in roles if options["name"].lower() == params["role_name"].lower()), None)
            if role is None or role["state"] != "present" or not role.get("pod_identity"):
                raise OptionsError(f"role_name {params['role_name']!r} is not a role of roles with pod_identity and state present: "
                                   "name one, or give role_arn")
        if params["state"] == "present" and role is None and not params["role_arn"]:
            raise OptionsError("role_name (a role of roles) or role_arn is required")
        placeholder = "arn:aws:iam::000000000000:role/placeholder"  # checked for its shape alone; the role is named apart
        checked = checked_association(dict(params, role_arn=params["role_arn"] or (placeholder if role else None)))
        checked["role_arn"] = params["role_arn"]
    except EksIrsaError as e:
        raise e.at(f"{where}: ")
    return where, checked, role


def _without_diff(result):
    return {key: value for key, value in result.items() if key != "diff"}


def trusted_service_accounts(options):
    """The ServiceAccounts (``namespace:name``, patterns too: the options were checked) a role's entry trusts, in order."""
    return [f"{sa.namespace}:{sa.name}" for entry in options.get("trust") or []
            for sa in (parse_service_account(value, allow_wildcard=True) for value in entry["service_accounts"])]


class AccountRun:
    """One account's providers and roles: all planned (reads and refusals only), then applied in order.

    So a refusal anywhere in the account (a role someone else made, a policy that does not exist, a provider still
    trusted) comes before the account's first write. What was done is the result, on failure too.
    """

    def __init__(self, module, client, providers):
        self.module, self.client, self.providers = module, client, providers
        self.provider_results, self.roles, self.diffs = {}, {}, []  # provider results by entry (where), roles by name
        self.associations, self.eks = [], None  # the results of the associations done, in the order given; their client

    def outcome(self):
        """What was done so far: ``providers`` in the order given (``provider`` when the task named one), ``roles``."""
        if self.module.params.get("provider") is not None:
            done = dict(provider=self.provider_results.get("provider"), roles=self.roles)
        else:
            done = dict(providers=[self.provider_results[e.where] for e in self.providers if e.where in self.provider_results],
                        roles=self.roles)
        if self.module.params.get("associations"):
            done["associations"] = self.associations
        return done

    def _where(self, entry):
        return f"{entry.where}: " if self.module.params.get("provider") is None else ""

    def run(self, roles, associations=()):
        """Converge the providers, ``roles`` and ``associations`` (checked options) to their states; the module's result."""
        module = self.module
        role_steps = [(f"roles[{index}] ({options['name']}): ", options, RoleConverger(self.client, options["name"], module.check_mode))
                      for index, options in enumerate(roles)]
        # What the roles will trust once the run is done: a role it deletes, or no longer lets trust a provider,
        # does not keep that provider from going.
        planned_trust, planned_roles, trusted_before, role_arns = {}, {}, {}, {}
        for where, options, converger in role_steps:
            planned = converged(functools.partial(plan_role, module, converger, options), where, self.outcome())
            planned_trust[options["name"].lower()] = (planned.after or {}).get("trust_policy")
            planned_roles[options["name"].lower()] = planned.after or {}
            trusted_before[options["name"].lower()] = (planned.before or {}).get("trust_policy")
            role_arns[options["name"].lower()] = (planned.after or planned.before or {}).get("arn")
        # An entry for a role that leaves EKS Pod Identity counts only when the role's trust had a Pod Identity statement.
        associations = [(where, params, role) for where, params, role in associations if not params.get("when_role_leaves_pod_identity")
                        or has_pod_identity_statement(trusted_before.get((params["role_name"] or "").lower()))]
        association_steps = self._plan_associations(associations, planned_roles, role_arns) if associations else []
        provider_steps = []
        for entry in self.providers:
            converger = provider_converger(module, self.client, entry.wanted, entry.account)
            # keep: a provider that roles outside this task still trust, or that someone else made, is not this task's
            # alone to delete; it stays, reported, and the roles of the task still go.
            converged(functools.partial(plan_provider, module, converger, entry.options, entry.wanted, entry.account,
                                        planned_trust, keep=True), self._where(entry), dict(self.outcome(), arn=converger.arn))
            provider_steps.append((entry, converger))
        # Providers before the roles that trust them; the roles before the providers that go: IAM would let a provider
        # go while roles trust it, and their logins would break.
        ensured = [step for step in provider_steps if step[0].options["state"] == "present"]
        removed = [step for step in provider_steps if step[0].options["state"] == "absent"]
        # An association goes before the role it names; one is made or changed once its role trusts EKS Pod Identity.
        for where, association in association_steps:
            if association.status == "deleted":
                self._apply_association(where, association)
        for entry, converger in ensured:
            self._apply_provider(entry, converger)
        for where, options, converger in role_steps:
            outcome = converged(converger.apply, where, self.outcome())
            self.roles[options["name"]] = dict(_without_diff(role_outcome_result(module, outcome)),
                                               service_accounts=trusted_service_accounts(options),
                                               **({"trusted_role": options["trusted_role"]["arn"]} if options.get("trusted_role") else {}))
            self._diff(f"role {options['name']}", outcome)
        for where, association in association_steps:
            if association.status != "deleted":
                self._apply_association(where, association)
        for entry, converger in removed:
            self._apply_provider(entry, converger)
        changed = any(result["changed"] for result in self.provider_results.values()) or \
            any(role["changed"] for role in self.roles.values()) or any(result["changed"] for result in self.associations)
        result = dict(changed=changed, **self.outcome())
        if module._diff:  # one diff per resource, headed by its name
            result["diff"] = self.diffs
        return result

    def _plan_associations(self, associations, planned_roles, role_arns):
        """``[(where, plan)]``: every association decided from reads alone, before the account's first write. Each cluster is
        described once (it must be this account's) and its associations listed once; 1,000 per cluster is EKS's limit."""
        eks = self.eks = self.module.client("eks")
        account = self.module.params["account_id"] or next(
            (arn_account_id(role["arn"]) for role in planned_roles.values() if role.get("arn")), None)
        listed, steps = {}, []
        for where, params, role in associations:
            cluster = params["cluster_name"]
            if cluster not in listed:
                # A cluster whose associations all go may be gone already (a retired cluster, deleted): nothing is left there.
                removing = all(entry[1]["state"] == "absent" for entry in associations if entry[1]["cluster_name"] == cluster)
                found = self._said(where, cluster_account, eks, cluster, removing)
                if found is not None and account is not None and found != account:
                    raise EksIrsaError(f"cluster {cluster} is in account {found}, not this task's account {account}: EKS keeps a "
                                       "cluster's associations in the cluster's account, and takes only a role of that account; "
                                       "run this task in that account").at(f"{where}: ", **self.outcome())
                listed[cluster] = self._said(where, cluster_associations, eks, cluster) if found is not None else {}
            if role is not None:
                planned = planned_roles[role["name"].lower()]
                params = dict(params, role_arn=planned["arn"])
                session_tags = params.get("disable_session_tags") is not True
                if not trusts_pod_identity(planned.get("trust_policy"), session_tags):
                    raise EksIrsaError(f"role {role['name']}: its trust policy does not let {POD_IDENTITY_PRINCIPAL} in, so EKS "
                                       "would refuse the association").at(f"{where}: ", **self.outcome())
            elif params["state"] == "present" and params["role_arn"]:
                self._said(where, check_role, self.client, params, account)
            summary = listed[cluster].get((params["namespace"], params["service_account"]))
            existing = self._said(where, describe_association, eks, cluster, summary["associationId"]) if summary else None
            ours = existing is not None and is_owned(existing.get("tags")) and \
                existing.get("roleArn") == role_arns.get((params["role_name"] or "").lower())
            if params.get("when_role_leaves_pod_identity") and not ours:
                continue  # only an association of ours, for this role, goes with the role's Pod Identity trust
            steps.append((where, self._said(where, AssociationPlan, params, existing)))
        for cluster, existing in listed.items():
            made = sum(1 for _where, plan in steps if plan.params["cluster_name"] == cluster and plan.status == "created")
            gone = sum(1 for _where, plan in steps if plan.params["cluster_name"] == cluster and plan.status == "deleted")
            if len(existing) + made - gone > ASSOCIATION_LIMIT:
                raise EksIrsaError(f"cluster {cluster} has {len(existing)} pod identity associations and this task would add {made}: "
                                   f"EKS allows {ASSOCIATION_LIMIT} per cluster, so nothing was written; use IRSA for some roles, or "
                                   "another cluster").at("associations: ", **self.outcome())
        return steps

    def _said(self, where, function, *args):
        """``function(*args)``; its error said of ``where``, with what was done before it."""
        try:
            return function(*args)
        except EksIrsaError as e:
            if not e.message.startswith(where):
                raise e.at(f"{where}: ", **self.outcome())
            raise

    def _apply_association(self, where, association):
        result = self._said(where, association.apply, self.eks, self.module.check_mode)
        self.associations.append(_without_diff(result))
        if result["changed"]:
            self.diffs.append(result["diff"])

    def _apply_provider(self, entry, converger):
        outcome = converged(converger.apply, self._where(entry), dict(self.outcome(), arn=converger.arn))
        self.provider_results[entry.where] = _without_diff(provider_result(self.module, converger, outcome))
        self._diff(f"OIDC provider {converger.arn}", outcome)

    def _diff(self, label, outcome):
        if outcome.diff["before"] or outcome.diff["after"]:
            self.diffs.append(dict(outcome.diff, before_header=label, after_header=label))


def run(module):
    """The module's result for ``module.params``; a module process and the controller action both call it."""
    providers, roles, associations = checked_options(module)
    return AccountRun(module, module.client("iam"), providers).run(roles, associations)


def main():
    module = AWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, **ARGUMENT_RULES)
    module.exit_json(**reported(module, run))


if __name__ == "__main__":
    main()

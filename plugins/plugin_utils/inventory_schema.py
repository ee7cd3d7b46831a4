# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The rollout inventory's entries, each declared once: a role (``eks_irsa_roles[]``), a subject (a role's
``subjects[]``), a cluster (``eks_irsa_clusters[]``), the hub (``eks_irsa_hub``) and a spoke role (its ``spokes[]``).

A declaration is an argument spec (type, elements, choices, default, required) in the order messages list its keys;
the known keys and the refusal of an unknown one (naming the nearest known key) come from it. What a role entry shares
with iam_web_identity_role is the module's own spec, so the two cannot disagree on a key, a type or a default; the
module fills its defaults itself, so the plan passes on only what the inventory wrote.
"""

from __future__ import annotations

import difflib
import json

from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import ROLE_ARGUMENT_SPEC
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import SERVICE_ACCOUNT_KEYS

ROLES = "eks_irsa_roles"
MODE = "eks_irsa_mode"  # the default mode of a host's roles
# irsa_and_pod_identity: both at once, a migration's first step (the ServiceAccount keeps IRSA's annotation, which wins).
MODES = ("irsa", "pod_identity", "irsa_and_pod_identity")
POD_IDENTITY_MODES = MODES[1:]
CLUSTERS = "eks_irsa_clusters"
HUB = "eks_irsa_hub"
TORQUE_AGENT = "eks_irsa_torque_agent"  # the Torque agent the blueprint snippets name, per cluster
# The one-cluster form of the run's cluster: these variables, or eks_irsa_clusters, never both.
SINGLE_CLUSTER = {"eks_irsa_cluster_name": "name", "eks_irsa_issuer": "issuer", "eks_irsa_kubeconfig": "kubeconfig",
                  "eks_irsa_kube_context": "context"}
CLUSTER_VARIABLES = (CLUSTERS, "eks_irsa_region", *SINGLE_CLUSTER)  # all that the run's clusters are made of


class PlanError(EksIrsaError):
    """What the inventory cannot be rolled out with; one line per problem, each naming its host."""


def unsupported(entry, known, prefix=""):
    """``unsupported parameters a (did you mean b?), c`` for the keys of ``entry`` not in ``known`` (``(a typo?)`` after
    them when none is near a known key), or '' when none;
    ``prefix`` is how the inventory names a key (``eks_irsa_roles.``)."""
    def named(key):
        near = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.6)
        return f"{prefix}{key}" + (f" (did you mean {near[0]}?)" if near else "")
    unknown = sorted(set(entry) - set(known), key=str)
    if not unknown:
        return ""
    text = ", ".join(named(key) for key in unknown)
    return f"unsupported parameters {text}" + ("" if "did you mean" in text else " (a typo?)")


class Entry:
    """One kind of inventory entry: ``options`` (an argument spec, in the order messages list them) and how a refusal
    lists them (``listing``, with ``{keys}``); ``prefix`` is how messages name one of its keys."""

    def __init__(self, options, listing="", prefix=""):
        self.options = dict(options)
        self.keys = frozenset(self.options)
        self.listing = listing.format(keys=", ".join(self.options))
        self.prefix = prefix

    def unsupported(self, entry):
        """:func:`unsupported` for an entry of this kind."""
        return unsupported(entry, self.keys, self.prefix)

    def misshapen(self, entry):
        """What is wrong with the first value of a mapping option given as something else, or of a list of strings
        holding a mapping or list, or "" (the values' own checks come later, and read them as their type; a list
        option given as a scalar is said by its own check, in its own words)."""
        for key, option in self.options.items():
            value = entry.get(key)
            if value is None:
                continue
            kind = option.get("type")
            if kind == "dict" and not isinstance(value, dict):
                return f"{key} {json.dumps(value, default=str)} is not a mapping: give its keys and values"
            if kind == "list" and isinstance(value, list) and option.get("elements") == "str":
                for index, element in enumerate(value):
                    if isinstance(element, (dict, list)):
                        return f"{key}[{index}] {json.dumps(element, default=str)} is not a string"
        return ""

    def required(self):
        """The keys an entry must set, in order."""
        return [key for key, option in self.options.items() if option.get("required")]


def _sorted(options):
    return dict(sorted(options.items()))


# iam_web_identity_role's options that a role entry does not have: the plan sets them for every role (the state is the
# task's; the trust comes from the entry's subjects and clusters, or is the hub's; the account is the host's; the trust
# is exclusive; tags set outside the inventory are kept; the quota is eks_irsa_managed_policy_quota), or leaves them at
# the module's default.
PLANNED_OPTIONS = ("state", "trust", "trusted_role", "pod_identity", "account_id", "trust_policy_mode", "purge_tags", "managed_policy_quota")
MODULE_DEFAULT_OPTIONS = ("trust_policy_size_limit", "purge_managed_policies", "purge_inline_policies", "force")
ROLE_OPTIONS = {key: option for key, option in ROLE_ARGUMENT_SPEC.items() if key not in PLANNED_OPTIONS + MODULE_DEFAULT_OPTIONS}
# What a role entry names that the module does not: whose pods may assume the role, and in which clusters.
TRUSTED_OPTIONS = dict(
    service_account=dict(type="str"),  # default <role name>-<host>, in the role's namespace
    namespace=dict(type="str"),  # default eks_irsa_namespace
    subjects=dict(type="list", elements="raw"),  # 'namespace:name' or a SUBJECT mapping; instead of the two above
    clusters=dict(type="list", elements="str"),  # default every present cluster of the run
    # How its pods get it: irsa (the OIDC provider, the annotated ServiceAccount) or pod_identity (an EKS Pod Identity
    # association); default eks_irsa_mode, else irsa. The other three are pod_identity's.
    mode=dict(type="str", choices=list(MODES)),
    pin_service_accounts=dict(type="bool"),  # the trust also requires the ServiceAccounts' session tags
    disable_session_tags=dict(type="bool"),  # the associations send no session tags
    session_policy=dict(type="raw"),  # the associations' session policy (a mapping or JSON); needs disable_session_tags
)
# A role's options passed to the module as written; the plan adds the tags it sets (eks_irsa_tags, the cluster tag).
PASSED_THROUGH = tuple(key for key in ROLE_OPTIONS if key not in ("name", "tags"))

ROLE_ENTRY = Entry(_sorted(dict(ROLE_OPTIONS, **TRUSTED_OPTIONS)), ". Supported parameters include: {keys}", prefix=f"{ROLES}.")

SUBJECT = Entry(dict(
    {key: dict(type="str", required=True) for key in SERVICE_ACCOUNT_KEYS},
    cluster=dict(type="str"),  # pins the subject to one cluster of the role's; default every one
))

CLUSTER = Entry(dict(
    name=dict(type="str", required=True),
    region=dict(type="str"),  # default eks_irsa_region
    issuer=dict(type="str"),  # default looked up by the preflight
    kubeconfig=dict(type="path"),
    context=dict(type="str"),
    state=dict(type="str", choices=["present", "absent"], default="present"),  # absent: a retired cluster
), "; a cluster has {keys}")

# A spoke role trusts the hub role instead of a cluster's ServiceAccounts; it has a role entry's other options.
SPOKE = Entry(_sorted({key: option for key, option in ROLE_ENTRY.options.items()
                       if key not in TRUSTED_OPTIONS and key not in ("audience", "allow_wildcard_subjects")}),
              "; a spoke role has {keys}")
# The hub role's own options; its name and path are its ARN's.
HUB_ROLE_OPTIONS = {key: option for key, option in SPOKE.options.items() if key not in ("name", "path")}
HUB_ENTRY = Entry(_sorted(dict(
    HUB_ROLE_OPTIONS,
    role_arn=dict(type="str", required=True),
    service_account=dict(type="str", required=True),  # the ServiceAccount the hub role trusts
    namespace=dict(type="str"),  # default eks_irsa_namespace
    external_id=dict(type="str"),  # the spokes require it of the hub role
    spokes=dict(type="list", elements="dict", required=True),  # SPOKE entries
)), f"; {HUB} has {{keys}}")

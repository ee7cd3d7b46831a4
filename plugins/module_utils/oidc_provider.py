# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The IAM OIDC identity provider for one issuer: what the user wants, and the thin boto3 layer that gets there.

Two halves:

- validation (pure, no AWS): :func:`wanted_provider` turns module options into a :class:`WantedProvider`
  or raises :class:`~.issuer.IssuerError` (or its :class:`ProviderOptionError`) naming the option and the fix;
- convergence: :class:`ProviderConverger`, in the shape of every converger here (:mod:`.converger`). The
  provider is read once, directly by its ARN (derivable from account and issuer, so no provider listing).

Ownership (see :mod:`.ownership`): a provider this module creates carries the ownership tag, which later runs
keep whatever ``tags``/``purge_tags`` say. A provider made by someone else (eksctl, Terraform, a person) is
used as it is: the module applies only what the user explicitly asks for and never adds the ownership tag
to it, and :func:`ensure_absent` refuses to delete it without ``force``.

Provider views are plain dicts (``arn``, ``url``, ``client_ids``, ``thumbprints``, ``tags``,
``create_date``) with client IDs and thumbprints sorted: IAM treats both as sets, and sorted lists
make a check-mode prediction equal the real run's result.
"""

from __future__ import annotations

import copy
import functools
import re
from collections import namedtuple

from ansible.module_utils.common.text.converters import to_text
from ansible_collections.amazon.aws.plugins.module_utils.exceptions import is_ansible_aws_error_code
from ansible_collections.amazon.aws.plugins.module_utils.iam import IAMErrorHandler
from ansible_collections.amazon.aws.plugins.module_utils.iam import get_aws_account_info
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.torque.eks_irsa.plugins.module_utils.converger import Converger
from ansible_collections.torque.eks_irsa.plugins.module_utils.converger import IAMCalls
from ansible_collections.torque.eks_irsa.plugins.module_utils.converger import Raced
from ansible_collections.torque.eks_irsa.plugins.module_utils.converger import Refusal
from ansible_collections.torque.eks_irsa.plugins.module_utils.converger import converged
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import IssuerError
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import normalize_issuer
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import provider_arn
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import validate_account_id
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import LimitError
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import check_tags
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import DEFAULT_AUDIENCE
from ansible_collections.torque.eks_irsa.plugins.module_utils.ownership import OWNER_TAG_KEY
from ansible_collections.torque.eks_irsa.plugins.module_utils.ownership import OWNER_TAG_VALUE
from ansible_collections.torque.eks_irsa.plugins.module_utils.ownership import is_owned
from ansible_collections.torque.eks_irsa.plugins.module_utils.ownership import not_owned
from ansible_collections.torque.eks_irsa.plugins.module_utils.ownership import with_owner_tag
from ansible_collections.torque.eks_irsa.plugins.module_utils.retry import Retry
from ansible_collections.torque.eks_irsa.plugins.module_utils.retry import paginate
from ansible_collections.torque.eks_irsa.plugins.module_utils.trust_policy import federated_principals

# IAM quotas (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html).
MAX_CLIENT_IDS = 100
MAX_CLIENT_ID_LENGTH = 255
MAX_THUMBPRINTS = 5
MAX_URL_LENGTH = 255
_THUMBPRINT_RE = re.compile(r"^[0-9a-fA-F]{40}$")

# A provider IAM has just created (by us or by a concurrent run) may not be readable yet. Wait seconds for
# it, not the policy's whole bound: one that never shows up means a wrong ARN, not a slow IAM.
_NEW_PROVIDER_RETRY = Retry(extra_codes=["NoSuchEntity"], bound=45)

WantedProvider = namedtuple("WantedProvider", ["issuer", "client_ids", "thumbprints", "tags", "purge_tags", "purge_client_ids"],
                            defaults=(True,))
WantedProvider.__doc__ = """The provider the user asked for; ``None`` in a field means "don't manage it"."""


class ProviderOptionError(IssuerError):
    """A client_ids or thumbprints value IAM would refuse; the message names the option and the fix."""


class ProviderInUseError(Refusal):
    """Deleting the provider would break the roles that still trust it."""

    def __init__(self, arn, role_names):
        names = ", ".join(role_names)
        super().__init__(
            f"not deleting OIDC provider {arn}: {len(role_names)} role(s) in this account still trust it ({names}); "
            "their web-identity logins would fail. Delete those roles or remove the provider from their trust "
            "policies first, or set force=true to delete it anyway",
            trusted_by=list(role_names))


class ProviderNotOwnedError(Refusal):
    """Deleting a provider this collection did not create needs ``force``.

    The roles that trust it are named in the message only: ``trusted_by`` is reserved for refusals that
    only those roles cause, which callers may resolve by deleting the roles first.
    """

    def __init__(self, arn, role_names):
        trusting = ""
        if role_names:
            trusting = f"; {len(role_names)} role(s) in this account also still trust it ({', '.join(role_names)})"
        super().__init__(not_owned("OIDC provider", arn) + f", so the module does not delete it{trusting}. Set force=true "
                         "to delete it anyway")


# -- validation (pure) ---------------------------------------------------------------------------


def validate_client_ids(client_ids):
    """Return ``client_ids`` sorted and without duplicates, or ``None`` when not managed."""
    if client_ids is None:
        return None
    for client_id in client_ids:
        if not isinstance(client_id, str) or not 1 <= len(client_id) <= MAX_CLIENT_ID_LENGTH:
            raise ProviderOptionError(f"client_ids: {client_id!r} is not a client ID: each must be a string of 1 to "
                                      f"{MAX_CLIENT_ID_LENGTH} characters (for IRSA, {DEFAULT_AUDIENCE})")
    unique = sorted(set(client_ids))
    if len(unique) > MAX_CLIENT_IDS:
        raise ProviderOptionError(f"client_ids: {len(unique)} client IDs given, IAM allows at most {MAX_CLIENT_IDS} per provider")
    return unique


def validate_thumbprints(thumbprints):
    """Return ``thumbprints`` lower-cased, sorted and without duplicates, or ``None`` when not managed."""
    if thumbprints is None:
        return None
    for thumbprint in thumbprints:
        if not isinstance(thumbprint, str) or not _THUMBPRINT_RE.match(thumbprint):
            raise ProviderOptionError(f"thumbprints: {thumbprint!r} is not a certificate thumbprint: each must be the SHA-1 "
                                      "fingerprint as exactly 40 hex digits (drop the colons openssl prints), or leave "
                                      "thumbprints out, since IAM no longer needs them for EKS issuers")
    # Hex digits are case-insensitive; one case keeps the comparison with IAM's list exact.
    unique = sorted({thumbprint.lower() for thumbprint in thumbprints})
    if len(unique) > MAX_THUMBPRINTS:
        raise ProviderOptionError(f"thumbprints: {len(unique)} thumbprints given, IAM allows at most {MAX_THUMBPRINTS} per provider")
    return unique


def validate_url(url, field="url"):
    """The issuer as a provider URL: https, no trailing slash, at most the 255 characters IAM accepts."""
    issuer = normalize_issuer(url, field=field)
    if len(issuer.url) > MAX_URL_LENGTH:
        raise ProviderOptionError(f"{field} {url!r} is {len(issuer.url)} characters: IAM accepts an OIDC provider URL of at "
                                  f"most {MAX_URL_LENGTH}; use the issuer URL that EKS reports as cluster.identity.oidc.issuer")
    return issuer


def validate_tags(tags, field="tags"):
    """The tags as text, or ``None`` when not managed; refused as IAM would refuse them (the ownership tag counted)."""
    if tags is None:
        return None
    tags = {to_text(key): to_text(value) for key, value in tags.items()}
    try:
        check_tags(with_owner_tag(tags), field)
    except LimitError as e:
        raise ProviderOptionError(str(e)) from None
    return tags


def wanted_provider(url, client_ids=None, thumbprints=None, tags=None, purge_tags=True, fields=None, purge_client_ids=True):
    """Validate module options into a :class:`WantedProvider`; raises :class:`IssuerError` naming the option.

    ``fields`` renames options in the messages (``{"url": "eks_irsa_issuer"}`` for an inventory).
    """
    fields = dict({"url": "url", "tags": "tags"}, **(fields or {}))
    return WantedProvider(
        issuer=validate_url(url, fields["url"]),
        client_ids=validate_client_ids(client_ids),
        thumbprints=validate_thumbprints(thumbprints),
        tags=validate_tags(tags, fields["tags"]),
        purge_tags=purge_tags,
        purge_client_ids=purge_client_ids,
    )


# -- views ---------------------------------------------------------------------------------------


def provider_view(arn, response):
    """The module's view of a ``GetOpenIDConnectProvider`` response."""
    create_date = response.get("CreateDate")
    return dict(
        arn=arn,
        # IAM answers without the scheme; return the URL form create takes and EKS reports.
        url=normalize_issuer(response["Url"]).url,
        client_ids=sorted(response.get("ClientIDList") or []),
        thumbprints=sorted(thumbprint.lower() for thumbprint in response.get("ThumbprintList") or []),
        tags=boto3_tag_list_to_ansible_dict(response.get("Tags") or []),
        create_date=create_date.isoformat() if create_date else None,
    )


def predicted_new_view(arn, wanted):
    """The view a provider created from ``wanted`` will have (``create_date`` is only known afterwards)."""
    return dict(
        arn=arn,
        url=wanted.issuer.url,
        client_ids=creation_client_ids(wanted),
        thumbprints=wanted.thumbprints or [],
        tags=creation_tags(wanted),
        create_date=None,
    )


def creation_client_ids(wanted):
    """Client IDs a new provider starts with: the given ones, else the STS audience IRSA uses."""
    return list(wanted.client_ids) if wanted.client_ids is not None else [DEFAULT_AUDIENCE]


def creation_tags(wanted):
    """Tags a new provider starts with: the given ones and the ownership tag."""
    return with_owner_tag(wanted.tags)


def wanted_tags(view, wanted):
    """The tags to converge an existing provider to (``None``: leave them alone).

    Ours keeps the ownership tag whatever ``tags`` and ``purge_tags`` say; anyone else's gets exactly the
    tags the user asked for, so using a provider eksctl made never marks it as ours.
    """
    if wanted.tags is None or not is_owned(view["tags"]):
        return wanted.tags
    return with_owner_tag(wanted.tags)


def diff_view(view):
    """A view as the diff shows it: what the module manages, without the creation date."""
    if view is None:
        return {}
    return {key: value for key, value in view.items() if key != "create_date"}


# -- AWS reads ------------------------------------------------------------------------------------


def target_account(module, client, account_id=None):
    """``(account_id, partition)`` to derive the provider ARN for.

    With ``account_id`` given no AWS call is made: the partition is the one of ``client``'s IAM endpoint.
    Otherwise one ``sts:GetCallerIdentity`` answers both.
    """
    if account_id:
        return account_id, client.meta.partition
    return get_aws_account_info(module)


def caller_account_guard(module, account_id):
    """A check, for :func:`ensure_present` to run before it creates, that ``account_id`` is the caller's account.

    A given account_id spares the ``sts:GetCallerIdentity`` call on every run that finds the provider;
    only a create, which IAM would put in the credentials' account whatever the ARN says, spends it.
    """
    def confirm():
        caller_account = get_aws_account_info(module)[0]
        if caller_account != account_id:
            raise Refusal(f"account_id {account_id} is not the account the credentials act in ({caller_account}): "
                          "leave account_id out, or use credentials for that account (for example with assume_role_arn, or from "
                          "amazon.aws.sts_assume_role)")
    return confirm


@IAMErrorHandler.list_error_handler("list the roles (iam:ListRoles)", default_value=[])
def _list_roles(client):
    return paginate(client, "list_roles", "Roles")


def roles_trusting(client, arn, planned_trust=None):
    """Sorted names of the roles in the account whose trust policy has ``arn`` as a Federated principal.

    ``planned_trust`` (``{lower-case role name: trust policy, or None}``) is what the same run leaves some roles with
    (None: it deletes them): those count by it, not by what IAM holds now, so a check run decides as the real one.
    """
    # A provider is only trusted by roles of its own account, so the account's roles are the whole story.
    planned_trust = planned_trust or {}
    trusting = []
    for role in _list_roles(client):
        name = role["RoleName"].lower()  # IAM role names ignore case
        document = planned_trust[name] if name in planned_trust else role.get("AssumeRolePolicyDocument") or {}
        if document is not None and arn in federated_principals(document):
            trusting.append(role["RoleName"])
    return sorted(trusting)


def provider_calls(client, arn):
    """The IAM calls on the provider ``arn`` (see :class:`~.converger.IAMCalls`)."""
    return IAMCalls(client, f"OIDC provider {arn}", _NEW_PROVIDER_RETRY, OpenIDConnectProviderArn=arn)


def read_provider(calls, arn):
    """The provider's view, read with ``calls`` (see :func:`provider_calls`), or ``None`` when IAM has none with this ARN."""
    response = calls.read("get the provider", "get_open_id_connect_provider")
    return None if response is None else provider_view(arn, response)


def get_provider(client, arn):
    """The provider's view, or ``None`` when IAM has no provider with this ARN."""
    return read_provider(provider_calls(client, arn), arn)


# -- convergence: each step decides first, so check mode is exact ----------------------------------


class ProviderConverger(Converger):
    """Brings the provider ``arn`` to a :class:`WantedProvider`, or deletes it."""

    def __init__(self, client, arn, check_mode):
        super().__init__(check_mode)
        self.arn = arn
        self.calls = provider_calls(client, arn)
        self.trusted_by = []  # the roles outside the run that keep a provider asked to go (plan_absent with keep)

    def _read(self):
        return read_provider(self.calls, self.arn)  # this converger's calls: after a create, they wait for IAM to show it

    def _read_created(self):
        try:
            return self._read()
        except is_ansible_aws_error_code("NoSuchEntity"):
            raise Refusal(f"IAM reported OIDC provider {self.arn} as created but cannot read it: if account_id is set, check "
                          "that it is the account the credentials act in (or leave it out to use the caller's account)") from None

    def plan_present(self, wanted, confirm_account=None):
        """Plan the provider's creation, or bringing the existing one to ``wanted``; the predicted :class:`Outcome`.

        ``confirm_account`` (see :func:`caller_account_guard`) runs before a create is planned, in check mode too.
        """
        self._planning(functools.partial(self.plan_present, wanted, confirm_account))
        before = self._read()
        if before is None:
            if confirm_account is not None:
                confirm_account()
            new = predicted_new_view(self.arn, wanted)
            self._creating(diff_view(new), functools.partial(self._create, wanted))
            return self._planned(None, new)
        after = copy.deepcopy(before)
        self._set_client_ids(after, wanted.client_ids, wanted.purge_client_ids)
        self._set_thumbprints(after, wanted.thumbprints)
        self._set_tags(after, wanted_tags(before, wanted), wanted.purge_tags,
                       "tag_open_id_connect_provider", "untag_open_id_connect_provider")
        # ``after`` is what IAM holds once the writes succeeded; re-reading could only show a stale copy.
        return self._planned(before, after)

    def plan_absent(self, force=False, planned_trust=None, keep=False):
        """Plan the provider's deletion; without ``force``, only ours and only when no role trusts it.

        A provider that is not ours, or that roles still trust, is refused; with ``keep`` it is kept instead, and the
        outcome says why (``kept``; ``trusted_by`` names the roles): the caller deletes only what its run alone uses.
        Both are decided from reads alone, so check mode decides exactly as a real run would. ``planned_trust`` is the
        trust the same run, first, leaves its roles with (see :func:`roles_trusting`).
        """
        self._planning(functools.partial(self.plan_absent, force, planned_trust, keep))
        self.trusted_by = []
        before = self._read()
        if before is None:
            return self._planned(None, None)
        if not force:
            trusting = roles_trusting(self.calls.client, self.arn, planned_trust)
            if not is_owned(before["tags"]):
                if keep:
                    self.trusted_by = trusting
                    return self._keeping(before, f"not created by torque.eks_irsa (no tag {OWNER_TAG_KEY}={OWNER_TAG_VALUE})")
                raise ProviderNotOwnedError(self.arn, trusting)
            if trusting:
                if keep:
                    self.trusted_by = trusting
                    return self._keeping(before, f"still trusted by {', '.join(trusting)}")
                raise ProviderInUseError(self.arn, trusting)
        self._deleting(diff_view(before), self._delete)
        return self._planned(before, None)

    def _applied(self):
        # A new provider is read back for what only IAM knows (its creation date).
        return self._read_created() if self.created else self.predicted

    def _create(self, wanted):
        params = dict(Url=wanted.issuer.url, ClientIDList=creation_client_ids(wanted))
        # IAM now checks the issuer's certificate against its own trusted CAs, so thumbprints are optional:
        # send them only when the user manages them (neither botocore's model nor moto requires the parameter).
        if wanted.thumbprints:
            params["ThumbprintList"] = wanted.thumbprints
        params["Tags"] = ansible_dict_to_boto3_tag_list(creation_tags(wanted))
        try:
            created_arn = self.calls.send("create the provider", "create_open_id_connect_provider", **params)["OpenIDConnectProviderArn"]
        except is_ansible_aws_error_code("EntityAlreadyExists"):
            raise Raced() from None  # converge on what the other run created, like on any existing provider
        if created_arn != self.arn:
            raise Refusal(
                f"IAM created the OIDC provider as {created_arn}, not {self.arn}: the credentials act in another account "
                "or partition than the ARN was derived for; fix account_id, region or credentials, and delete the stray "
                "provider if unwanted")

    def _delete(self):
        if not self.calls.call_if_present("delete the provider", "delete_open_id_connect_provider"):
            self._nothing_done()  # deleted by someone else meanwhile

    def _set_client_ids(self, view, client_ids, purge=True):
        """Make the provider's client IDs exactly ``client_ids``, or with ``purge`` false at least them (``None``: leave
        them alone)."""
        if client_ids is None:
            return
        current = set(view["client_ids"])
        if not purge:
            client_ids = sorted(current | set(client_ids))
            if len(client_ids) > MAX_CLIENT_IDS:
                raise Refusal(f"client_ids: OIDC provider {self.arn} would accept {len(client_ids)} client IDs with the ones it has, "
                              f"IAM allows at most {MAX_CLIENT_IDS}: remove some it no longer needs")
        to_remove, to_add = sorted(current - set(client_ids)), sorted(set(client_ids) - current)
        if not to_remove and not to_add:
            return
        self._change("client_ids", view["client_ids"], sorted(client_ids))
        # Removing first never drops a wanted audience, and keeps a full provider under the 100-ID quota.
        for client_id in to_remove:
            self._write(f"remove client ID {client_id}", "remove_client_id_from_open_id_connect_provider", ClientID=client_id)
        for client_id in to_add:
            self._write(f"add client ID {client_id}", "add_client_id_to_open_id_connect_provider", ClientID=client_id)
        view["client_ids"] = sorted(client_ids)

    def _set_thumbprints(self, view, thumbprints):
        """Replace the provider's thumbprint list with ``thumbprints`` (``None``: leave it alone)."""
        if thumbprints is None or thumbprints == view["thumbprints"]:
            return
        self._change("thumbprints", view["thumbprints"], list(thumbprints))
        self._write("update thumbprints", "update_open_id_connect_provider_thumbprint", ThumbprintList=thumbprints)
        view["thumbprints"] = list(thumbprints)


# -- the module's work, shared by iam_oidc_provider and irsa_account ------------------------------------------

PROVIDER_ARGUMENT_SPEC = dict(
    url=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    client_ids=dict(type="list", elements="str"),
    thumbprints=dict(type="list", elements="str"),
    tags=dict(type="dict", aliases=["resource_tags"]),
    purge_tags=dict(type="bool", default=True),
    purge_client_ids=dict(type="bool", default=True),
    force=dict(type="bool", default=False),
    account_id=dict(type="str"),
)


def checked_provider_options(params, fields=None):
    """``(wanted provider, account ID or None)`` from options validated against :data:`PROVIDER_ARGUMENT_SPEC`.

    Raises ``IssuerError`` naming the option (or its name in ``fields``), before any AWS call.
    """
    wanted = wanted_provider(params["url"], params["client_ids"], params["thumbprints"], params["tags"], params["purge_tags"],
                             fields=fields, purge_client_ids=params["purge_client_ids"])
    return wanted, validate_account_id(params["account_id"]) if params["account_id"] is not None else None


def provider_converger(module, client, wanted, given_account_id):
    """The converger of the provider for ``wanted``'s issuer in the target account (see :func:`target_account`)."""
    account_id, partition = target_account(module, client, given_account_id)
    return ProviderConverger(client, provider_arn(partition, account_id, wanted.issuer.url), module.check_mode)


def plan_provider(module, converger, params, wanted, given_account_id, planned_trust=None, keep=False):
    """Plan ``params['state']`` with reads and refusals only (see :meth:`ProviderConverger.plan_absent` for
    ``planned_trust`` and ``keep``)."""
    if params["state"] == "present":
        confirm_account = caller_account_guard(module, given_account_id) if given_account_id else None
        return converger.plan_present(wanted, confirm_account)
    return converger.plan_absent(params["force"], planned_trust, keep)


def provider_result(module, converger, outcome):
    """The module's result for the provider's :class:`~.converger.Outcome`; a kept provider says why, and warns."""
    result = dict(changed=outcome.changed, arn=converger.arn, status=outcome.status)
    result.update(outcome.after or {})
    if outcome.status == "kept":
        result.update(kept=converger.kept, trusted_by=list(converger.trusted_by))
        module.warn(f"OIDC provider {converger.arn} kept: {converger.kept}. It goes once nothing else needs it "
                    "(run again then), or with force=true")
    if module._diff:
        result["diff"] = outcome.diff
    return result


def converge_provider(module, client, params, wanted, given_account_id):
    """What iam_oidc_provider does: the provider brought to ``params['state']``; its result. Fails the module on an error."""
    converger = provider_converger(module, client, wanted, given_account_id)
    context = {"arn": converger.arn}
    converged(functools.partial(plan_provider, module, converger, params, wanted, given_account_id), context=context)
    return provider_result(module, converger, converged(converger.apply, context=context))

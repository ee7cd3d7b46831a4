# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one shape every IAM converger here has (the OIDC provider's, the role's): plan, then apply.

A converger is made for one resource (``client``, the resource's identity, ``check_mode``). Its ``plan_present`` /
``plan_absent`` read the resource, refuse what cannot be done, and decide every change, recording it facet by facet
for ``--diff`` together with the writes that make it; :meth:`Converger.apply` then makes those writes, which check
mode skips. So check mode predicts exactly, a converged resource gets no mutating call, and a caller that plans
several resources before applying any (``irsa_account``) refuses before the first write in the account.

What cannot be done without the user deciding (a resource someone else made, a provider roles still trust, a policy
that does not exist) is a :class:`Refusal`, raised from reads alone; AWS errors are amazon.aws's ``AnsibleIAMError``.
:func:`converged` raises either as the collection's error (:mod:`.errors`), the same way for every resource.
"""

from __future__ import annotations

import copy
import functools
from collections import namedtuple

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import is_ansible_aws_error_code
from ansible_collections.amazon.aws.plugins.module_utils.iam import AnsibleIAMError
from ansible_collections.amazon.aws.plugins.module_utils.iam import IAMErrorHandler
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags
from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError
from ansible_collections.torque.eks_irsa.plugins.module_utils.retry import AWS_RETRY
from ansible_collections.torque.eks_irsa.plugins.module_utils.retry import paginate


class Outcome(namedtuple("Outcome", ["status", "before", "after", "diff"])):
    """What an ensure step did: ``status`` in one word, the resource's views before and after (``None``: none), the diff.

    ``kept`` is no change: a resource asked to go was left in place, not only ours to delete (the converger's ``kept``
    says why).
    """

    __slots__ = ()

    @property
    def changed(self):
        return self.status not in ("ok", "kept")


class Refusal(EksIrsaError):
    """The resource cannot be brought to the wanted state as asked; ``str()`` is the message, ``details`` extra result keys."""


class Raced(Exception):
    """A concurrent run created the resource between the plan's read and our create."""


class Converger:
    """Plan and apply, shared by the convergers: the changed flag, the per-facet diff, the writes and the outcome.

    A subclass's ``plan_*`` method calls :meth:`_planning` first and ends with :meth:`_planned`; its writes are
    callables, queued with :meth:`_write` or :meth:`_change`. It may override :meth:`_applied` (the view after the
    writes). A write that raises :class:`Raced` makes :meth:`apply` plan again, as ``calls.created()`` left it, and
    apply that plan.
    """

    def __init__(self, check_mode):
        self.check_mode = check_mode
        self._planning(None)

    def _planning(self, replan):
        """Start a plan; ``replan`` makes the same plan again (after a race)."""
        self.changed = self.created = False
        self.diff = {"before": {}, "after": {}}
        self.writes = []
        self.before = self.predicted = self.kept = None
        self._replan = replan

    def _planned(self, before, predicted):
        """End the plan: the views before and after it. Returns the predicted :class:`Outcome`."""
        self.before, self.predicted = before, predicted
        return self._outcome(before, predicted)

    def _write(self, description, operation, **params):
        """Queue one call on the resource (see :class:`IAMCalls`)."""
        self.writes.append(functools.partial(self.calls.call, description, operation, **params))

    def _change(self, facet, before, after):
        """Record a change of ``facet``; queue its writes after this."""
        self.changed = True
        if not self.created:  # a new resource's diff is {} -> everything
            self.diff["before"][facet] = copy.deepcopy(before)
        self.diff["after"][facet] = copy.deepcopy(after)

    def _creating(self, new_view, create):
        """Record the creation of a resource that will look like ``new_view``; ``create`` is its write."""
        self.changed = self.created = True
        self.diff = {"before": {}, "after": copy.deepcopy(new_view)}
        self.writes.append(create)

    def _deleting(self, view, *writes):
        """Record the deletion of the resource as ``view`` shows it, made by ``writes``."""
        self.changed = True
        self.diff = {"before": copy.deepcopy(view), "after": {}}
        self.writes.extend(writes)

    def _keeping(self, view, reason):
        """Record that the resource, asked to go, stays as ``view`` shows it, for ``reason``: no write, reported."""
        self.kept = reason
        return self._planned(view, view)

    def _nothing_done(self):
        """Someone else made the change first (a concurrent run): nothing of ours to report."""
        self.changed = self.created = False
        self.diff = {"before": {}, "after": {}}

    def _outcome(self, before, after):
        if self.kept:
            return Outcome("kept", before, after, self.diff)
        if not self.changed:
            status = "ok"
        elif before is None or self.created:
            status = "created"
        else:
            status = "deleted" if after is None else "updated"
        return Outcome(status, before, after, self.diff)

    def _set_tags(self, view, desired, purge, tag_operation, untag_operation):
        """Set ``desired`` tags and, with ``purge``, drop the others (``desired=None``: leave them alone)."""
        if desired is None:
            return
        to_set, to_unset = compare_aws_tags(view["tags"], desired, purge)
        if not (to_set or to_unset):
            return
        after = dict({key: value for key, value in view["tags"].items() if key not in to_unset}, **to_set)
        self._change("tags", view["tags"], after)
        if to_unset:
            self._write("remove tags", untag_operation, TagKeys=sorted(to_unset))
        if to_set:
            self._write("set tags", tag_operation, Tags=ansible_dict_to_boto3_tag_list(to_set))
        view["tags"] = after

    def _applied(self):
        """The resource's view once the writes succeeded (by default the predicted one)."""
        return self.predicted

    def apply(self):
        """Make the planned writes (none in check mode) and return the :class:`Outcome`."""
        if self.check_mode or not self.writes:
            return self._outcome(self.before, self.predicted)
        try:
            for write in self.writes:
                write()
        except Raced:
            self.calls.created()
            self._replan()
            return self.apply()
        if not self.changed:  # a deletion someone else made first
            return self._outcome(None, None)
        return self._outcome(self.before, None if self.predicted is None else self._applied())


def converged(ensure, where="", context=None):
    """``ensure()``'s :class:`Outcome`; its refusal or AWS error is raised again as an :class:`~.errors.EksIrsaError`
    said of ``where`` (the entry of a list option), with ``context`` (what was done before it) among its details."""
    try:
        return ensure()
    except Refusal as e:
        raise e.at(where, **(context or {}))
    except AnsibleIAMError as e:
        raise EksIrsaError(e.message, exception=e.exception).at(where, **(context or {})) from e


class IAMCalls:
    """The IAM calls on one resource: its identity sent with each, the retry policy its age calls for, errors naming it.

    ``identity`` are the parameters naming the resource (``RoleName=...``). amazon.aws's read helpers turn
    ``NoSuchEntity`` into None or [], which right after a create would hide IAM's lag as a missing resource; once
    :meth:`created` is called, the calls retry it with ``after_create_retry`` instead.
    """

    def __init__(self, client, label, after_create_retry, **identity):
        self.client, self.label, self.identity = client, label, identity
        self.after_create_retry = after_create_retry
        self.retry = AWS_RETRY

    def created(self):
        self.retry = self.after_create_retry

    def _handled(self, description, operation, function):
        # The IAM action in the message is the permission a denied caller lacks.
        action = self.client.meta.method_to_api_mapping.get(operation, operation)
        return IAMErrorHandler.common_error_handler(f"{description} ({self.label}; iam:{action})")(function)

    def call(self, description, operation, **params):
        return self.send(description, operation, **dict(self.identity, **params))

    def send(self, description, operation, **params):
        """A call without the identity parameters (a provider is created from its URL, not its ARN)."""
        return self._handled(description, operation, self.retry(getattr(self.client, operation)))(**params)

    def paginate(self, description, operation, result_key):
        """Every ``result_key`` item of a listing of the resource, each page retried by the policy on its own."""
        listing = self._handled(description, operation, paginate)
        return listing(self.client, operation, result_key, retry=self.retry, **self.identity)

    def read(self, description, operation):
        """The read's response, or None when the resource does not exist (after a create, still missing is an error)."""
        try:
            return self.call(description, operation)
        except is_ansible_aws_error_code("NoSuchEntity"):
            if self.retry is self.after_create_retry:
                raise
            return None

    def lookup(self, description, operation, **params):
        """A read of another entity (a policy the resource names), without the identity: None when it does not exist."""
        try:
            return IAMErrorHandler.common_error_handler(description)(AWS_RETRY(getattr(self.client, operation)))(**params)
        except is_ansible_aws_error_code("NoSuchEntity"):
            return None

    def call_if_present(self, description, operation, **params):
        """A deletion step: something already gone (a concurrent run) is what was wanted. False when it was."""
        try:
            self.call(description, operation, **params)
        except is_ansible_aws_error_code("NoSuchEntity"):
            return False
        return True

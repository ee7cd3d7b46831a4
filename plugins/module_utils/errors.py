# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The root of every error this collection raises, and the one place an error becomes a task's failure.

Below the modules, code raises: a rule refusing an input, a refusal decided from reads (a resource someone else made),
an AWS call that failed. :class:`EksIrsaError` carries what the user needs: the message (what is wrong and the fix,
naming the option or inventory entry), extra result keys (``details``) and the SDK exception behind it, if any. An
error raised about one entry of a list option is given that entry with :meth:`EksIrsaError.at`, once, where the entry is
known. :func:`reported` runs a module's work and turns its error into the failure, the same way in a module process
(``main()``) and in the controller action; amazon.aws's ``AnsibleAWSError`` from its helpers is turned the same way.
"""

from __future__ import annotations

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError


class EksIrsaError(Exception):
    """What went wrong, as the user reads it (``str()``), with ``details`` for the failed result and the SDK ``exception``."""

    def __init__(self, message, exception=None, **details):
        super().__init__(message)
        self.message = str(message)
        self.exception = exception
        self.details = details

    def __str__(self):
        return self.message

    def at(self, where, **context):
        """This error, said of ``where`` (a prefix such as ``roles[0] (runner): ``), with ``context`` (what was done before
        it) among its details; raised again by the caller that knows the entry."""
        self.message = f"{where}{self.message}"
        self.args = (self.message,)
        self.details = dict(context, **self.details)
        return self


def failed(module, error):
    """Fail ``module`` (``AnsibleAWSModule``, or the controller's stand-in) with ``error``: its message, its details, and
    for an AWS error the response and SDK versions as amazon.aws reports them. Does not return."""
    if isinstance(error, AnsibleAWSError):
        error = EksIrsaError(error.message, exception=error.exception)
    if error.exception is not None:
        module.fail_json_aws(error.exception, msg=error.message, **error.details)
    module.fail_json(msg=error.message, **error.details)


def reported(module, run):
    """``run(module)``'s result, or ``module`` failed with the error it raised (:func:`failed`)."""
    try:
        return run(module)
    except (EksIrsaError, AnsibleAWSError) as error:
        return failed(module, error)

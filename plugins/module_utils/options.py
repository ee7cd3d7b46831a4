# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Options checked against a module's argument spec outside that module's own run (nested options, filters)."""

from __future__ import annotations

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError


class OptionsError(ValueError):
    """Options the argument spec refuses; the message is the validator's, one per problem, joined by '; '."""


def validated_options(spec, given, required_if=None):
    """``given`` with the spec's defaults filled in and types converted, as the module would receive it."""
    result = ArgumentSpecValidator(spec, required_if=required_if).validate(given)
    if result.error_messages:
        # The validator says "<name>. Supported parameters include: ..." where a module run says "Unsupported parameters".
        raise OptionsError("; ".join(f"unsupported parameters {error.msg}" if isinstance(error, UnsupportedError) else error.msg
                                     for error in result.errors.errors))
    return result.validated_parameters

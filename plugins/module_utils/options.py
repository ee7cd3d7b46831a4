# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Options checked against a module's argument spec outside that module's own run (nested options, filters)."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError
from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError


def plain_data(value):
    """``value`` as plain dicts, lists, strings and numbers: the templated values of inventory variables, untagged.

    ansible-core (2.19 and later) hands filters and action plugins lazily templated containers that carry their whole
    variable context; argument validation deep-copies what it is given, and would copy that whole context with them.
    """
    if isinstance(value, Mapping):
        return {plain_data(key): plain_data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_data(item) for item in value]
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


class OptionsError(EksIrsaError):
    """Options the argument spec refuses; the message is the validator's, one per problem, joined by '; '."""


def validated_options(spec, given, required_if=None, mutually_exclusive=None):
    """``given`` with the spec's defaults filled in and types converted, as the module would receive it."""
    result = ArgumentSpecValidator(spec, required_if=required_if, mutually_exclusive=mutually_exclusive).validate(given)
    if result.error_messages:
        # The validator says "<name>. Supported parameters include: ..." where a module run says "Unsupported parameters".
        raise OptionsError("; ".join(f"unsupported parameters {error.msg}" if isinstance(error, UnsupportedError) else error.msg
                                     for error in result.errors.errors))
    return result.validated_parameters

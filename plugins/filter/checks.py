# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Input checks for the roles' preflights, on the controller, with the modules' own validation code.

Each filter returns the value in normal form or fails with a message naming the inventory host and
the variable, before anything is written anywhere.
"""

import json
import re

from ansible.errors import AnsibleFilterError

from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import IssuerError
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import normalize_issuer
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import validate_account_id
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import validate_role_arn


def _checked(check, host):
    try:
        return check()
    except IssuerError as e:
        raise AnsibleFilterError(f"{host}: {e}" if host else str(e)) from None  # the message already says why; Ansible would append the cause again


def checked_account_id(value, field="account_id", host=""):
    """The 12-digit account ID, as a string."""
    return _checked(lambda: validate_account_id(value, field), host)


def checked_role_arn(arn, account_id, field="assume_role_arn", host=""):
    """An IAM role ARN in ``account_id``."""
    return _checked(lambda: validate_role_arn(arn, account_id, field), host)


# sts:AssumeRole's ExternalId: 2 to 1224 characters of this set.
EXTERNAL_ID = re.compile(r"^[A-Za-z0-9_+=,.@:/-]{2,1224}$")


def _external_id(value, field):
    if value and not EXTERNAL_ID.match(str(value)):
        raise IssuerError(f"{field} {json.dumps(value)} is not an external ID STS accepts: use 2 to 1224 letters, digits "
                          "and + = , . @ : / _ - (the value the role's trust policy requires)")
    return value or None


def checked_external_id(value, field="external_id", host=""):
    """The external ID for sts:AssumeRole, or None when not given."""
    return _checked(lambda: _external_id(value, field), host)


# IAM's limit on an OIDC provider URL (CreateOpenIDConnectProvider Url): a longer issuer cannot get a provider.
ISSUER_URL_MAX_LENGTH = 255


def _issuer_url(value, field):
    url = normalize_issuer(value, field).url
    if len(url) > ISSUER_URL_MAX_LENGTH:
        raise IssuerError(f"{field} {value!r} is {len(url)} characters: IAM accepts an OIDC provider URL of at most "
                          f"{ISSUER_URL_MAX_LENGTH}; use the issuer URL that EKS reports as cluster.identity.oidc.issuer")
    return url


def checked_issuer(value, field="issuer", host=""):
    """The issuer URL in IAM's normal form (https, no trailing slash), at most 255 characters as IAM requires."""
    return _checked(lambda: _issuer_url(value, field), host)


class FilterModule:
    """Preflight checks."""

    def filters(self):
        return {
            "checked_account_id": checked_account_id,
            "checked_role_arn": checked_role_arn,
            "checked_external_id": checked_external_id,
            "checked_issuer": checked_issuer,
        }

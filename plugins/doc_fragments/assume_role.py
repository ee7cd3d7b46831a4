# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The assume-role options of this collection's AWS modules (plugins/module_utils/clients.py)."""

    DOCUMENTATION = r"""
options:
  assume_role_arn:
    description:
      - An IAM role to act as. The module calls C(sts:AssumeRole) for it with its own credentials (the ones the other
        AWS options or the environment give it) before its first AWS request, and makes every AWS request with the
        temporary credentials it gets. They are never returned, printed or stored outside the module run.
      - Loop items run in the same process reuse them while they have more than ten minutes left.
      - In a rollout, the role to assume in the target account, for example C(arn:aws:iam::222222222222:role/deployer).
        Leave it out to use the module's own credentials.
      - Set it for several tasks at once with C(module_defaults) and the action group C(group/torque.eks_irsa.assume_role).
    type: str
  assume_role_external_id:
    description:
      - The external ID the trust policy of O(assume_role_arn) requires, if any.
    type: str
  assume_role_session_name:
    description:
      - The session name for O(assume_role_arn), shown in CloudTrail (2 to 64 characters of C([\w+=,.@-])).
    type: str
    default: torque-eks-irsa
notes:
  - With O(assume_role_arn), the credentials the module is given need C(sts:AssumeRole) on that role; the IAM permissions
    listed for this module are then those of the assumed role.
"""

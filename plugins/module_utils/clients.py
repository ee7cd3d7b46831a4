# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""How the modules make their boto3 clients: every one retries by the collection's one policy (:mod:`.retry`).

Whatever retry decorator a caller (or an amazon.aws helper such as ``get_aws_account_info``) asks for, the clients of
:class:`AssumeRoleClients` retry by :data:`.retry.AWS_RETRY`, or by a :class:`.retry.Retry` the caller gives (which
adds codes, never another bound), with botocore's own retries off (:data:`.retry.CLIENT_CONFIG`): no AWS call waits
longer than :data:`.retry.CALL_BOUND` seconds. The module option ``aws_config`` (from amazon.aws) still overrides the
botocore settings.

Cross-account: :class:`AWSModule` is ``AnsibleAWSModule`` with the options ``assume_role_arn``,
``assume_role_external_id`` and ``assume_role_session_name`` (doc fragment ``torque.eks_irsa.assume_role``). With an ARN
given, the module calls ``sts:AssumeRole`` with its own credentials (the ones the amazon.aws options or the environment
give it) before its first client, and every client it makes, including those amazon.aws helpers make through
``module.client()``, acts with the temporary credentials. So the rollout needs no separate assume-role task, and the
temporary credentials never leave the process that uses them: they are in no task result, variable or argument.
They are kept in the process (keyed by role, external ID, session name and the credentials used to assume it) while
they have more than :data:`REUSE_MARGIN` left, so the loop items of one task run in the same process assume the role once.
"""

from __future__ import annotations

import datetime
import hashlib
import json

try:
    import botocore.exceptions
except ImportError:
    pass  # AnsibleAWSModule reports the missing library

from ansible.module_utils.common.text.converters import to_native
from ansible_collections.amazon.aws.plugins.module_utils.botocore import get_aws_connection_info
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.torque.eks_irsa.plugins.module_utils.errors import EksIrsaError
from ansible_collections.torque.eks_irsa.plugins.module_utils.issuer import validate_role_arn
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import check_external_id
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import check_session_name
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import arn_account_id
from ansible_collections.torque.eks_irsa.plugins.module_utils.regions import check_region
from ansible_collections.torque.eks_irsa.plugins.module_utils.regions import check_same_partition
from ansible_collections.torque.eks_irsa.plugins.module_utils.retry import AWS_RETRY
from ansible_collections.torque.eks_irsa.plugins.module_utils.retry import CLIENT_CONFIG
from ansible_collections.torque.eks_irsa.plugins.module_utils.retry import Retry


ASSUME_ROLE_ARGUMENT_SPEC = dict(
    assume_role_arn=dict(type="str"),
    assume_role_external_id=dict(type="str"),
    assume_role_session_name=dict(type="str", default="torque-eks-irsa"),
)
ASSUME_ROLE_DURATION = 3600  # seconds: AWS's default, which every role allows
REUSE_MARGIN = datetime.timedelta(minutes=10)
_assumed = {}  # cache key -> {"AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}


def aws_error(e):
    """What AWS answered to a refused call, for a result or a message: ``{"code": ..., "message": ...}`` of a botocore
    ``ClientError`` (``Unknown`` and ``""`` where the answer lacks one); None for any other exception.

    Only for reporting: a decision on the code uses amazon.aws's ``is_boto3_error_code``.
    """
    if not isinstance(e, botocore.exceptions.ClientError):
        return None
    error = e.response.get("Error") or {}
    return {"code": error.get("Code") or "Unknown", "message": error.get("Message") or ""}


def _cache_key(module):
    """What the temporary credentials depend on; the base credentials only as a digest."""
    params = module.params
    region, endpoint_url, connect = get_aws_connection_info(module)
    base = {k: v for k, v in connect.items() if k not in ("aws_config", "config")}
    identity = json.dumps([region, endpoint_url, sorted((k, str(v)) for k, v in base.items())])
    return (params["assume_role_arn"], params["assume_role_external_id"], params["assume_role_session_name"],
            hashlib.sha256(identity.encode()).hexdigest())


def assume_role(module, base_client):
    """The temporary credentials of ``module``'s O(assume_role_arn), from the cache or one ``sts:AssumeRole`` call.

    ``base_client(service, **kwargs)`` makes a client with the module's own credentials. Raises
    :class:`~.errors.EksIrsaError` naming the role and the fix when STS refuses.
    """
    key = _cache_key(module)
    cached = _assumed.get(key)
    if cached and cached["Expiration"] - datetime.datetime.now(datetime.timezone.utc) > REUSE_MARGIN:
        return cached
    arn, external_id, session_name = key[:3]
    request = dict(RoleArn=arn, RoleSessionName=session_name, DurationSeconds=ASSUME_ROLE_DURATION)
    if external_id:
        request["ExternalId"] = external_id
    sts = base_client("sts", retry_decorator=AWS_RETRY, config=CLIENT_CONFIG)
    try:
        credentials = sts.assume_role(aws_retry=True, **request)["Credentials"]
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        account = arn_account_id(arn) or "the role's account"
        error = aws_error(e)
        raise EksIrsaError(
            f"could not assume {arn}: {to_native(e)}. Check that the role exists in account {account} and trusts the "
            f"credentials running this playbook{' with this external ID' if external_id else ''}.",
            **({"error": error} if error else {})) from e
    _assumed[key] = credentials
    return credentials


class AssumeRoleClients:
    """``client()`` acting in O(assume_role_arn) when it is given (see the module docstring).

    Mixed into the module class of a module process (:class:`AWSModule`) and of a controller run
    (``plugin_utils.controller.ControllerModule``); each gives ``base_client()``, a client with its own credentials.
    """

    def _checked_region(self):
        """The region exists, and is in the assume-role ARN's partition: refused (RegionError) before the first call otherwise."""
        if self.region and self.params.get("assume_role_arn"):
            check_same_partition(self.params["assume_role_arn"], self.region, "assume_role_arn", "region")
        elif self.region:
            check_region(self.region)

    def _assumed_credentials(self):
        self._checked_region()
        if not self.params.get("assume_role_arn"):
            return {}
        # What STS would refuse, before the first call.
        validate_role_arn(self.params["assume_role_arn"])
        check_external_id(self.params.get("assume_role_external_id"))
        check_session_name(self.params.get("assume_role_session_name"))
        credentials = assume_role(self, self.base_client)
        return dict(aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
                    aws_session_token=credentials["SessionToken"])

    def client(self, service, retry_decorator=None, **extra_params):
        retry = retry_decorator if isinstance(retry_decorator, Retry) else AWS_RETRY
        config = dict(CLIENT_CONFIG, **(extra_params.pop("config", None) or {}))
        return self.base_client(service, retry, config=config, **dict(self._assumed_credentials(), **extra_params))


class AWSModule(AssumeRoleClients, AnsibleAWSModule):
    """``AnsibleAWSModule`` with the assume-role options, whose clients act in O(assume_role_arn) when it is given."""

    def __init__(self, argument_spec, **kwargs):
        super().__init__(argument_spec=dict(argument_spec, **ASSUME_ROLE_ARGUMENT_SPEC), **kwargs)

    def base_client(self, service, retry_decorator=None, **extra_params):
        return AnsibleAWSModule.client(self, service, retry_decorator, **extra_params)

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: irsa_token_proof
short_description: Prove end to end that a ServiceAccount's token gets credentials for its role
version_added: 1.0.0
description:
  - For each (ServiceAccount, role ARN), requests a token for the ServiceAccount from the Kubernetes TokenRequest API
    with the audience, exactly as the EKS pod identity webhook has one projected into a pod, and calls
    C(sts:AssumeRoleWithWebIdentity) with it for the role, as the pod's AWS SDK does.
  - A refusal is retried with a bounded back-off (IAM is eventually consistent, so a role or provider made seconds ago
    may be refused for 10 to 30 s), then reported as a finding with code C(token-proof-failed) and the STS error code;
    success gives C(token-proof-ok). Throttling and outages are retried first, as for every AWS call of the collection.
  - The token and the temporary credentials are never returned, logged or stored; the credentials are discarded.
  - Needs a real cluster (the TokenRequest API) and real STS; M(torque.eks_irsa.irsa_verify) explains a failure.
  - Writes nothing (a TokenRequest stores no object), so it also runs in check mode.
options:
  namespace:
    description: Namespace of the ServiceAccounts whose check gives none of its own.
    type: str
  checks:
    description: The ServiceAccounts and the role each one should be able to assume.
    type: list
    elements: dict
    required: true
    suboptions:
      namespace:
        description: Namespace of the ServiceAccount; default O(namespace).
        type: str
        version_added: 1.3.0
      service_account:
        description: Name of the ServiceAccount.
        type: str
        required: true
      role_arn:
        description: ARN of the role.
        type: str
        required: true
  audience:
    description: The audience of the token, as the pod identity webhook requests it.
    type: str
    default: sts.amazonaws.com
  token_expiration:
    description: Lifetime of the token in seconds (the API server's minimum is 600).
    type: int
    default: 600
  attempts:
    description: How often a refused C(AssumeRoleWithWebIdentity) is tried, at most.
    type: int
    default: 5
  delay:
    description: Seconds before the first retry; each further one waits twice as long, at most 20 s.
    type: int
    default: 4
  kubeconfig:
    description:
      - Path of the kubeconfig, or its content as a mapping. Can also be specified via C(K8S_AUTH_KUBECONFIG).
      - This and the other Kubernetes connection options (O(context), O(host), O(api_key), O(verify_ssl), O(ca_cert),
        O(client_cert), O(proxy), O(impersonate_user), ...) are kubernetes.core's, read by its client as its own modules
        read them (see M(kubernetes.core.k8s)); one not given is read from its C(K8S_AUTH_*) variable, such as the AWX
        credential "OpenShift or Kubernetes API Bearer Token" injects. O(host) with O(api_key), with O(username) and
        O(password), or with O(client_cert) and O(client_key), given or from their variables, is used without any
        kubeconfig; else the kubeconfig (and O(context)); else the in-cluster configuration of a pod; else
        C(~/.kube/config) and its current context. The other options given override what the kubeconfig says.
    type: raw
  context:
    description:
      - The kubeconfig context. Can also be specified via C(K8S_AUTH_CONTEXT). Default the kubeconfig's current one.
      - Before version 1.5.0 this option was called O(kube_context), which remains an alias.
    type: str
    aliases: [kube_context]
  host:
    description: URL of the Kubernetes API server. Can also be specified via C(K8S_AUTH_HOST).
    type: str
    version_added: 1.5.0
  api_key:
    description: Bearer token for the API server. Can also be specified via C(K8S_AUTH_API_KEY).
    type: str
    version_added: 1.5.0
  username:
    description:
      - User name for the API server's HTTP basic authentication (only clusters configured for it). Can also be specified
        via C(K8S_AUTH_USERNAME).
    type: str
    version_added: 1.5.0
  password:
    description: Password for O(username). Can also be specified via C(K8S_AUTH_PASSWORD).
    type: str
    version_added: 1.5.0
  verify_ssl:
    description:
      - Whether to verify the Kubernetes API server's TLS certificate. Can also be specified via C(K8S_AUTH_VERIFY_SSL) or
        C(K8S_AUTH_VALIDATE_CERTS).
      - kubernetes.core's modules call this option C(validate_certs) (with the alias C(verify_ssl)); in this module
        O(validate_certs) is amazon.aws's, for the AWS APIs.
    type: bool
    version_added: 1.5.0
  ca_cert:
    description:
      - Path of the CA certificate the API server's certificate is verified with (the full chain). Can also be specified via
        C(K8S_AUTH_SSL_CA_CERT) or C(K8S_AUTH_CA_CERT).
    type: path
    aliases: [ssl_ca_cert]
    version_added: 1.5.0
  client_cert:
    description:
      - Path of the client certificate to authenticate with. Can also be specified via C(K8S_AUTH_CERT_FILE) or
        C(K8S_AUTH_CLIENT_CERT).
    type: path
    aliases: [cert_file]
    version_added: 1.5.0
  client_key:
    description:
      - Path of the key of O(client_cert). Can also be specified via C(K8S_AUTH_KEY_FILE) or C(K8S_AUTH_CLIENT_KEY).
    type: path
    aliases: [key_file]
    version_added: 1.5.0
  proxy:
    description:
      - URL of an HTTP proxy for the connection to the API server. Can also be specified via C(K8S_AUTH_PROXY).
      - As in kubernetes.core, C(HTTP_PROXY) and C(HTTPS_PROXY) are not read.
    type: str
    version_added: 1.5.0
  no_proxy:
    description:
      - Comma-separated hosts, domains, IP addresses or CIDR ranges not reached through O(proxy). Can also be specified via
        C(K8S_AUTH_NO_PROXY). Needs the Python library kubernetes 19.15.0 or later.
    type: str
    version_added: 1.5.0
  proxy_headers:
    description:
      - Headers for the HTTP proxy, as urllib3's C(make_headers) makes them.
    type: dict
    version_added: 1.5.0
    suboptions:
      proxy_basic_auth:
        description:
          - C(username:password) for the proxy's basic authentication. Can also be specified via
            C(K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH).
        type: str
      basic_auth:
        description:
          - C(username:password) for basic authentication. Can also be specified via C(K8S_AUTH_PROXY_HEADERS_BASIC_AUTH).
        type: str
      user_agent:
        description: The user agent, such as C(foo/1.0). Can also be specified via C(K8S_AUTH_PROXY_HEADERS_USER_AGENT).
        type: str
  persist_config:
    description:
      - Whether to save refreshed tokens (of a context whose user has refresh tokens, such as OIDC) to the kubeconfig. Can
        also be specified via C(K8S_AUTH_PERSIST_CONFIG). Default V(false).
    type: bool
    version_added: 1.5.0
  impersonate_user:
    description: User to impersonate for the token request. Can also be specified via C(K8S_AUTH_IMPERSONATE_USER).
    type: str
    version_added: 1.5.0
  impersonate_groups:
    description:
      - Groups to impersonate for the token request. Can also be specified via C(K8S_AUTH_IMPERSONATE_GROUPS), comma-separated.
    type: list
    elements: str
    version_added: 1.5.0
author:
  - Torque platform team (@torque)
notes:
  - Kubernetes permission used is C(create) on C(serviceaccounts/token) in O(namespace) (and the API's version and group
    list, which kubernetes.core's client reads first). AWS needs no credentials, since C(sts:AssumeRoleWithWebIdentity) is
    authorised by the token alone.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Prove that the runner's ServiceAccount gets credentials in the dev account
  torque.eks_irsa.irsa_token_proof:
    namespace: torque-envs
    checks:
      - service_account: torque-runner-dev
        role_arn: arn:aws:iam::222222222222:role/torque-runner
  register: proof
"""

RETURN = r"""
findings:
  description:
    - One per check, with code C(token-proof-ok) (severity V(ok)) or C(token-proof-failed) (severity V(error), and the
      STS error code as C(pod_error)); the same keys as the findings of M(torque.eks_irsa.irsa_verify).
  returned: always
  type: list
  elements: dict
  sample:
    - account_id: "222222222222"
      role_name: torque-runner
      role_arn: arn:aws:iam::222222222222:role/torque-runner
      namespace: torque-envs
      service_account: torque-runner-dev
      code: token-proof-ok
      severity: ok
      message: "STS gave credentials for arn:aws:iam::222222222222:role/torque-runner to a token of ServiceAccount ..."
      pod_error: null
      fix: nothing to do
error_count:
  description: Number of checks that failed.
  returned: always
  type: int
  sample: 0
"""

import time

try:
    import botocore
    import botocore.config
    import botocore.exceptions
except ImportError:
    pass  # AnsibleAWSModule reports the missing library

try:
    from kubernetes.client.exceptions import ApiException
except ImportError:
    ApiException = None  # main() reports the missing library

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.torque.eks_irsa.plugins.module_utils.clients import aws_error
from ansible_collections.torque.eks_irsa.plugins.module_utils.kube_client import auth_argument_spec
from ansible_collections.torque.eks_irsa.plugins.module_utils.kube_client import core_v1_api
from ansible_collections.torque.eks_irsa.plugins.module_utils.limits import MIN_TOKEN_EXPIRATION
from ansible_collections.torque.eks_irsa.plugins.module_utils.names import DEFAULT_AUDIENCE
from ansible_collections.torque.eks_irsa.plugins.module_utils.retry import AWS_RETRY
from ansible_collections.torque.eks_irsa.plugins.module_utils.retry import CLIENT_CONFIG
from ansible_collections.torque.eks_irsa.plugins.module_utils.retry import TRANSIENT_CODES
from ansible_collections.torque.eks_irsa.plugins.module_utils.verify import PROOF_RETRY_CODES
from ansible_collections.torque.eks_irsa.plugins.module_utils.verify import token_proof_finding

MAX_DELAY = 20
SESSION_NAME = "torque-eks-irsa-proof"


def request_token(core_api, namespace, service_account, audience, expiration):
    """A ServiceAccount token from the TokenRequest API (kept in memory only)."""
    from kubernetes.client import AuthenticationV1TokenRequest, V1TokenRequestSpec  # pylint: disable=import-outside-toplevel

    body = AuthenticationV1TokenRequest(spec=V1TokenRequestSpec(audiences=[audience], expiration_seconds=expiration))
    return core_api.create_namespaced_service_account_token(service_account, namespace, body).status.token


def token_or_refusal(core_api, namespace, service_account, audience, expiration):
    """``(token, None)`` from :func:`request_token`, or ``(None, why)`` when the API refused it."""
    try:
        return request_token(core_api, namespace, service_account, audience, expiration), None
    except ApiException as e:
        return None, f"the Kubernetes API refused a token for it: {e.status} {e.reason}"


def _refusal(e, attempt):
    """``assume_with_token``'s answer for a call STS refused: its code and message (the exception's text if it has none)."""
    error = aws_error(e)
    return error["code"], error["message"] or str(e), attempt


def assume_with_token(sts, role_arn, token, attempts, delay, sleep=time.sleep, retry=AWS_RETRY):
    """``(error code or None, error message, attempts made)`` of AssumeRoleWithWebIdentity, retried while refused.

    Each attempt is a call under the collection's retry policy (throttling, outages); the attempts here wait out what
    only time cures (IAM's consistency), not what the policy already retried.
    """
    for attempt in range(1, attempts + 1):
        try:
            retry(sts.assume_role_with_web_identity)(RoleArn=role_arn, RoleSessionName=SESSION_NAME, WebIdentityToken=token)
            return None, None, attempt  # the credentials are dropped unread
        except is_boto3_error_code(sorted(PROOF_RETRY_CODES - TRANSIENT_CODES)) as e:  # the policy retried the transient ones
            if attempt == attempts:
                return _refusal(e, attempt)
        except botocore.exceptions.ClientError as e:
            return _refusal(e, attempt)
        except botocore.exceptions.BotoCoreError as e:
            return type(e).__name__, str(e), attempt
        sleep(min(delay * 2 ** (attempt - 1), MAX_DELAY))
    return "NotAttempted", "attempts must be at least 1", 0


ARGUMENT_SPEC = dict(
    namespace=dict(type="str"),
    checks=dict(type="list", elements="dict", required=True, options=dict(
        namespace=dict(type="str"),
        service_account=dict(type="str", required=True),
        role_arn=dict(type="str", required=True),
    )),
    audience=dict(type="str", default=DEFAULT_AUDIENCE),
    token_expiration=dict(type="int", default=600, no_log=False),  # a lifetime, not a secret
    attempts=dict(type="int", default=5),
    delay=dict(type="int", default=4),
    **auth_argument_spec(),  # kubernetes.core's connection options
)


def main():
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    if ApiException is None:
        module.fail_json(msg="the Python library kubernetes is missing: pip install kubernetes (requirements.txt lists it)")
    if params["attempts"] < 1 or params["delay"] < 0 or params["token_expiration"] < MIN_TOKEN_EXPIRATION:
        module.fail_json(msg=f"attempts must be at least 1, delay at least 0, and token_expiration at least {MIN_TOKEN_EXPIRATION} "
                             "seconds (the API server's minimum): fix those options")
    for index, check in enumerate(params["checks"]):
        if not (check["namespace"] or params["namespace"]):
            module.fail_json(msg=f"checks[{index}] ({check['service_account']}): no namespace: give it the check's namespace, "
                                 "or the module's namespace option")
    # AssumeRoleWithWebIdentity is authorised by the token: the request is sent unsigned, with no AWS credentials.
    config = dict(CLIENT_CONFIG, signature_version=botocore.UNSIGNED)
    sts = module.client("sts", config=botocore.config.Config(**config))
    core_api, refusal = None, None
    try:
        core_api = core_v1_api(params)
    except ApiException as e:  # it answered kubernetes.core's first requests with an error (401, 403, ...): no token either
        refusal = f"the Kubernetes API refused the client's first requests (its version and API groups): {e.status} {e.reason}"
    except Exception as e:  # pylint: disable=broad-exception-caught
        module.fail_json(msg=f"could not reach Kubernetes: {e}. Set kubeconfig and context, or host with api_key (or with client_cert "
                             "and client_key), or their K8S_AUTH_* variables (K8S_AUTH_KUBECONFIG, K8S_AUTH_HOST, ...)")

    findings, tokens = [], {}  # (namespace, ServiceAccount) -> (token, why there is none)
    for check in params["checks"]:
        namespace, name = check["namespace"] or params["namespace"], check["service_account"]
        if (namespace, name) not in tokens:
            tokens[namespace, name] = (None, refusal) if refusal else token_or_refusal(
                core_api, namespace, name, params["audience"], params["token_expiration"])
        token, why = tokens[namespace, name]
        if token is None:
            findings.append(token_proof_finding(namespace, name, check["role_arn"], "TokenRequestFailed", why, 0))
            continue
        code, message, attempts = assume_with_token(sts, check["role_arn"], token, params["attempts"], params["delay"])
        findings.append(token_proof_finding(namespace, name, check["role_arn"], code, message, attempts))
    tokens.clear()
    module.exit_json(changed=False, findings=findings, error_count=sum(1 for f in findings if f["severity"] == "error"))


if __name__ == "__main__":
    main()

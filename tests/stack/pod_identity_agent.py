# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The EKS Pod Identity Agent of one cluster, on 127.0.0.1: what a pod's SDK reaches through its container credential
provider.

In EKS the agent runs on every node at ``169.254.170.23``. A pod whose ServiceAccount has an association gets
``AWS_CONTAINER_CREDENTIALS_FULL_URI`` (the agent's ``/v1/credentials``) and ``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE``
(a token of its ServiceAccount for the audience ``pods.eks.amazonaws.com``). The SDK sends the file's content as the
``Authorization`` header; the agent calls ``eks-auth:AssumeRoleForPodIdentity`` with it and answers the credentials in
the container provider's format (``AccessKeyId``, ``SecretAccessKey``, ``Token``, ``Expiration``). Here it calls the
stack's eks-auth (the proxy, :mod:`tests.stack.eks_pod_identity`), and a refusal is answered with the status and the
error eks-auth gave, as the agent passes it on. Not emulated: the agent's cache (it asks eks-auth every time), its IPv6
address, its health endpoints.
"""

from __future__ import annotations

import http.server
import json
import threading

import boto3
import botocore.config
import botocore.exceptions


class PodIdentityAgent:
    """Serves ``GET /v1/credentials`` for pods of ``cluster_name``, asking eks-auth at ``aws_url``."""

    def __init__(self, aws_url, region, cluster_name):
        self.cluster_name = cluster_name
        session, config = boto3.session.Session(), botocore.config.Config(retries={"total_max_attempts": 1})
        keys = {"endpoint_url": aws_url, "region_name": region, "aws_access_key_id": "testing", "aws_secret_access_key": "testing",
                "config": config}
        self._eks_auth, self._eks = session.client("eks-auth", **keys), session.client("eks", **keys)
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1/credentials"
        threading.Thread(target=self._server.serve_forever, name="pod-identity-agent", daemon=True).start()

    def has_association(self, namespace, service_account):
        """Whether the cluster has an association for the ServiceAccount (what EKS's webhook asks before it mutates a pod)."""
        found = self._eks.list_pod_identity_associations(clusterName=self.cluster_name, namespace=namespace,
                                                         serviceAccount=service_account)["associations"]
        return bool(found)

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def credentials(self, token):
        """``(HTTP status, JSON answer)`` for a pod presenting ``token``."""
        try:
            answer = self._eks_auth.assume_role_for_pod_identity(clusterName=self.cluster_name, token=token)
        except botocore.exceptions.ClientError as e:
            error = e.response.get("Error", {})
            return e.response["ResponseMetadata"]["HTTPStatusCode"], {"code": error.get("Code"), "message": error.get("Message")}
        credentials = answer["credentials"]
        return 200, {"AccessKeyId": credentials["accessKeyId"], "SecretAccessKey": credentials["secretAccessKey"],
                     "Token": credentials["sessionToken"], "Expiration": credentials["expiration"].strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "AccountId": answer["assumedRoleUser"]["arn"].split(":")[4]}

    def _handler_class(self):
        agent = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # pylint: disable=redefined-builtin
                """Quiet: it would print nothing secret, but tests read their own output."""

            def do_GET(self):  # pylint: disable=invalid-name
                token = self.headers.get("Authorization") or ""
                status, document = (404, {"message": "not found"}) if self.path != "/v1/credentials" else (
                    (400, {"message": "the Authorization header with the pod's token is missing"}) if not token else agent.credentials(token))
                payload = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler

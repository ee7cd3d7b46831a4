# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What a pod's program does with AWS, run inside :class:`tests.stack.pod.Pod`'s process.

It gets its credentials only from boto3's default credential chain (the pod's environment: ``AWS_ROLE_ARN`` and
``AWS_WEB_IDENTITY_TOKEN_FILE``), and prints one JSON result per step on stdout, never a credential:

- ``identity``: ``sts get-caller-identity`` -> ``{"arn", "account"}``;
- ``call SERVICE OPERATION [JSON parameters]``: one API call -> ``{}``;
- ``assume ROLE_ARN [EXTERNAL_ID]``: ``sts assume-role`` with the pod's credentials (the hub's chain into a spoke),
  then ``get-caller-identity`` with the new ones -> ``{"arn", "account"}``.

A failed step gives ``{"error": code, "operation": name, "message": text}``; the next steps still run.
"""

from __future__ import annotations

import json
import sys

import boto3
import botocore.exceptions


def _failure(error):
    if isinstance(error, botocore.exceptions.ClientError):
        return {"error": error.response.get("Error", {}).get("Code"), "operation": error.operation_name,
                "message": error.response.get("Error", {}).get("Message")}
    return {"error": type(error).__name__, "operation": None, "message": str(error)}


def _identity(sts):
    answer = sts.get_caller_identity()
    return {"arn": answer["Arn"], "account": answer["Account"]}


def run_step(session, step):
    kind, args = step[0], step[1:]
    if kind == "identity":
        return _identity(session.client("sts"))
    if kind == "call":
        service, operation = args[0], args[1]
        getattr(session.client(service), operation)(**(json.loads(args[2]) if len(args) > 2 else {}))
        return {}
    if kind == "assume":
        params = {"RoleArn": args[0], "RoleSessionName": "pod-chain"}
        if len(args) > 1 and args[1]:
            params["ExternalId"] = args[1]
        credentials = session.client("sts").assume_role(**params)["Credentials"]
        chained = boto3.session.Session(aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
                                        aws_session_token=credentials["SessionToken"])
        return _identity(chained.client("sts"))
    raise ValueError(f"unknown step {kind!r}")


def main(argv):
    session = boto3.session.Session()
    for step in json.loads(argv[0]):
        try:
            result = dict(run_step(session, step), step=step[0])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
            result = dict(_failure(e), step=step[0])
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A recording HTTP proxy in front of moto, so tests can count the AWS calls the modules make.

Clients point ``AWS_ENDPOINT_URL`` at the proxy; every request is forwarded unchanged to moto and
logged as ``{"service", "action", "account", "mutating"}``:

- ``service`` comes from the SigV4 credential scope (``Credential=AKID/date/region/<service>/...``);
- ``action`` is the query-protocol ``Action`` (IAM, STS), the ``X-Amz-Target`` operation (JSON
  protocols) or ``METHOD /path`` (REST protocols such as EKS);
- ``account`` is the account the request's access key acts in: the proxy learns it from each
  ``AssumeRole`` response it forwards; other keys act in moto's default account;
- ``mutating`` is False for reads (``Get*``, ``List*``, ``Describe*``, REST ``GET``) and for STS, whose
  calls change no AWS resource.

``GET /_proxy/requests`` returns the log as JSON, ``DELETE /_proxy/requests`` clears it.
Run it with ``python -m tests.stack.aws_proxy --upstream URL [--port N]``; it prints ``READY <url>``.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import re
import signal
import threading
import urllib.parse

MOTO_DEFAULT_ACCOUNT = "123456789012"
READ_PREFIXES = ("Get", "List", "Describe")
_CREDENTIAL_RE = re.compile(r"Credential=([^/,\s]+)/[^/]+/[^/]+/([^/]+)/")
_ASSUMED_KEY_RE = re.compile(r"<AccessKeyId>([^<]+)</AccessKeyId>")
_ASSUMED_ARN_RE = re.compile(r"<Arn>arn:[^:]+:sts::(\d{12}):assumed-role/")
# Hop-by-hop headers are not forwarded (RFC 9110 section 7.6.1).
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"}


def classify(method, path, headers, body):
    """Return ``(service, access_key, action)`` for one signed AWS request."""
    match = _CREDENTIAL_RE.search(headers.get("Authorization", ""))
    access_key, service = match.groups() if match else ("", "unknown")
    target = headers.get("X-Amz-Target")
    if target:
        return service, access_key, target.rsplit(".", 1)[-1]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    if "Action" not in query and headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
        query = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
    if "Action" in query:
        return service, access_key, query["Action"][0]
    return service, access_key, f"{method} {urllib.parse.urlsplit(path).path}"


def is_mutating(service, action):
    """True when the call may change AWS state (what an idempotent re-run must not send)."""
    if service == "sts":
        return False
    if " " in action:  # a REST call, "METHOD /path"
        return not action.startswith(("GET ", "HEAD "))
    return not action.startswith(READ_PREFIXES)


class RecordingProxy:
    """Forwards to ``upstream`` (a moto server URL) and records every request."""

    def __init__(self, upstream, host="127.0.0.1", port=0):
        self.upstream = urllib.parse.urlsplit(upstream)
        self._lock = threading.Lock()
        self._requests = []
        self._key_accounts = {}
        self._server = http.server.ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = None

    @property
    def url(self):
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        self._thread = threading.Thread(target=self._server.serve_forever, name="aws-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def requests(self):
        with self._lock:
            return list(self._requests)

    def reset_requests(self):
        with self._lock:
            self._requests.clear()

    def _record(self, service, access_key, action):
        with self._lock:
            account = self._key_accounts.get(access_key, MOTO_DEFAULT_ACCOUNT)
            self._requests.append(dict(service=service, action=action, account=account,
                                       mutating=is_mutating(service, action)))

    def _learn_credentials(self, response_body):
        """Remember which account the keys returned by an AssumeRole act in."""
        text = response_body.decode("utf-8", "replace")
        key, arn = _ASSUMED_KEY_RE.search(text), _ASSUMED_ARN_RE.search(text)
        if key and arn:
            with self._lock:
                self._key_accounts[key.group(1)] = arn.group(1)

    def _forward(self, method, path, headers, body):
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=120)
        try:
            forwarded = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
            connection.request(method, path, body=body or None, headers=forwarded)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def _handler_class(self):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # pylint: disable=redefined-builtin
                """Quiet: the request log is the record."""

            def _reply(self, status, headers, body):
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _control(self):
                if self.command == "DELETE":
                    proxy.reset_requests()
                body = json.dumps(proxy.requests()).encode()
                self._reply(200, [("Content-Type", "application/json")], body)

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path.startswith("/_proxy/requests"):
                    self._control()
                    return
                service, access_key, action = classify(self.command, self.path, self.headers, body)
                proxy._record(service, access_key, action)
                status, headers, payload = proxy._forward(self.command, self.path, dict(self.headers.items()), body)
                if action == "AssumeRole" and status == 200:
                    proxy._learn_credentials(payload)
                self._reply(status, headers, payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

        return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="moto server URL")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    proxy = RecordingProxy(args.upstream, port=args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    proxy.start()
    print(f"READY {proxy.url}", flush=True)
    stop.wait()
    proxy.stop()


if __name__ == "__main__":
    main()

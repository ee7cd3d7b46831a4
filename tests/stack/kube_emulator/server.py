# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The HTTP server (threads, keep-alive, no Nagle delay), the ``/_emulator/`` test hooks and ``KubeEmulator``."""

from __future__ import annotations

import copy
import json
import os
import re
import socketserver
import ssl
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import parse_qs, urlsplit

import yaml

from tests.stack.kube_emulator.api import Api, Request, Response, is_dry_run
from tests.stack.kube_emulator.resources import ApiError, bad_request, path_not_found
from tests.stack.kube_emulator.store import Store
from tests.stack.oidc import TokenIssuer


DEBUG_ENV = "KUBE_EMULATOR_DEBUG"
MUTATING_METHODS = ("POST", "PUT", "PATCH", "DELETE")
# A TokenRequest is a POST that stores nothing: it is logged as a read.
_TOKEN_REQUEST = re.compile(r"^/api/v1/namespaces/[^/]+/serviceaccounts/[^/]+/token$")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "kube-emulator"
    sys_version = ""
    timeout = 300  # idle keep-alive connections give up their thread after this
    # Headers and body go out in two writes: with Nagle's algorithm on, the body waits for the client's delayed
    # ACK, about 40 ms on every request. The apiserver (Go) sends without that delay; so does the emulator.
    disable_nagle_algorithm = True

    def do_GET(self):
        self._handle()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        if os.environ.get(DEBUG_ENV) == "1":
            headers = getattr(self, "headers", None) or {}  # unset when the request line did not parse
            super().log_message(format + " (Content-Type: %s, Accept: %s)", *args, headers.get("Content-Type"), headers.get("Accept"))

    def _handle(self) -> None:
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query, keep_blank_values=True).items()}
        emulator = self.server.emulator
        try:
            body = self._read_body()
            document = emulator.tokens.document(url.path.rstrip("/")) if self.command in ("GET", "HEAD") else None
            if url.path.startswith("/_emulator/"):
                response = emulator.control(self.command, url.path, body)
            elif document is not None:  # the issuer's OIDC documents: what STS fetches, not an API request
                response = Response(200, document)
            else:
                emulator.record(self.command, url.path, query, body, self.headers.get("Authorization"))
                response = emulator.api.handle(Request(self.command, url.path, query, body, self.headers))
        except ApiError as err:
            response = Response(err.code, err.status())
        except Exception as err:  # an emulator bug: answer like the apiserver would, keep serving
            traceback.print_exc(file=sys.stderr)
            response = Response(500, ApiError(500, "InternalError", f"kube emulator error: {err!r}").status())
        try:
            self._send(response)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _read_body(self) -> bytes:
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if not size:
                    self.rfile.readline()  # the empty line after the last chunk
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = self.headers.get("Content-Length") or "0"
        if not length.isdigit():
            raise bad_request("invalid Content-Length")
        return self.rfile.read(int(length)) if int(length) else b""

    def _send(self, response: Response) -> None:
        payload = response.body if isinstance(response.body, bytes) else json.dumps(response.body).encode()
        self.send_response(response.code)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple, emulator: "KubeEmulator"):
        self.emulator = emulator
        super().__init__(address, _Handler)

    def server_bind(self):
        # HTTPServer.server_bind looks up the host's FQDN, which can stall on a resolver; we need no name
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        # a client hanging up abruptly is normal; anything else is a bug worth a traceback
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class KubeEmulator:
    """The emulator: ``start()`` serves in a daemon thread, ``stop()`` ends it.

    ``requests`` is the log of API requests (``/_emulator/`` calls excluded), ``objects()`` a
    snapshot of everything stored; both exist so tests can prove what was (not) written.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, tls: Optional[tuple] = None, issuer: Optional[str] = None):
        self.host = host
        self.port = port
        self.tls = tls  # (certificate file, key file): serve https instead of http
        self.store = Store()
        # The cluster's ServiceAccount token issuer: the EKS cluster's OIDC issuer URL once known, the emulator's URL until then.
        self.tokens = TokenIssuer(issuer or f"http://{host}:{port}")
        self._issuer_given = issuer is not None
        self.api = Api(self.store, f"{host}:{port}", self.tokens)
        self._requests: list = []
        self._requests_lock = threading.Lock()
        self.kubeconfig: Optional[str] = None  # the last path write_kubeconfig() wrote
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    def start(self) -> "KubeEmulator":
        self._server = _Server((self.host, self.port), self)
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self.api.address = f"{self.host}:{self.port}"
        if not self._issuer_given:
            self.tokens.issuer = self.url
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="kube-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> "KubeEmulator":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def requests(self) -> list:
        """A copy of the request log: ``{"method", "path", "query", "mutating", "dry_run", "token"}`` dicts (``token``: the
        bearer token the client sent, or None)."""
        with self._requests_lock:
            return copy.deepcopy(self._requests)

    def reset_requests(self) -> None:
        with self._requests_lock:
            self._requests.clear()

    def objects(self) -> list:
        """A deep-copied snapshot of every stored object, in storage-key order."""
        return self.store.snapshot()

    def record(self, method: str, path: str, query: dict, body: bytes, authorization: Optional[str] = None) -> None:
        try:
            dry_run = is_dry_run(query, body if method == "DELETE" else b"")
        except ApiError:
            dry_run = False
        token = authorization[len("Bearer "):] if (authorization or "").startswith("Bearer ") else None
        mutating = method in MUTATING_METHODS and not _TOKEN_REQUEST.match(path)
        entry = {"method": method, "path": path, "query": dict(query), "mutating": mutating, "dry_run": dry_run, "token": token}
        with self._requests_lock:
            self._requests.append(entry)

    def control(self, method: str, path: str, body: bytes = b"") -> Response:
        """The ``/_emulator/`` test hooks (``/_emulator/issuer``: GET it, PUT ``{"issuer": URL}`` to set the tokens' issuer)."""
        if path == "/_emulator/issuer" and method == "PUT":
            try:
                issuer = json.loads(body or b"{}").get("issuer")
            except (ValueError, AttributeError):
                issuer = None
            if not isinstance(issuer, str) or not issuer.startswith(("https://", "http://")):
                raise bad_request('PUT /_emulator/issuer takes {"issuer": "https://..."}')
            self.tokens.issuer = issuer
            self._issuer_given = True
        if path == "/_emulator/issuer" and method in ("GET", "PUT"):
            return Response(200, {"issuer": self.tokens.issuer, "keys": self.tokens.keys()})
        if path == "/_emulator/requests" and method == "GET":
            return Response(200, self.requests)
        if path == "/_emulator/requests" and method == "DELETE":
            self.reset_requests()
            return Response(200, [])
        if path == "/_emulator/objects" and method == "GET":
            return Response(200, self.objects())
        raise path_not_found()

    def write_kubeconfig(self, path: str, namespace: str = "default", context: str = "local",
                         certificate_authority: Optional[str] = None) -> str:
        """Write a kubeconfig for this emulator (a dummy token; over TLS, ``certificate_authority`` is the CA file that
        signed its certificate) and return its path."""
        cluster = dict({"server": self.url}, **({"certificate-authority": certificate_authority} if certificate_authority else {}))
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [{"name": context, "cluster": cluster}],
            "users": [{"name": context, "user": {"token": "kube-emulator"}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context, "namespace": namespace}}],
            "current-context": context,
        }
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(config, handle, sort_keys=False)
        self.kubeconfig = path
        return path

# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A cluster's ServiceAccount token issuer: its signing key, its tokens, and the OIDC documents STS reads.

Each Kubernetes emulator (one per cluster) holds one :class:`TokenIssuer`. Its tokens are what the API server's
TokenRequest API gives a pod: RS256 JWTs whose ``iss`` is the cluster's OIDC issuer URL, ``sub``
``system:serviceaccount:<namespace>:<name>``, ``aud`` the audiences asked for, ``iat`` / ``nbf`` / ``exp``, and the
``kubernetes.io`` claims naming the ServiceAccount (and the pod a token is bound to). The key ID (``kid``) is the
key's RFC 7638 thumbprint, as kube-apiserver derives it.

EKS serves the issuer's discovery document at ``<issuer>/.well-known/openid-configuration`` and its keys at
``<issuer>/keys``; :meth:`TokenIssuer.document` answers both paths. The signing uses joserfc, a maintained JOSE
library, not code of ours.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
import uuid

from joserfc import jwk, jwt

DISCOVERY_PATH = "/.well-known/openid-configuration"
KEYS_PATH = "/keys"
# kube-apiserver's own paths for the same documents (service account issuer discovery).
APISERVER_DISCOVERY_PATH, APISERVER_KEYS_PATH = "/.well-known/openid-configuration", "/openid/v1/jwks"
MIN_EXPIRATION = 600  # the API server refuses a shorter TokenRequest


def unverified_claims(token):
    """A JWT's claims before its signature is checked (its ``iss`` says whose keys verify it); ValueError when ``token`` is
    no JWT with an issuer."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (AttributeError, IndexError, ValueError) as e:
        raise ValueError(f"not a JWT: {e}") from e
    if not isinstance(claims, dict) or not isinstance(claims.get("iss"), str):
        raise ValueError("not a JWT with an issuer")
    return claims


def new_key():
    """A fresh RSA signing key whose ``kid`` is its thumbprint."""
    key = jwk.RSAKey.generate_key(2048, private=True)
    return jwk.RSAKey.import_key(key.as_dict(private=True), {"kid": key.thumbprint(), "use": "sig", "alg": "RS256"})


def sign(key, claims):
    """``claims`` as an RS256 JWT signed by ``key``, with its ``kid`` in the header."""
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


class TokenIssuer:
    """Signs a cluster's ServiceAccount tokens and serves its discovery document and keys."""

    def __init__(self, issuer, key=None):
        self._lock = threading.Lock()
        self._issuer = issuer.rstrip("/")
        self.key = key or new_key()

    @property
    def issuer(self):
        with self._lock:
            return self._issuer

    @issuer.setter
    def issuer(self, value):
        with self._lock:
            self._issuer = value.rstrip("/")

    def claims(self, namespace, name, uid, audiences, expiration, now=None, pod=None):
        """The claims of a token for ServiceAccount ``namespace/name`` (``pod``: ``{"name", "uid"}`` it is bound to)."""
        issued = int(time.time() if now is None else now)
        kubernetes = {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}}
        if pod:
            kubernetes["pod"] = {"name": pod["name"], "uid": pod["uid"]}
        return {"aud": list(audiences), "exp": issued + int(expiration), "iat": issued, "nbf": issued, "iss": self.issuer,
                "jti": str(uuid.uuid4()), "kubernetes.io": kubernetes, "sub": f"system:serviceaccount:{namespace}:{name}"}

    def token(self, namespace, name, uid, audiences, expiration, now=None, pod=None):
        """``(token, expiry as a Unix time)`` for ServiceAccount ``namespace/name``."""
        claims = self.claims(namespace, name, uid, audiences, expiration, now, pod)
        return sign(self.key, claims), claims["exp"]

    def discovery(self):
        issuer = self.issuer
        return {"issuer": issuer, "jwks_uri": issuer + KEYS_PATH, "authorization_endpoint": "urn:kubernetes:programmatic_authorization",
                "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
                "claims_supported": ["sub", "iss"], "id_token_signing_alg_values_supported": ["RS256"]}

    def keys(self):
        return {"keys": [self.key.as_dict(private=False)]}

    def document(self, path):
        """The document served at ``path`` (the issuer's own paths, or the API server's), or None."""
        issuer_path = urllib.parse.urlsplit(self.issuer).path.rstrip("/")
        if path in (issuer_path + DISCOVERY_PATH, APISERVER_DISCOVERY_PATH):
            return self.discovery()
        if path in (issuer_path + KEYS_PATH, APISERVER_KEYS_PATH):
            return self.keys()
        return None

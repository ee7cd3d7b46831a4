# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A small, stateful Kubernetes API emulator for local tests.

No kube-apiserver can run in this project's test environment, so this package serves just
enough of the core/v1 API for ``kubectl`` and the ``kubernetes.core`` collection (``k8s``,
``k8s_info``: the Python ``kubernetes`` client and its dynamic client) to work unmodified.

What is served (plain HTTP, 127.0.0.1 only, any or no bearer token):

* Discovery: ``/version``, ``/api``, ``/api/v1``, ``/apis`` (no groups), ``/openapi/v2`` and
  ``/openapi/v3`` (minimal documents, enough for ``kubectl apply`` to run with its default
  ``--validate=strict``: they advertise server-side field validation, so kubectl validates nothing
  client-side), ``/healthz``, ``/livez``, ``/readyz``.
* Resources from the ``RESOURCES`` table: ``namespaces``, ``serviceaccounts`` and ``pods``. A new
  kind is one table entry.
* Verbs: get, list (``labelSelector`` with the full set-based syntax, ``fieldSelector`` on the
  fields the table allows, ``limit``/``continue``, cluster-wide lists of namespaced resources),
  create (``generateName`` too), update (PUT, optimistic concurrency on
  ``metadata.resourceVersion``), patch (JSON patch, merge patch, strategic merge patch,
  server-side apply), delete (``preconditions`` honoured) and deletecollection.
* The TokenRequest subresource (``POST .../serviceaccounts/<name>/token``) of an existing ServiceAccount: an RS256
  JWT signed by the emulator's own key for its issuer (the EKS cluster's, set with ``--issuer`` or
  ``PUT /_emulator/issuer``), with the audiences and lifetime asked for (at least 600 s, default 3600 s), as
  :mod:`tests.stack.oidc` makes them; nothing is stored, and the request log marks it as no write. The issuer's
  discovery document and keys are served at ``<issuer path>/.well-known/openid-configuration`` and
  ``<issuer path>/keys`` (as EKS serves them) and at the API server's own ``/.well-known/openid-configuration`` and
  ``/openid/v1/jwks``, outside the request log.
* ``dryRun=All`` on every write (for DELETE also ``"dryRun": ["All"]`` in DeleteOptions): the
  response is what the write would return (a dry-run create has no resourceVersion, as in
  Kubernetes), nothing is stored and the resourceVersion counter does not move. This is what
  makes Ansible check mode exact.
* A write that changes nothing (same content, same managed fields) stores nothing and returns the
  object with its old resourceVersion, like the real apiserver, so clients report "unchanged".
* Server-set fields: ``uid``, ``creationTimestamp``, ``resourceVersion`` (one global counter),
  ``generation`` (kinds flagged in the table), ``managedFields`` (the manager is the
  ``fieldManager`` parameter, else the User-Agent's product name, as in Kubernetes), namespace label
  ``kubernetes.io/metadata.name``, namespace ``spec.finalizers`` and ``status.phase``.
* Default state: namespaces ``default``, ``kube-system`` and ``kube-public``; every namespace,
  including new ones, gets a ``default`` ServiceAccount (what the real controller does).
* Test hooks, outside the API space: ``GET /_emulator/requests`` (request log),
  ``DELETE /_emulator/requests`` (reset it), ``GET /_emulator/objects`` (stored objects), ``GET`` / ``PUT``
  ``/_emulator/issuer`` (the tokens' issuer and public keys).

Known limits (what it does NOT emulate):

* No authentication or authorisation, no TLS, no admission (webhooks, quotas, limit ranges,
  pod security), no schema validation beyond names, kinds, labels and annotations
  (``fieldValidation`` is accepted and ignored, so unknown fields are stored as sent), no OpenAPI
  schemas (``kubectl explain`` shows no fields), no defaulting of pod specs.
* Only core/v1 (``/apis`` lists no groups), no subresources but ``token`` (no ``status``, ``finalize``,
  ``log``, ``exec``...), no aggregated discovery. Tokens are not bound to a pod's lifetime and cannot be revoked.
* No watch: ``?watch=true`` gets 405 and no kind lists the ``watch`` verb, so ``kubectl get -w``
  and ``kubectl wait`` fail. ``kubectl delete`` still waits for the deletion: it reads the object
  back, and deleting is immediate here.
* Answers are JSON (the empty ``/openapi/v2`` also comes as protobuf: ``kubectl apply`` asks for
  it so), never a server-side ``Table`` (``Accept: ...;as=Table``): kubectl's default ``get`` output
  then shows NAME and AGE only. Request bodies are JSON or YAML; protobuf and CBOR bodies get 415,
  so the commands of kubectl's typed clients (``kubectl create namespace|serviceaccount``) fail:
  ``kubectl apply -f`` does the same job.
* No controllers beyond the default ServiceAccount: pods are stored, never scheduled (their
  ``status.phase`` stays ``Pending``), so waiting for a pod condition times out.
* No garbage collection, finalizers or graceful deletion: deleting an object removes it at once;
  deleting a namespace removes it and every namespaced object in it immediately (the response
  still shows the namespace ``Terminating``, as the real API does). So ``kubectl delete -f`` of a
  file listing a Namespace before its objects reports NotFound for those objects, where a real
  cluster would still have them while the namespace terminates.
* Strategic merge patch and server-side apply are approximations, without the kinds' schemas:
  see :mod:`.patch` and :mod:`.managed_fields` for what they do.
* Everything lives in memory behind one lock; the store is lost when the process ends.

Modules: :mod:`.resources` (the kinds, the API errors), :mod:`.selectors`, :mod:`.patch`,
:mod:`.managed_fields` (field ownership, server-side apply), :mod:`.store` (objects and verbs),
:mod:`.api` (discovery and routing), :mod:`.server` (HTTP, test hooks, ``KubeEmulator``).

In-process use (``KubeEmulator``)::

    with KubeEmulator() as emulator:      # or .start() / .stop(); 127.0.0.1, a free port
        emulator.write_kubeconfig(path)    # plain-http server URL, a dummy token
        ...                                # .url, .requests, .reset_requests(), .objects()

Run it standalone from the repository root::

    python -m tests.stack.kube_emulator [--port 8001] [--kubeconfig /tmp/kubeconfig]

It prints ``READY <url>`` once listening (on a free port unless ``--port`` is given) and serves
until SIGTERM or SIGINT. Set ``KUBE_EMULATOR_DEBUG=1`` to log every request to stderr.
"""

from tests.stack.kube_emulator.server import KubeEmulator

__all__ = ["KubeEmulator"]

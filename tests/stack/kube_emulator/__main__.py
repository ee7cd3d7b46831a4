# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""``python -m tests.stack.kube_emulator``: serve the emulator until SIGTERM or SIGINT (see the package docstring)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Optional

from tests.stack.kube_emulator.server import KubeEmulator


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.stack.kube_emulator", description="Serve the Kubernetes API emulator.")
    parser.add_argument("--port", type=int, default=0, help="port to listen on, on 127.0.0.1 (default: a free one)")
    parser.add_argument("--kubeconfig", help="also write a kubeconfig for the emulator to this path")
    parser.add_argument("--namespace", default="default", help="namespace of the kubeconfig's context (default: %(default)s)")
    parser.add_argument("--tls-cert", help="serve https with this certificate (PEM; --tls-key gives its key)")
    parser.add_argument("--tls-key", help="the private key of --tls-cert (PEM)")
    parser.add_argument("--issuer", help="the OIDC issuer URL of the cluster's ServiceAccount tokens (default: the emulator's URL)")
    parser.add_argument("--tls-ca", help="the CA certificate that signed --tls-cert, for the kubeconfig to trust")
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")

    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_args: stopping.set())
    tls = (args.tls_cert, args.tls_key) if args.tls_cert else None
    emulator = KubeEmulator(port=args.port, tls=tls, issuer=args.issuer).start()
    try:
        if args.kubeconfig:
            emulator.write_kubeconfig(args.kubeconfig, args.namespace, certificate_authority=args.tls_ca)
        print(f"READY {emulator.url}", flush=True)
        while not stopping.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

# -*- coding: utf-8 -*-
# Copyright: torque.eks_irsa contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the stack's own tests."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.stack.local_stack import _wait_http, free_port


@pytest.fixture(scope="module")
def moto_url():
    """A ``moto_server`` on a free port for one test module (AWS managed policies not loaded)."""
    port = free_port()
    moto = os.path.join(os.path.dirname(sys.executable), "moto_server")
    process = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_http(url + "/moto-api/data.json", process, "moto_server")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)

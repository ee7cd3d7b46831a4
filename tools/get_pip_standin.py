#!/usr/bin/env python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline stand-in for the pip bootstrap script that ansible-test downloads.

ansible-test runs this file with get-pip's arguments (pip options plus ``pip==<version>``) inside a
fresh virtual environment. We bootstrap pip from the interpreter's bundled wheel with ensurepip, run
in a subprocess so that pip keeps reading the machine's pip configuration (CA bundle, index), then
let that pip install what was asked for from the configured package index.
"""

import subprocess
import sys

GET_PIP_ONLY_OPTIONS = {"--no-setuptools", "--no-wheel"}


def main():
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)


if __name__ == "__main__":
    main()

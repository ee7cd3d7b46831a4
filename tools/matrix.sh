#!/usr/bin/env bash
# The ansible-core matrix: every ansible-core that meta/runtime.yml claims, each with the amazon.aws and
# kubernetes.core its `ansible` bundle ships. The collection is built with `ansible-galaxy collection build` and
# installed from the tarball into each cell's collections path, as a user installs it; then each cell runs the unit
# tests (from the installed copy, on the cell's Python) and the integration subset marked `matrix` (the cell's
# ansible-playbook against the local stack; the test tools are .venv's).
#   tools/matrix.sh [CELL...]     (default: every cell)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# A Python of pyenv's (this machine's kind has 3.11 and 3.13 there), else one on PATH.
pyenv_python() {
    local p
    p=$(pyenv root 2>/dev/null)/versions/$1/bin/python3
    if [[ -x $p ]]; then echo "$p"; else command -v "python${1%.*}"; fi
}

# name, Python, ansible-core, the `ansible` bundle whose amazon.aws and kubernetes.core the cell uses
declare -A CELLS=(
    [core217]="$(pyenv_python 3.11.7) 2.17.14 12.3.0"
    [core218]="$(pyenv_python 3.11.7) 2.18.19 12.3.0"
    [core219]="$(pyenv_python 3.11.7) 2.19.14 12.3.0"
    [core220]="$(pyenv_python 3.12.1) 2.20.10 13.8.0"
    [core221]="$(pyenv_python 3.13.0) 2.21.5 14.5.0"
)
ORDER=(core217 core218 core219 core220 core221)
selected=("$@")
[[ ${#selected[@]} -gt 0 ]] || selected=("${ORDER[@]}")

dist=$root/.build/dist
rm -rf "$dist"
.venv/bin/ansible-galaxy collection build --force --output-path "$dist" . >/dev/null
tarball=$(ls "$dist"/torque-eks_irsa-*.tar.gz)

failed=()
for name in "${selected[@]}"; do
    read -r python core bundle <<<"${CELLS[$name]}"
    tools/matrix-venv.sh "$name" "$python" "$core" "$bundle"
    cell=$root/.build/matrix/$name
    rm -rf "$cell/collections/ansible_collections/torque"
    "$cell/venv/bin/ansible-galaxy" collection install --offline --no-deps -p "$cell/collections" "$tarball" >/dev/null
    installed=$cell/collections/ansible_collections/torque/eks_irsa
    started=$SECONDS
    printf '\033[1m==> %s: %s, %s\033[0m\n' "$name" "$("$cell/venv/bin/ansible" --version | sed -n 1p)" "$("$cell/venv/bin/python" -V)"
    if (cd "$installed" && PYTHONPATH=$cell/collections "$cell/venv/bin/python" -m pytest tests/unit -q -p no:cacheprovider) &&
        EKS_IRSA_TEST_ANSIBLE_BIN=$cell/venv/bin ANSIBLE_COLLECTIONS_PATH=$cell/collections \
            .venv/bin/pytest tests/integration -m matrix -q; then
        printf '\033[1m==> %s passed in %d s\033[0m\n' "$name" $((SECONDS - started))
    else
        failed+=("$name")
    fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "matrix cells failed: ${failed[*]}" >&2
    exit 1
fi

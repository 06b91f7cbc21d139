# Sourced by serve.sh and test.sh: make .venv with a Python pjsua2-python has wheels
# for (3.11 or 3.12) and install the project into it when pyproject.toml changed.
find_python() {
    for candidate in python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
           "$candidate" -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] <= (3, 12)))'; then
            echo "$candidate"
            return 0
        fi
    done
    echo "Headset needs Python 3.11 or 3.12 (pjsua2-python has wheels only up to 3.12)." >&2
    return 1
}

ensure_venv() {  # $1: pip extras, e.g. "[test]" or ""
    local extras="$1"
    local stamp=".venv/.installed$extras"
    if [ ! -x .venv/bin/python ]; then
        "$(find_python)" -m venv .venv
    fi
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        .venv/bin/python -m pip install --quiet --upgrade pip
        .venv/bin/python -m pip install --quiet -e ".$extras"
        touch "$stamp"
    fi
}

# Sourced by the other .ci scripts: activates the Python environment the project is installed in:
# the active virtual environment if there is one, otherwise .venv in the repository (made here if
# absent). A system Python is never installed into (Debian 12 refuses it: externally managed).
if [ -z "${VIRTUAL_ENV:-}" ]; then
  if [ ! -x .venv/bin/python3 ]; then
    python3 -m venv .venv
  fi
  # shellcheck disable=SC1091
  . .venv/bin/activate
fi

# Sourced by the other .ci scripts: activates the Python environment the project is installed in.
# The active virtual environment if there is one; otherwise .venv in the repository, made here if
# absent. It sees the system's site-packages, so a torch installed beforehand (e.g. a CUDA build)
# is used instead of another download.
if [ -z "${VIRTUAL_ENV:-}" ]; then
  if [ ! -x .venv/bin/python3 ]; then
    python3 -m venv --system-site-packages .venv
  fi
  # shellcheck disable=SC1091
  . .venv/bin/activate
fi

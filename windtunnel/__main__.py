"""`python -m windtunnel ...` is the `windtunnel` command."""

import sys

from windtunnel.cli import entry

sys.exit(entry())

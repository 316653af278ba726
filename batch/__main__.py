"""``python -m batch`` is the same program as the installed command."""

from __future__ import annotations

from batch._cli import main
from batch._version import distribution

if __name__ == "__main__":
    main(prog_name=distribution()[0])

"""``python -m batch`` is the same program as the installed command."""

from __future__ import annotations

from batch._distribution import distribution
from batch.cli import main

if __name__ == "__main__":
    main(prog_name=distribution()[0])

"""`python -m tunesmith ...` (and `torchrun -m tunesmith train ...`) run the CLI."""

from tunesmith.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

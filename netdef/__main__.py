"""``python -m netdef``: the command line."""

from netdef.cli import main

if __name__ == "__main__":
    main()

"""``python -m reconciler`` is the same as the ``sepm-reconciler`` command."""

from reconciler.cli import main

if __name__ == "__main__":
    main()

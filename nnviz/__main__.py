"""``python -m nnviz`` is the ``nnviz`` command."""

from nnviz.cli import main

if __name__ == "__main__":
    main()

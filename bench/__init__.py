"""nnviz benchmarks: `python -m bench` runs the layout benchmark (see bench/__main__.py)."""

"""The HTML viewer's stage between layout and rendering (see nnviz.viewer.page)."""

"""Sphinx configuration: the Markdown pages of docs/ through MyST.

    pip install '.[docs]' && sphinx-build -b html docs docs/_build/html
"""

project = "taskletsim"
author = "taskletsim developers"
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
html_theme = "alabaster"
myst_heading_anchors = 3

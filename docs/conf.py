"""Sphinx configuration: the Markdown pages of docs/ through MyST, the API from docstrings.

    pip install '.[docs]' && sphinx-build -W -b html docs docs/_build/html
"""

from importlib.metadata import version as _version

project = "taskletsim"
author = "taskletsim developers"
release = _version("taskletsim")
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = f"taskletsim {release}"
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}

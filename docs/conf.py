"""Sphinx configuration: Markdown pages (MyST), autodoc for the library, no network."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE.parent), str(HERE / "_ext")]

project = "voiced"
author = "the voiced authors"
copyright = "the voiced authors"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinxcontrib_trio",
    "voiced_reference",
]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "_generated", ".venv"]
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3
suppress_warnings = ["myst.xref_missing"]  # README-style links to files outside the site
html_theme = "furo"
html_title = "voiced"

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_type_aliases = {"ClientEvent": "ClientEvent", "ServerEvent": "ServerEvent"}
nitpicky = True
# No intersphinx (the build needs no network): names from other projects are not links.
nitpick_ignore_regex = [
    ("py:class", r"(anyio|collections\.abc|contextlib|pathlib|trio|typing)\..*"),
    ("py:class", r"voiced\.simulator\.(script|faults|recorder)\..*"),
    ("py:mod", r"voiced\.simulator\.faults"),
    ("py:class", r"(ClientEvent|ServerEvent|Options|AsyncIterator|Sequence|TaskStatus)"),
    ("py:class", r"voiced\.(realtime|client\.options)\..*"),
]
smartquotes = False  # "manual" in a summary is a value to type, not prose

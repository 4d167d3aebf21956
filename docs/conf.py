"""Sphinx configuration of wsproto_lite's documentation site.

``python3 dev.py docs`` builds it into ``docs/_build/html``; the test
command builds it with every warning an error (``tests/test_docs_site.py``).
"""

from __future__ import annotations

import importlib
from typing import Any

from docutils import nodes  # type: ignore[import-untyped]
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util.nodes import make_refnode

import wsproto_lite

project = "wsproto_lite"
author = "the wsproto_lite developers"
copyright = "2026, the wsproto_lite developers"
release = version = wsproto_lite.__version__

extensions = [
    "myst_parser",  # the pages are Markdown
    "sphinx.ext.autodoc",  # the reference, from the docstrings
    "sphinx.ext.graphviz",  # the state diagram of topics/states.md
]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
root_doc = "index"

# Every cross-reference must resolve: a name the reference does not
# document, or a link to a page or heading that does not exist, is a warning,
# and the test command turns warnings into errors.
nitpicky = True
myst_heading_anchors = 3

autodoc_typehints = "signature"
autodoc_member_order = "bysource"
autodoc_preserve_defaults = True
autodoc_default_options = {"members": True}
# The site is built without a network, so Python's own documentation is not
# linked: the standard library's names in signatures are left as plain text.
nitpick_ignore_regex = [
    ("py:(class|obj|exc|data)", r"(bytes|bytearray|memoryview|str|int|float|bool|object|type|None)"),
    ("py:(class|obj|exc|data)", r"(ValueError|Exception|KeyError|TypeError)"),
    ("py:(class|obj|data)", r"(collections\.abc|typing|asyncio|ssl|enum|zlib)\..*"),
    ("py:(class|obj|data)", r"(Iterable|Iterator|Sequence|Mapping|Any|Self|Unpack|Literal|TypedDict)"),
    ("py:class", r"(abc\.ABC|uvicorn\..*|Config|ServerState)"),  # uvicorn's own types
    ("py:exc", r"ClientDisconnected"),  # uvicorn's
]

graphviz_output_format = "svg"

html_theme = "furo"
html_title = f"wsproto_lite {release}"


def lookup(path: str) -> object:
    """The object a dotted path names, or ``None``."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            found = getattr(found, name, None)
        return found
    return None


def resolve_short_names(
    app: Sphinx, env: BuildEnvironment, node: nodes.Element, contnode: nodes.TextElement
) -> nodes.Element | None:
    """Resolve a Python name the way a reader means it.

    A docstring says :class:`Connection` wherever it is; a signature names
    the class where it is defined (``wsproto_lite.connection.Connection``)
    while the reference documents it where users import it from
    (``wsproto_lite.Connection``).  Either resolves when exactly one
    documented object has that name and, for a dotted path, is the object
    the path names; anything else stays a warning."""
    if node.get("refdomain") != "py" or node.get("refspecific"):
        return None
    target = str(node["reftarget"])
    name = target.rpartition(".")[2] if target.startswith("wsproto_lite.") else target
    domain: Any = env.get_domain("py")
    matches = domain.find_obj(env, node.get("py:module"), node.get("py:class"), name, node["reftype"], 1)
    if name != target:
        wanted = lookup(target)
        matches = [(full, entry) for full, entry in matches if wanted is not None and lookup(full) is wanted]
    # A class documented where it is imported from is also registered under
    # the module that defines it (its canonical name): one place, two names.
    places = {(entry.docname, entry.node_id) for _, entry in matches}
    if len(places) != 1:
        return None
    full, entry = matches[0]
    refnode: nodes.Element = make_refnode(
        app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, full
    )
    return refnode


def setup(app: Sphinx) -> None:
    app.connect("missing-reference", resolve_short_names)

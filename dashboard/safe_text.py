"""Markdown-escaped text for Streamlit elements that always render Markdown (alerts, help)."""

from __future__ import annotations

import re

# CommonMark lets a backslash escape any ASCII punctuation; these are the ones that start a
# link, an image, emphasis, code, HTML, a table, LaTeX ($) or a Streamlit directive (:red[...]).
# Escaping ':' and '.' also breaks GFM's bare-URL autolinks (http://..., www.x.se).
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$])")


def md_escape(text: object) -> str:
    """`text` as literal Markdown: a value like ![x](http://evil/img) shows as typed."""
    return _SPECIAL.sub(r"\\\1", str(text))

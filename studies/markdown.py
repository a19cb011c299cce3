"""Researchers' Markdown, made safe to show participants.

markdown-it renders CommonMark with raw HTML escaped (``html: False``) and refuses
``javascript:`` and similar links; nh3 (Ammonia) then keeps only an allow-list of tags and
attributes, so a page, consent text or question written in the admin can never carry a script
to a participant, whatever the renderer lets through.
"""

from __future__ import annotations

import functools

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

_renderer = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_renderer.enable("table")
_renderer.enable("strikethrough")

TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "em", "strong", "del", "code", "pre",
    "blockquote", "ul", "ol", "li", "a", "img", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}}


# The same texts are shown to every participant of a study: rendered once a process each.
@functools.lru_cache(maxsize=512)
def render(text: str) -> SafeString:
    """Blocks (paragraphs, lists, headings): a page's or a step's text."""
    return _clean(_renderer.render(text or ""))


@functools.lru_cache(maxsize=2048)
def render_inline(text: str) -> SafeString:
    """One line with no paragraph around it: a question, a consent statement, a label."""
    return _clean(_renderer.renderInline(text or ""))


def _clean(html: str) -> SafeString:
    clean = nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(clean)  # sanitised just above

"""Reading Markdown for the checks: code blocks, code spans, links, headings, list items.

The parsing is markdown-it-py's (CommonMark plus GitHub's tables), so a code
span or a link that wraps across lines, a fence inside a list or a heading
inside a code block is read as a Markdown renderer reads it. What is ours is
only the line bookkeeping (markdown-it gives each block its lines; a span's
line is its block's first line plus the line breaks before it) and GitHub's
rule for heading anchors.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

from markdown_it import MarkdownIt
from markdown_it.token import Token

__all__ = ["SHELL_LANGUAGES", "Document", "Heading", "slug"]

#: Fenced blocks in these languages (or none) hold commands a reader types.
SHELL_LANGUAGES = frozenset({"", "sh", "bash", "console", "shell", "shell-session", "zsh"})
_PARSER = MarkdownIt("commonmark").enable("table")
_PROMPT = re.compile(r"^\s*[$>]\s+")


@dataclasses.dataclass(frozen=True)
class Heading:
    """A heading: its 1-based line, level (1 for ``#``) and text as a reader sees it."""

    line: int
    level: int
    text: str


def slug(text: str) -> str:
    """GitHub's anchor for a heading's text: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _plain(inline: Token) -> str:
    """An inline token's text as rendered, without markup (code spans keep their text)."""
    return "".join(
        child.content if child.type in {"text", "code_inline"} else " "
        for child in inline.children or []
        if child.type in {"text", "code_inline", "softbreak", "hardbreak"}
    )


def _with_lines(inline: Token) -> Iterator[tuple[int, Token]]:
    """An inline token's children, each with the 1-based line it starts on.

    A line break is a child of its own (``softbreak``), except inside a code
    span, whose content markdown-it joins with spaces: the span is found in the
    raw text to count the line breaks it swallowed.
    """
    assert inline.map is not None
    raw = inline.content
    line = inline.map[0] + 1
    cursor = 0
    for child in inline.children or []:
        if child.type in {"softbreak", "hardbreak"}:
            line += 1
            cursor = raw.find("\n", cursor) + 1
        yield line, child
        if child.type == "code_inline":
            start = raw.find(child.markup, cursor)
            end = raw.find(child.markup, start + len(child.markup)) if start >= 0 else -1
            if end >= 0:
                line += raw.count("\n", start, end)
                cursor = end + len(child.markup)


class Document:
    """One Markdown text, parsed once; line numbers are 1-based, as an editor shows them."""

    def __init__(self, text: str) -> None:
        self.tokens = _PARSER.parse(text)

    def _inline(self) -> Iterator[tuple[int, Token]]:
        """Every inline child outside code blocks, with the line it starts on."""
        for token in self.tokens:
            if token.type == "inline" and token.map is not None:
                yield from _with_lines(token)

    def shell_lines(self) -> Iterator[tuple[int, str]]:
        """Each line of a shell code block (a ``$`` prompt taken off), with its line."""
        for token in self.tokens:
            if token.type != "fence" or token.map is None:
                continue
            language = token.info.split(maxsplit=1)[0].lower() if token.info.strip() else ""
            if language not in SHELL_LANGUAGES:
                continue
            for offset, line in enumerate(token.content.splitlines(), start=1):
                yield token.map[0] + 1 + offset, _PROMPT.sub("", line)

    def code_spans(self) -> Iterator[tuple[int, str]]:
        """Code spans in prose (a span wrapped over lines is read whole)."""
        for line, child in self._inline():
            if child.type == "code_inline":
                yield line, child.content.strip()

    def links(self) -> Iterator[tuple[int, str]]:
        """The target of each link (not images), with the line the link starts on."""
        for line, child in self._inline():
            if child.type == "link_open":
                yield line, str(child.attrs.get("href", ""))

    def headings(self) -> Iterator[Heading]:
        """The headings, in order (``#`` lines in a code block are not headings)."""
        for index, token in enumerate(self.tokens):
            if token.type == "heading_open" and token.map is not None:
                inline = self.tokens[index + 1]
                yield Heading(token.map[0] + 1, int(token.tag[1:]), _plain(inline).strip())

    def anchors(self) -> set[str]:
        """The ``#anchors`` the headings give, a repeated one numbered as GitHub does."""
        seen: dict[str, int] = {}
        result: set[str] = set()
        for heading in self.headings():
            name = slug(heading.text)
            count = seen.get(name, 0)
            seen[name] = count + 1
            result.add(name if count == 0 else f"{name}-{count}")
        return result

    def section_items(self, title: str) -> list[list[tuple[int, str]]]:
        """The code spans of each top-level list item in the section headed ``title``.

        A nested list belongs to the item it is in; the section ends at the
        next heading of the same or a higher level.
        """
        items: list[list[tuple[int, str]]] = []
        level: int | None = None
        depth = 0
        for index, token in enumerate(self.tokens):
            if token.type == "heading_open":
                heading_level = int(token.tag[1:])
                if level is not None and heading_level <= level:
                    break
                if level is None and _plain(self.tokens[index + 1]).strip() == title:
                    level = heading_level
                continue
            if level is None:
                continue
            if token.type == "list_item_open":
                if depth == 0:
                    items.append([])
                depth += 1
            elif token.type == "list_item_close":
                depth -= 1
            elif token.type == "inline" and depth > 0 and token.map is not None:
                items[-1].extend(
                    (line, child.content.strip())
                    for line, child in _with_lines(token)
                    if child.type == "code_inline"
                )
        return items

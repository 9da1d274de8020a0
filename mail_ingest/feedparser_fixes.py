"""Two costs of the stdlib's email parser that grow with each part and buy nothing,
removed the way CPython removed the first (gh-106628, Python 3.13).

- Per multipart: the parser compiles a regular expression from the part's boundary, a
  new one for every message, as no two boundaries are alike (a tenth of a millisecond).
  Here the boundary is matched as a prefix, then one precompiled expression reads what
  follows it, as Python 3.13 does.
- Per leaf part: to drop the newline that belongs to the next boundary, the parser
  searches its whole encoded payload with an expression anchored at the end. Here the
  search starts where a match can start, two characters before the end.

Together they were a third of reading a message's MIME structure. Both leave every
result as it was (tests/test_feedparser_fixes.py parses the same mail both ways), and each
is applied only where the parser is the one it was written for: the module's expression
for the end of a line, and the exact expression it builds for a boundary.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from email import feedparser
from typing import Any

# What the parser compiles for a boundary (Python up to 3.12): the escaped boundary
# between these two.
_BOUNDARY_HEAD = "(?P<sep>"
_BOUNDARY_TAIL = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
_AFTER_BOUNDARY = re.compile(_BOUNDARY_TAIL[1:])  # Python 3.13's boundaryendRE
_LINE_END = r"(\r\n|\r|\n)\Z"  # the parser's NLCRE_eol


class _BoundaryLine:
    """A boundary's line matcher, as compiled from its pattern, without compiling one."""

    def __init__(self, separator: str) -> None:
        self._separator = separator

    def match(self, line: str) -> re.Match[str] | None:
        if not line.startswith(self._separator):
            return None
        return _AFTER_BOUNDARY.match(line, len(self._separator))


class _Expressions:
    """The `re` module as the parser sees it: a boundary's pattern becomes a _BoundaryLine,
    any other pattern is compiled by `re`."""

    def __getattr__(self, name: str) -> Any:
        return getattr(re, name)

    def compile(self, pattern: Any, flags: int = 0) -> Any:
        if (
            isinstance(pattern, str)
            and not flags
            and pattern.startswith(_BOUNDARY_HEAD)
            and pattern.endswith(_BOUNDARY_TAIL)
        ):
            escaped = pattern[len(_BOUNDARY_HEAD) : -len(_BOUNDARY_TAIL)]
            separator = re.sub(r"\\(.)", r"\1", escaped, flags=re.DOTALL)
            if re.escape(separator) == escaped:
                return _BoundaryLine(separator)
        return re.compile(pattern, flags)


class _LineEnd:
    """NLCRE_eol, searched from where a match can start: a newline just before the end."""

    def __init__(self, expression: re.Pattern[str]) -> None:
        self._expression = expression

    def search(self, text: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        end = min(endpos, len(text))
        return self._expression.search(text, max(pos, end - 2), end)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._expression, name)


def install() -> None:
    """Apply both to email.feedparser, once; a parser unlike the one above is left as is."""
    end = getattr(feedparser, "NLCRE_eol", None)
    if isinstance(end, re.Pattern) and end.pattern == _LINE_END and not end.flags & ~re.UNICODE:
        feedparser.NLCRE_eol = _LineEnd(end)  # type: ignore[attr-defined]
    if getattr(feedparser, "re", None) is re:
        feedparser.re = _Expressions()  # type: ignore[attr-defined]


@contextmanager
def shipped() -> Iterator[None]:
    """email.feedparser as the stdlib ships it, for the length of the block: what the tests
    and bench/mime_parse.py compare the fixes with."""
    fixed = feedparser.re, feedparser.NLCRE_eol  # type: ignore[attr-defined]
    feedparser.re = re  # type: ignore[attr-defined]
    feedparser.NLCRE_eol = re.compile(_LINE_END)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        feedparser.re, feedparser.NLCRE_eol = fixed  # type: ignore[attr-defined]

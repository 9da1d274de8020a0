"""The words people read, as jinja2 templates a district can rewrite without code.

Packaged templates (mail_ingest/templates/) are in formal Vietnamese; a folder named in
`[notify].templates` may replace any of them by file name. HTML is autoescaped (a
unit's name or a subject is data, not markup); undefined variables are errors, so a
broken template fails a test rather than sending a mail with holes in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    TemplateError,
    TemplateSyntaxError,
    select_autoescape,
)

from mail_ingest import wording
from mail_ingest.errors import ConfigError


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


class Templates:
    def __init__(self, tz: ZoneInfo, folder: Path | None = None) -> None:
        loaders: list[Any] = [FileSystemLoader(str(folder))] if folder else []
        self._env = Environment(
            loader=ChoiceLoader([*loaders, PackageLoader("mail_ingest", "templates")]),
            autoescape=select_autoescape(enabled_extensions=("html", "html.j2")),
            undefined=StrictUndefined,
            trim_blocks=True,  # a line holding only a tag leaves no blank line behind
            lstrip_blocks=True,
        )
        self._env.filters["clock"] = lambda t: wording.clock(t, tz)
        self._env.filters["day"] = lambda t: wording.numeric_day(t, tz)

    def render(self, kind: str, **context: Any) -> Rendered:
        """`kind` is ack, reminder or report: its .subject, .txt and .html templates."""
        parts = {}
        for part in ("subject", "txt", "html"):
            name = f"{kind}.{part}.j2"
            try:
                parts[part] = self._env.get_template(name).render(context)
            except TemplateError as exc:  # a district's own template with a mistake
                where = f" line {exc.lineno}" if isinstance(exc, TemplateSyntaxError) else ""
                raise ConfigError(f"notify.templates: {name}{where}: {exc}") from None
        return Rendered(
            subject=" ".join(parts["subject"].split()),
            text=parts["txt"].strip() + "\n",
            html=parts["html"].strip() + "\n",
        )

"""Form specs: what a form looks like, as data, so a district can describe its own forms.

A spec is a TOML file (see parsers/specs/mau-01.toml for a commented example):

    id, title, shape ("table" | "report"), unit_prefixes = [phrase, ...]
    [recognise]      titles, filenames, names: phrase or [phrase, ...] (all must appear)
    [table]          name = [column keys], min_columns, end, skip (regexes on folded text)
    [table.sections] marker (regex), sets = [column keys, outer first]
    [table.columns.KEY] headers, label, required, extra, [table.columns.KEY.values] id = [...]
    [table.columns.KEY.marks] other column key = value id (a tick column sets that value)
    [report]         title (phrase), min_words, end (regex), ask, [report.periods] id = [...]
    [labelled]       kind, name = [item keys], min_items, end, hint (regexes on folded text)
    [labelled.items.KEY] number, labels, label, required, [labelled.items.KEY.values] id = [...]

Every key is checked; a mistake raises ValueError naming the key, at start-up.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal, TypeVar

from parsers.model import FIELDS, KINDS, LEVELS
from parsers.text import words

Phrases = tuple[str, ...]  # all must appear
ENTRY_VALUES: Mapping[str, tuple[str, ...]] = {"kind": KINDS, "field": FIELDS, "level": LEVELS}


@dataclass(frozen=True)
class Column:
    """One column of a table form, found by any of its header wordings."""

    key: str
    headers: tuple[str, ...]
    label: str  # how a message names it: "Dòng 5: chưa ghi rõ {label}"
    required: bool = False
    extra: bool = True  # copied into Entry.extra (not the running number, say)
    values: tuple[tuple[str, tuple[str, ...]], ...] = ()  # id -> what units type
    # A tick column: any mark in it sets another column's value, as the M3/M4 template's
    # "tiếp tục" and "đăng ký mới" sub-columns do for the period: (column key, value id).
    marks: tuple[tuple[str, str], ...] = ()

    def lookup(self, text: str) -> str | None:
        """The id a typed value means: an exact synonym, else the longest one it contains."""
        typed = words(text)
        exact, longest_first = _synonyms(self.values)
        found = exact.get(typed)
        if found is not None:
            return found
        padded = f" {typed} "
        return next((vid for wanted, vid in longest_first if wanted in padded), None)


_Values = tuple[tuple[str, tuple[str, ...]], ...]
_Index = tuple[dict[str, str], tuple[tuple[str, str], ...]]
_SYNONYMS: dict[int, tuple[_Values, _Index]] = {}


def _synonyms(values: _Values) -> _Index:
    """Each folded synonym's id (the first wins), and the synonyms longest first (ties in
    their order): once per column, as every cell of it is looked up. Cached by identity:
    a spec's values live as long as the spec."""
    hit = _SYNONYMS.get(id(values))
    if hit is not None and hit[0] is values:
        return hit[1]
    exact: dict[str, str] = {}
    ordered: list[tuple[str, str]] = []
    for value_id, synonyms in values:
        for synonym in synonyms:
            wanted = words(synonym)
            exact.setdefault(wanted, value_id)
            if wanted:
                ordered.append((f" {wanted} ", value_id))
    ordered.sort(key=lambda pair: -len(pair[0]))  # stable: equal lengths keep their order
    if len(_SYNONYMS) >= 256:
        _SYNONYMS.clear()
    index: _Index = (exact, tuple(ordered))
    _SYNONYMS[id(values)] = (values, index)
    return index


@dataclass(frozen=True)
class TableShape:
    columns: tuple[Column, ...]
    name_keys: tuple[str, ...]
    min_columns: int
    end: re.Pattern[str] | None
    skip: re.Pattern[str] | None
    section_marker: re.Pattern[str] | None
    section_keys: tuple[str, ...]

    def column(self, key: str) -> Column:
        return next(c for c in self.columns if c.key == key)


@dataclass(frozen=True)
class ReportShape:
    title: str
    min_words: int
    end: re.Pattern[str] | None
    # The period the report covers ("quý III", "6 tháng đầu năm"), found in its title:
    # id -> phrases, the longest phrase found wins; empty for reports without a period.
    periods: tuple[tuple[str, tuple[str, ...]], ...] = ()
    ask: str = "bổ sung tình hình thực hiện các mô hình điểm"  # what an empty report lacks


@dataclass(frozen=True)
class Item:
    """One labelled item of a registration form ("1. Tên mô hình đăng ký: ...")."""

    key: str
    labels: tuple[str, ...]  # the wordings that introduce it, matched folded and fuzzily
    label: str  # how a message names it: "Mục 7 (Kết quả dự kiến) còn để trống"
    number: int | None = None  # its number in the template; None for "Chức vụ:" and the like
    required: bool = False
    values: tuple[tuple[str, tuple[str, ...]], ...] = ()  # an option item: id -> synonyms


@dataclass(frozen=True)
class LabelledShape:
    items: tuple[Item, ...]
    kind: str | None  # Entry.kind of every file of this form (M1 is always a collective)
    name_keys: tuple[str, ...]  # Entry.name: the first of these items with a value
    min_items: int  # labels found before the layout counts as evidence of the form
    end: re.Pattern[str] | None  # the signature block
    hint: re.Pattern[str] | None  # the template's "(ghi rõ ...)" instructions, not values


@dataclass(frozen=True)
class FormSpec:
    """A form the board accepts: how to recognise it and how to read it."""

    id: str
    title: str
    shape: Literal["table", "report", "labelled"]
    titles: tuple[Phrases, ...]  # in the first lines of the document
    filenames: tuple[Phrases, ...]  # in the file name, or (weaker) the email subject
    # The form's own number ("mẫu M3"), written in its first lines: counts as a title and
    # outranks a better-fitting table, since M3 and M4 differ only in their sections.
    names: tuple[Phrases, ...] = ()
    unit_prefixes: tuple[str, ...] = ()
    table: TableShape | None = None
    report: ReportShape | None = None
    labelled: LabelledShape | None = None
    origin: str = ""


def builtin_specs() -> tuple[FormSpec, ...]:
    """The forms of the letters (mẫu 01, mẫu 02, M1, M2, ...), shipped as package data."""
    folder = resources.files("parsers") / "specs"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".toml")), key=lambda f: f.name)
    return tuple(
        parse_spec(f.read_text(encoding="utf-8"), f"parsers/specs/{f.name}") for f in files
    )


def parse_spec(text: str, origin: str) -> FormSpec:
    """Read and check one spec; ValueError("origin: key: what is wrong") on any mistake."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{origin}: not valid TOML: {exc}") from exc
    return _Reader(data, origin, "").spec()


T = TypeVar("T")


class _Reader:
    """Typed access to one TOML table that remembers which keys were used."""

    def __init__(self, data: Mapping[str, Any], origin: str, path: str) -> None:
        self.data, self.origin, self.path = data, origin, path
        self.used: set[str] = set()

    def fail(self, key: str, message: str) -> ValueError:
        return ValueError(f"{self.origin}: {self.path}{key}: {message}")

    def get(self, key: str, kind: type[T], default: T | None = None) -> T:
        self.used.add(key)
        if key not in self.data:
            if default is None:
                raise self.fail(key, "missing")
            return default
        value = self.data[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(key, f"expected {kind.__name__}, got {value!r}")
        return value

    def text(self, key: str, default: str | None = None) -> str:
        value = self.get(key, str, default)
        if not value.strip() and default is None:
            raise self.fail(key, "must not be empty")
        return value

    def strings(self, key: str, *, required: bool = False) -> tuple[str, ...]:
        values = self.get(key, list, None if required else [])
        if required and not values:
            raise self.fail(key, "must list at least one value")
        for i, value in enumerate(values):
            if not isinstance(value, str) or not words(value):
                raise self.fail(f"{key}[{i}]", f"expected a phrase with letters, got {value!r}")
        return tuple(values)

    def phrases(self, key: str) -> tuple[Phrases, ...]:
        out = []
        for i, value in enumerate(self.get(key, list, [])):
            group = value if isinstance(value, list) else [value]
            if not group or not all(isinstance(p, str) and words(p) for p in group):
                raise self.fail(f"{key}[{i}]", f"expected a phrase or a list of phrases: {value!r}")
            out.append(tuple(group))
        return tuple(out)

    def regex(self, key: str) -> re.Pattern[str] | None:
        source = self.get(key, str, "")
        try:
            return re.compile(source) if source else None
        except re.error as exc:
            raise self.fail(key, f"invalid regular expression: {exc}") from exc

    def table(self, key: str) -> _Reader:
        return _Reader(self.get(key, dict), self.origin, f"{self.path}{key}.")

    def optional_table(self, key: str) -> _Reader | None:
        self.used.add(key)
        return self.table(key) if key in self.data else None

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.fail(unknown[0], "unknown key")

    def spec(self) -> FormSpec:
        shape = self.text("shape")
        if shape not in ("table", "report", "labelled"):
            raise self.fail("shape", f'expected "table", "report" or "labelled", got {shape!r}')
        recognise = self.table("recognise")
        titles, filenames = recognise.phrases("titles"), recognise.phrases("filenames")
        names = recognise.phrases("names")
        recognise.done()
        if not titles and not filenames and shape in ("report", "labelled"):
            raise self.fail("recognise", f"a {shape} form needs titles or filenames")
        # Only the section of the spec's own shape is read (and required).
        table = self.table("table").table_shape() if shape == "table" else None
        report = self.table("report").report_shape() if shape == "report" else None
        labelled = self.table("labelled").labelled_shape() if shape == "labelled" else None
        spec = FormSpec(
            id=self.text("id"),
            title=self.text("title"),
            shape="table" if shape == "table" else "report" if shape == "report" else "labelled",
            titles=titles,
            filenames=filenames,
            names=names,
            unit_prefixes=self.strings("unit_prefixes"),
            table=table,
            report=report,
            labelled=labelled,
            origin=self.origin,
        )
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", spec.id, re.IGNORECASE):
            raise self.fail("id", f"expected letters, digits, '-', '_' or '.', got {spec.id!r}")
        self.done()
        return spec

    def table_shape(self) -> TableShape:
        columns_table = self.table("columns")
        columns = tuple(columns_table.table(key).column(key) for key in columns_table.data)
        columns_table.done()
        keys = {c.key for c in columns}
        name_keys = self.strings("name", required=True)
        sections = self.optional_table("sections")
        marker = sections.regex("marker") if sections else None
        section_keys = sections.strings("sets", required=True) if sections else ()
        if sections:
            sections.done()
        for where, listed in (("name", name_keys), ("sections.sets", section_keys)):
            for key in listed:
                if key not in keys:
                    raise self.fail(where, f"no column {key!r} under [table.columns]")
        for key in section_keys:
            if not next(c for c in columns if c.key == key).values:
                raise self.fail("sections.sets", f"column {key!r} has no values to set")
        for column in columns:
            for key, value_id in column.marks:
                target = next((c for c in columns if c.key == key), None)
                if target is None or value_id not in dict(target.values):
                    raise self.fail(
                        f"columns.{column.key}.marks.{key}", f"no value {value_id!r} of column"
                    )
        shape = TableShape(
            columns=columns,
            name_keys=name_keys,
            min_columns=self.get("min_columns", int, 2),
            end=self.regex("end"),
            skip=self.regex("skip"),
            section_marker=marker,
            section_keys=section_keys,
        )
        if shape.min_columns < 1:
            raise self.fail("min_columns", "must be at least 1")
        self.done()
        return shape

    def values(self, key: str, what: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """[...values]: id -> synonyms; kind, field and level must use the ids of model.py."""
        values_table = self.optional_table("values")
        values: list[tuple[str, tuple[str, ...]]] = []
        if values_table:
            allowed = ENTRY_VALUES.get(key)
            for value_id in values_table.data:
                if allowed and value_id not in allowed:
                    raise values_table.fail(value_id, f"expected one of {', '.join(allowed)}")
                values.append((value_id, values_table.strings(value_id, required=True)))
            values_table.done()
        if key in ENTRY_VALUES and not values:
            raise self.fail(
                "values", f"{what} {key!r} needs values ({', '.join(ENTRY_VALUES[key])})"
            )
        return tuple(values)

    def column(self, key: str) -> Column:
        values = self.values(key, "column")
        column = Column(
            key=key,
            headers=self.strings("headers", required=True),
            label=self.text("label", key),
            required=self.get("required", bool, False),
            extra=self.get("extra", bool, True),
            values=values,
            marks=self.marks(),
        )
        self.done()
        return column

    def marks(self) -> tuple[tuple[str, str], ...]:
        """[...marks]: column key = value id; checked against the columns in table_shape."""
        marks_table = self.optional_table("marks")
        if marks_table is None:
            return ()
        out = tuple((key, marks_table.text(key)) for key in marks_table.data)
        marks_table.done()
        return out

    def report_shape(self) -> ReportShape:
        shape = ReportShape(
            title=self.text("title", "báo cáo"),
            min_words=self.get("min_words", int, 40),
            end=self.regex("end"),
            periods=self.periods(),
            ask=self.text("ask", ReportShape.ask),
        )
        self.done()
        return shape

    def periods(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        periods_table = self.optional_table("periods")
        if periods_table is None:
            return ()
        out = tuple((key, periods_table.strings(key, required=True)) for key in periods_table.data)
        periods_table.done()
        return out

    def labelled_shape(self) -> LabelledShape:
        items_table = self.table("items")
        items = tuple(items_table.table(key).item(key) for key in items_table.data)
        items_table.done()
        if not items:
            raise self.fail("items", "must describe at least one item")
        keys = {i.key for i in items}
        name_keys = self.strings("name")
        for key in name_keys:
            if key not in keys:
                raise self.fail("name", f"no item {key!r} under [labelled.items]")
        kind = self.get("kind", str, "") or None
        if kind is not None and kind not in KINDS:
            raise self.fail("kind", f"expected one of {', '.join(KINDS)}, got {kind!r}")
        shape = LabelledShape(
            items=items,
            kind=kind,
            name_keys=name_keys,
            min_items=self.get("min_items", int, min(3, len(items))),
            end=self.regex("end"),
            hint=self.regex("hint"),
        )
        if not 1 <= shape.min_items <= len(items):
            raise self.fail("min_items", f"must be between 1 and {len(items)} (the items)")
        self.done()
        return shape

    def item(self, key: str) -> Item:
        number = self.get("number", int) if "number" in self.data else None
        if number is not None and number < 1:
            raise self.fail("number", "must be at least 1")
        item = Item(
            key=key,
            labels=self.strings("labels", required=True),
            label=self.text("label", key),
            number=number,
            required=self.get("required", bool, False),
            values=self.values(key, "item"),
        )
        self.done()
        return item

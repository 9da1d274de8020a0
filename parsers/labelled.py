"""Read a labelled registration form (M1, M2): numbered items, each a label then its value.

Units fill the template every way Word allows: the value after the colon or on the lines
below, the dotted leaders left in place or typed over, the template's "(ghi rõ ...)" hints
left in, the items moved into a two-column table or a text box, and the field picked with
an x, a ☒ typed or clicked (office.py renders checkbox controls and form fields as ☒/☐),
or by making the option bold. Whatever is missing becomes a Problem the unit can act on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

from rapidfuzz import fuzz, process

from parsers.model import Entry, Problem
from parsers.office import Content, Grid
from parsers.specs import FormSpec, Item, LabelledShape
from parsers.text import clean, fold, words
from parsers.vocabulary import Lesson

FUZZY = 88  # rapidfuzz ratio: "Tên mô hinh dăng ky" still labels item 1, "Tên cá nhân" does not
ENTRY_KEYS = ("kind", "field", "level")
_LEADER = re.compile(r"[.…_·]{2,}|…")
_LEAD, _TRAIL = " \t:;,.-–—*+•", " \t:;,-–—"  # a final "." is the unit's own
_NUMBERED = re.compile(r"\s*(\d{1,2})\s*[.)/]\s*(?=\S)")
_LONE_NUMBER = re.compile(r"\s*(\d{1,2})\s*[.)]?\s*")
_PARENS = re.compile(r"\(([^()]*)\)")
_WORD = re.compile(r"[^\W_]+")
_TICK = r"[☒☑✓✔■▣]|\[\s*[xX✓✔]\s*\]|\(\s*[xX✓✔]\s*\)"
_BOX = r"[☐□▢]|\[\s*\]|\(\s*\)"
_TOKEN = re.compile(rf"(?P<tick>{_TICK})|(?P<box>{_BOX})|(?P<word>[^\W_]+)")


@dataclass(frozen=True)
class _Line:
    text: str
    glued: bool = False  # a table cell beside a label: the label's value, whatever it says
    cell: bool = False  # a whole table cell, which may be a bare label without a colon


@dataclass
class _Found:
    item: Item
    parts: list[str]
    labels: set[str] = field(default_factory=set)  # the wordings that introduced it


def with_lessons(shape: LabelledShape, lessons: Sequence[Lesson]) -> LabelledShape:
    """The shape with the board's header lessons as labels of the items they name: an
    unfamiliar label ("Tên sáng kiến") taught once reads as its item in every later file."""
    taught: dict[str, list[str]] = {}
    for lesson in lessons:
        if label := _taught(lesson):
            taught.setdefault(lesson.meaning, []).append(label)
    if not taught:
        return shape
    items = tuple(
        replace(i, labels=(*i.labels, *taught[i.key])) if i.key in taught else i
        for i in shape.items
    )
    return replace(shape, items=items)


def _taught(lesson: Lesson) -> str:
    """A lesson's wording as a label: without the item number or the colon the board copied."""
    return _NUMBERED.sub("", lesson.text, count=1).strip().rstrip(":").strip()


def read_labelled(
    spec: FormSpec,
    shape: LabelledShape,
    content: Content,
    unit: str,
    lessons: Sequence[Lesson] = (),
) -> tuple[dict[str, str], tuple[Entry, ...], tuple[Problem, ...], tuple[str, ...]]:
    """Fields (every item with a value), the one Entry the form registers, problems, and
    the ids of the board's header `lessons` whose wording introduced an item."""
    shape = with_lessons(shape, lessons)
    found = _found_items(content, shape)
    met = {_label_words(label) for f in found.values() for label in f.labels}
    used = tuple(
        sorted({x.id for x in lessons if x.meaning in found and _label_words(_taught(x)) in met})
    )
    emphasis = tuple(words(e) for e in content.emphasis)
    texts = {key: _value("\n".join(f.parts), shape) for key, f in found.items()}
    picked: dict[str, str | None] = {}
    problems: list[Problem] = []
    for item in shape.items:
        if item.key not in found:
            if item.required:
                problems.append(
                    Problem("missing-item", f"Không tìm thấy {_ref(item, True)} trong bản đăng ký")
                )
            continue
        if item.values:
            choice, problem = _choose(item, found[item.key].parts, emphasis, shape)
            picked[item.key] = choice
            if problem and (item.required or problem.code != "empty-field"):
                problems.append(problem)
        elif not texts[item.key] and item.required:
            problems.append(Problem("empty-field", f"{_ref(item)} còn để trống"))
    # M2 names the person (never the unit instead); M1 the collective in the header.
    name = next((texts[k] for k in shape.name_keys if texts.get(k)), "")
    name = name if shape.name_keys else unit
    if not name and not shape.name_keys:  # else the empty name item has said so
        problems.append(
            Problem("no-name", "Chưa ghi tên cơ quan, đơn vị ở đầu bản đăng ký (góc trên bên trái)")
        )
    entry = _entry(shape, name, texts, picked)
    fields = {k: v for k, v in texts.items() if v and not _option(shape, k)}
    fields |= {k: v for k, v in picked.items() if v}
    return fields, (entry,), tuple(problems), used


def evidence(shape: LabelledShape, content: Content) -> int | None:
    """How well the document's labels fit the form: items found less items lacking, or
    None below `min_items`, so that M2's extra items tell an M2 from an M1."""
    found = _found_items(content, shape)
    if len(found) < shape.min_items:
        return None
    return 2 * len(found) - len(shape.items)


_FORM_NUMBER = re.compile(r"\s*\b(m[ẫa]u|bi[ểe]u)\s+(s[ốo]\s+)?[a-z]{0,2}\s*\d{1,2}\b\s*", re.I)


def before_items(lines: Sequence[str], shape: LabelledShape) -> tuple[str, ...]:
    """The header lines above the first item (where the unit's name stands), without the
    form's number ("Mẫu M1"), which units type beside or above their name."""
    head = list(lines)
    for i, line in enumerate(lines):
        if _label(_Line(line), shape.items):
            head = list(lines[:i])
            break
    kept = (_FORM_NUMBER.sub(" ", line).strip() for line in head)
    return tuple(line for line in kept if line)


# --- lines and items --------------------------------------------------------------------

# The last document's items: recognition weighs them (evidence) and the reading reads
# them (read_labelled), for the same content and shape, one after the other. Kept by
# identity, one document at a time; never changed by a reader.
_LAST: list[tuple[Content, LabelledShape, dict[str, _Found]]] = []


def _found_items(content: Content, shape: LabelledShape) -> dict[str, _Found]:
    for seen, its_shape, found in _LAST:
        if seen is content and its_shape is shape:
            return found
    found = _items(_lines(content, shape), shape)
    if _LAST and _LAST[0][0] is not content:
        _LAST.clear()
    _LAST.append((content, shape, found))
    return found


def _lines(content: Content, shape: LabelledShape) -> list[_Line]:
    """The document as lines; a table row with a label cell puts its value cell after it."""
    out: list[_Line] = []
    for block in content.blocks:
        if isinstance(block, Grid):
            rows = [list(dict.fromkeys(c for c in row if c.strip())) for row in block.rows]
            if _is_list(rows):  # a wide table (mẫu 01, M3): rows are entries, not label|value
                out += [_Line(" ".join(cells), cell=True) for cells in rows if cells]
                continue
            for cells in rows:
                out += _row(cells, shape)
        else:
            out += [_Line(line) for line in block.splitlines()]
    return out


def _is_list(rows: Sequence[Sequence[str]]) -> bool:
    """Most rows hold more than number, label and value: a list of entries, not a form."""
    widths = sorted(len(cells) for cells in rows if cells)
    return bool(widths) and widths[len(widths) // 2] > 3


def _row(cells: list[str], shape: LabelledShape) -> list[_Line]:
    out: list[_Line] = []
    pending: list[str] = []
    i = 0
    while i < len(cells):
        cell = cells[i]
        lone = _LONE_NUMBER.fullmatch(cell)
        if lone and i + 1 < len(cells):  # "1" | "Tên mô hình" | "..." : the number has a column
            cells[i + 1] = f"{lone.group(1)}. {cells[i + 1]}"
            i += 1
            continue
        is_label = _label(_Line(cell.splitlines()[0], cell=True), shape.items) is not None
        after = cells[i + 1] if i + 1 < len(cells) else ""
        if is_label and after and not _label(_Line(after.splitlines()[0], cell=True), shape.items):
            out += _pending(pending)
            out += [_Line(line, cell=True) for line in cell.splitlines()]
            out += [_Line(line, glued=True) for line in after.splitlines()]
            pending, i = [], i + 2
            continue
        pending.append(cell)
        i += 1
    return out + _pending(pending)


def _pending(cells: list[str]) -> list[_Line]:
    """Cells without a label: one line when each is one line ("Kinh tế" | "x"), else each."""
    if all("\n" not in c for c in cells):
        return [_Line(" ".join(cells), cell=True)] if cells else []
    return [_Line(line, cell=True) for c in cells for line in c.splitlines()]


def _items(lines: Iterable[_Line], shape: LabelledShape) -> dict[str, _Found]:
    """Each item's raw text: the rest of its label line, then (numbered items only) the lines
    down to the next label; unnumbered items ("Chức vụ:") take their own line or cell."""
    found: dict[str, _Found] = {}
    current: _Found | None = None
    for line in lines:
        if not line.glued:
            if found and shape.end and shape.end.search(fold(line.text)):
                break
            hit = _label(line, shape.items) or _by_number(line, current, found, shape.items)
            if hit:
                item, rest, label = hit
                current = found.setdefault(item.key, _Found(item, []))
                current.parts.append(rest)
                current.labels.add(label)
                continue
            # An unnumbered label with nothing after it ("Chức vụ:") takes the next line.
            waiting = current is not None and not any(p.strip(" .…_:") for p in current.parts)
            if current is None or (
                (current.item.number is None and not waiting) or _next_number(line, current)
            ):
                current = None
                continue
        if current is not None:
            current.parts.append(line.text)
    return found


def _next_number(line: _Line, current: _Found) -> bool:
    """An unknown numbered label ("8. Ghi chú:") ends the item; its own "1." list does not."""
    m = _NUMBERED.match(line.text)
    number = current.item.number or 0
    return m is not None and int(m.group(1)) > number and ":" in line.text[:80]


def _label(line: _Line, items: Sequence[Item]) -> tuple[Item, str, str] | None:
    """The item a line introduces, the rest of the line and the label that matched,
    preferring the item whose number it carries, then the longest label ("6. Địa chỉ, phạm
    vi" over "Địa chỉ")."""
    m = _NUMBERED.match(line.text)
    number = int(m.group(1)) if m else None
    body = line.text[m.end() :] if m else line.text
    tokens = list(_WORD.finditer(body))  # once per line, not once per label
    if not tokens:
        return None
    folded = [fold(t.group()) for t in tokens]
    table = _label_table(items)
    # Word for word: only the labels opening with the line's first word; with a typo, the
    # labels of each length at once (rapidfuzz over all of them, in C).
    hits = [
        entry
        for entry in table.by_first.get(folded[0], ())
        if entry.n <= len(folded) and tuple(folded[: entry.n]) == entry.words
    ]
    exact = {entry.order for entry in hits}
    for n, (wanted, entries) in table.by_length.items():
        if n > len(folded):
            continue
        typed = " ".join(folded[:n])
        for _, _, at in process.extract(
            typed, wanted, scorer=fuzz.ratio, score_cutoff=FUZZY, limit=None
        ):
            if entries[at].order not in exact:
                hits.append(entries[at])
    best: tuple[tuple[bool, int, int], _Label, str] | None = None
    for entry in hits:
        rest = _rest(body, tokens, entry.n)
        if not (rest[:1] in (":", "(", "") or number is not None):
            continue
        if rest == "" and number is None and not line.cell and ":" not in body:
            continue  # a paragraph "Kết quả dự kiến" alone is text, in a cell a label
        rank = (number is not None and number == entry.item.number, len(entry.label), -entry.order)
        if best is None or rank > best[0]:
            best = (rank, entry, rest)
    return (best[1].item, best[2], best[1].label) if best else None


@dataclass(frozen=True)
class _Label:
    order: int  # items' order, then each item's labels': ties go to the first
    item: Item
    label: str
    words: tuple[str, ...]
    n: int


@dataclass(frozen=True)
class _LabelTable:
    by_first: dict[str, list[_Label]]
    by_length: dict[int, tuple[list[str], list[_Label]]]  # labels of 3+ words, for typos


_TABLES: dict[int, tuple[Sequence[Item], _LabelTable]] = {}


def _label_table(items: Sequence[Item]) -> _LabelTable:
    """The labels of a form's items, indexed once per items (cached by identity: a spec's
    items live on; the board's lessons make a new tuple per file, and a small cache)."""
    hit = _TABLES.get(id(items))
    if hit is not None and hit[0] is items:
        return hit[1]
    by_first: dict[str, list[_Label]] = {}
    by_length: dict[int, tuple[list[str], list[_Label]]] = {}
    order = 0
    for item in items:
        for label in item.labels:
            lw = _label_words(label)
            if lw:
                entry = _Label(order, item, label, lw, len(lw))
                by_first.setdefault(lw[0], []).append(entry)
                if len(lw) >= 3:
                    wanted, entries = by_length.setdefault(len(lw), ([], []))
                    wanted.append(" ".join(lw))
                    entries.append(entry)
            order += 1
    if len(_TABLES) >= 32:
        _TABLES.clear()
    table = _LabelTable(by_first, by_length)
    _TABLES[id(items)] = (items, table)
    return table


def _rest(body: str, tokens: Sequence[re.Match[str]], n: int) -> str:
    """The text after a label of `n` words."""
    rest = body[tokens[n - 1].end() :].strip()
    if rest.startswith("(") and "):" in rest:  # "Tên cá nhân (ghi rõ họ tên): ..."
        rest = rest[rest.index("):") + 1 :]
    return rest


def _by_number(
    line: _Line, current: _Found | None, found: Mapping[str, _Found], items: Sequence[Item]
) -> tuple[Item, str, str] | None:
    """ "6. Nơi làm mô hình: ..." right after item 5, in the template's place 6: the number
    is the evidence, whatever the wording (item 6 not yet found, a short label, a colon)."""
    m = _NUMBERED.match(line.text)
    if m is None or current is None or current.item.number is None:
        return None
    number = int(m.group(1))
    item = next((i for i in items if i.number == number), None)
    head, colon, rest = line.text[m.end() :].partition(":")
    if item is None or item.key in found or number != current.item.number + 1:
        return None
    if not colon or len(head.split()) > 10:
        return None
    return item, rest.strip(), ""


@lru_cache(maxsize=4096)
def _label_words(label: str) -> tuple[str, ...]:
    return tuple(words(label).split())


def _value(text: str, shape: LabelledShape) -> str:
    """What the unit wrote: without leaders, the template's hints and edge punctuation."""

    lines = (
        _PARENS.sub(lambda m: _hint(m, shape), _LEADER.sub(" ", line)) for line in text.splitlines()
    )
    kept = (clean(line).lstrip(_LEAD).rstrip(_TRAIL) for line in lines)
    return "\n".join(line for line in kept if any(c.isalnum() for c in line))


def _hint(m: re.Match[str], shape: LabelledShape) -> str:
    """A parenthesised template instruction ("(ghi rõ họ và tên)") goes; other text stays."""
    return " " if shape.hint and shape.hint.search(fold(m.group(1).strip(" *_"))) else m.group(0)


# --- options ----------------------------------------------------------------------------


def _choose(
    item: Item, parts: Sequence[str], emphasis: Sequence[str], shape: LabelledShape
) -> tuple[str | None, Problem | None]:
    """The option picked: ticked, else emphasised when the others are not, else the only
    one written (the unit typed it or deleted the others)."""
    marks: list[tuple[str, bool | None, bool]] = []
    for part in parts:
        marks += _marked(item, _PARENS.sub(lambda m: _hint(m, shape), part), emphasis)
    ids = list(dict.fromkeys(i for i, _, _ in marks))
    ticked = list(dict.fromkeys(i for i, tick, _ in marks if tick))
    bold = list(dict.fromkeys(i for i, _, strong in marks if strong))
    if ticked:
        chosen = ticked
    elif bold and set(bold) != set(ids):
        chosen = bold
    elif all(tick is None for _, tick, _ in marks) and set(ids) != {i for i, _ in item.values}:
        chosen = ids
    else:
        chosen = []
    where = f" (mục {item.number})" if item.number else ""
    what = item.label[:1].lower() + item.label[1:]
    if len(chosen) == 1:
        return chosen[0], None
    if chosen:
        names = "; ".join(_display(item, i) for i in chosen)
        return None, Problem("many-options", f"Đánh dấu nhiều hơn một {what}{where}: {names}")
    if ids:
        return None, Problem("no-option", f"Chưa đánh dấu {what} đăng ký{where}")
    typed = _value("\n".join(parts), shape).replace("\n", " ")
    if not typed:
        return None, Problem("empty-field", f"Chưa ghi {what} đăng ký{where}")
    known = "; ".join(_display(item, i) for i, _ in item.values)
    return None, Problem(
        "unknown-option",
        f"Không xác định được {what} đăng ký{where}: “{typed}”; đề nghị ghi rõ một trong: {known}",
    )


def _marked(item: Item, text: str, emphasis: Sequence[str]) -> list[tuple[str, bool | None, bool]]:
    """(option id, ticked / empty box / no mark, emphasised) for each option in one line.

    A mark belongs to the option on the side where the line's first mark stands: marks
    before the options ("☒ Kinh tế ☐ Văn hóa") or after them ("Kinh tế x")."""
    tokens: list[tuple[str, str]] = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "word"
        word = fold(m.group())
        tokens.append(("tick" if kind == "word" and word == "x" else kind, word))
    spans = _option_spans(item, [w if k == "word" else "" for k, w in tokens])
    if not spans:
        return []
    marks = [i for i, (kind, _) in enumerate(tokens) if kind != "word"]
    before = bool(marks) and marks[0] < spans[0][1]
    line = f" {words(text)} "
    out: list[tuple[str, bool | None, bool]] = []
    for value_id, start, end in spans:
        at = start - 1 if before else end
        kind = tokens[at][0] if 0 <= at < len(tokens) else "word"
        tick = None if kind == "word" else kind == "tick"
        typed = " ".join(w for _, w in tokens[start:end])
        strong = any(f" {typed} " in f" {e} " and f" {e} " in line for e in emphasis)
        out.append((value_id, tick, strong))
    return out


def _option_spans(item: Item, tokens: list[str]) -> list[tuple[str, int, int]]:
    """Longest synonyms first, left to right: (id, first token, token after the last)."""
    synonyms = sorted(
        ((words(s).split(), value_id) for value_id, group in item.values for s in group),
        key=lambda pair: -len(pair[0]),
    )
    spans: list[tuple[str, int, int]] = []
    i = 0
    while i < len(tokens):
        for wanted, value_id in synonyms:
            if wanted and tokens[i : i + len(wanted)] == wanted:
                spans.append((value_id, i, i + len(wanted)))
                i += len(wanted)
                break
        else:
            i += 1
    return spans


# --- the outcome ------------------------------------------------------------------------


def _entry(
    shape: LabelledShape, name: str, texts: Mapping[str, str], picked: Mapping[str, str | None]
) -> Entry:
    chosen = {k: picked.get(k) for k in ENTRY_KEYS}
    extra = {
        k: v
        for k, v in texts.items()
        if v and not _option(shape, k) and k not in shape.name_keys and k not in ENTRY_KEYS
    }
    return Entry(
        name=name.replace("\n", " "),
        kind=chosen["kind"] or shape.kind,
        field=chosen["field"],
        level=chosen["level"],
        extra=extra,
    )


def _option(shape: LabelledShape, key: str) -> bool:
    return any(i.key == key and i.values for i in shape.items)


def _display(item: Item, value_id: str) -> str:
    return next(group[0] for i, group in item.values if i == value_id)


def _ref(item: Item, lower: bool = False) -> str:
    """ "Mục 7 (Kết quả dự kiến)", or "Mục “Chức vụ”" for an unnumbered item."""
    ref = f"Mục {item.number} ({item.label})" if item.number else f"Mục “{item.label}”"
    return ref[:1].lower() + ref[1:] if lower else ref

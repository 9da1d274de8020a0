"""[[requirements]]: the forms asked for, when they are due, by whom, and the rules
an answer must meet (quotas, required fields, named custom rules).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import cast

import parsers
from mail_ingest.config.checks import identifier, known_unit, one_of
from mail_ingest.config.table import LAST_DAY, Table, day_range, show
from rules.deadlines import EVERY_MONTHS, MAX_OCCURRENCES, Deadline, Every, parse_rrule
from rules.requirements import Letter, Requirement
from rules.units import Unit
from rules.validation import (
    CUSTOM,
    FIELD_LABELS,
    CountRule,
    CustomRule,
    Quota,
    RequiredFields,
    Rule,
    parse_rule_key,
)

MAX_QUOTA = 100_000  # entries a form can count


def read_requirement(
    t: Table,
    known_forms: set[str],
    units: tuple[Unit, ...] = (),
    specs: tuple[parsers.FormSpec, ...] = (),
) -> Requirement:
    """One [[requirements]] table: forms, when due (once or every period), to whom, rules."""
    forms = t.strings("forms", required=True, check=one_of(*sorted(known_forms)))
    deadline = _deadline(t)
    every = t.get("every", str, None, check=one_of(*EVERY_MONTHS))
    rrule = t.get("rrule", str, None)
    if every and rrule:
        t.error("rrule", "give either `every` or `rrule`, not both")
    elif rrule and deadline.day != date.min and (problem := _rrule_problem(rrule, deadline)):
        t.error("rrule", f"{show(rrule)} is not a usable RRULE: {problem}")
    once = not (every or rrule)
    opens = t.day("opens")
    if opens and once and deadline.day != date.min and opens > deadline.due_day():
        t.error("opens", f"{opens} is after the deadline ({deadline.phrase()}): nothing counts")
    unit_ids = {u.id for u in units}
    rules = t.table("rules")
    return Requirement(
        id=t.get("id", str, required=True, check=identifier),
        title=t.get("title", str, required=True),
        forms=tuple(forms),
        deadline=deadline,
        groups=tuple(t.strings("groups", check=identifier)),
        units=tuple(t.strings("units", check=known_unit(unit_ids))),
        reminders=tuple(t.numbers("reminders", -366, 366)),
        rules=tuple(_rules(rules, specs)),
        every=cast(Every | None, every if every in EVERY_MONTHS else None),
        rrule=rrule or None,
        opens=opens,
        extensions=_extensions(
            t.table("extensions"), unit_ids, deadline if once and deadline.day != date.min else None
        ),
        strict_resubmission=t.get("strict_resubmission", bool, False),
        model_forms=tuple(t.strings("model_forms", check=one_of(*sorted(known_forms)))),
        letter=_letter(t.table("letter")) if t.has("letter") else None,
    )


def _letter(t: Table) -> Letter:
    """`letter = { number = "35-CV/BDVHU", date = 2024-01-23, by = "...", about = "..." }`."""
    return Letter(
        number=" ".join(t.get("number", str, "", required=True).split()),
        date=t.day("date"),
        by=" ".join(t.get("by", str, "").split()),
        about=" ".join(t.get("about", str, "").split()),
    )


def _deadline(t: Table) -> Deadline:
    """`before` (trước ngày), `by` (chậm nhất ngày) or `due` (a local date and time)."""
    given = [k for k in ("before", "by", "due") if t.has(k)]
    if len(given) != 1:
        t.error(
            "before",
            "give exactly one of `before` (trước ngày), `by` (chậm nhất ngày)"
            " or `due` (a local date and time)",
        )
    before, by = t.day("before"), t.day("by")
    if before or by:
        return Deadline("before", before) if before else Deadline("by", by or date.min)
    raw: object = t.get("due", object)
    when = _local_datetime(raw)
    if when is None and raw is not None:
        t.error(
            "due", f"expected a local date and time such as 2024-02-05T17:00:00, got {show(raw)}"
        )
    elif when is not None and when.tzinfo is not None:
        t.error("due", "write the local time without an offset (the configured timezone applies)")
    elif when is not None and (problem := day_range(when.date())):
        t.error("due", problem)
    elif when is not None:
        return Deadline("due", when.date(), when.time())
    return Deadline("before", date.min)


def _rrule_problem(text: str, anchor: Deadline) -> str | None:
    """What would break the periods computed from this RRULE later, if anything.

    Walks the occurrences the scheduler may walk (rules.deadlines.MAX_OCCURRENCES),
    until two lie beyond the last supported day; each must be a day dates can be
    computed around. A rule that never occurs costs dateutil seconds once, here.
    """
    try:
        rule = parse_rrule(text, datetime.combine(anchor.day, anchor.at))
        found, beyond = 0, 0
        for when in rule:
            found += 1
            if when.date() > LAST_DAY + timedelta(days=10 * 366):
                return f"it gives {when:%Y-%m-%d}, too far ahead to compute with"
            beyond += when.date() > LAST_DAY
            if beyond >= 2 or found >= MAX_OCCURRENCES:
                break
    except (ValueError, OverflowError, TypeError) as exc:
        return str(exc)[:200]
    return None if found else "it gives no deadline at all"


def _local_datetime(raw: object) -> datetime | None:
    """A TOML local date-time (2024-02-05T17:00:00) or the same as a string."""
    if isinstance(raw, datetime):
        return raw
    if isinstance(raw, str) and len(raw) <= 40:
        try:
            return datetime.fromisoformat(raw)
        except ValueError:
            return None
    return None


def _extensions(
    t: Table, unit_ids: set[str], deadline: Deadline | None
) -> tuple[tuple[str, date], ...]:
    """{ unit id = last day }: "gia hạn đến hết ngày" for that unit only."""
    out = []
    for unit_id in list(t.keys()):
        day = t.day(unit_id)
        if (problem := known_unit(unit_ids)(unit_id)) is not None:
            t.error(unit_id, problem)
        elif day and deadline and day <= deadline.due_day():
            t.error(unit_id, f"{day} is not later than the deadline ({deadline.phrase()})")
        elif day:
            out.append((unit_id, day))
    return tuple(out)


def _rules(t: Table, specs: tuple[parsers.FormSpec, ...]) -> list[Rule]:
    """[requirements.rules]: min_/max_ quotas, required_fields and named custom rules."""
    rules: list[Rule] = []
    for key in list(t.keys()):
        if key == "required_fields":
            labels = _column_labels(specs)
            fields = t.strings(key, check=one_of(*sorted(labels)))
            used = tuple((f, labels[f]) for f in fields if f in labels)
            rules.append(RequiredFields(tuple(f for f, _ in used), used))
        elif key == "custom":
            names = t.strings(key, check=one_of(*sorted(CUSTOM)))
            rules += [CustomRule(name) for name in names if name in CUSTOM]
        else:
            rules.append(_rule(t, key))
    return rules


def _column_labels(specs: tuple[parsers.FormSpec, ...]) -> dict[str, str]:
    """Every entry column a form can fill, named as its spec names it in messages."""
    labels = dict(FIELD_LABELS)
    for spec in specs:
        columns = spec.table.columns if spec.table else ()
        labelled = getattr(spec, "labelled", None)  # M1/M2-style forms, where specs have them
        items = labelled.items if labelled else ()
        for key, label in [(c.key, c.label) for c in columns] + [(i.key, i.label) for i in items]:
            labels.setdefault(key, label)
    return labels


def _rule(t: Table, key: str) -> CountRule:
    parsed = parse_rule_key(key)
    if parsed is None:
        t.error(
            key,
            "unknown rule (known: min_/max_ + entries, collectives, individuals, "
            "level_tinh, level_huyen, level_xa; required_fields; custom)",
        )
    raw = t.get(key, object)
    if isinstance(raw, int) and not isinstance(raw, bool):
        quota = Quota({}, t.number(key, 0, 0, MAX_QUOTA))
    elif isinstance(raw, dict):
        sub = t.table(key)
        per_group = {g: sub.number(g, -1, 0, MAX_QUOTA) for g in list(sub.keys())}
        default = per_group.pop("default", None)
        quota = Quota(
            {g: n for g, n in per_group.items() if n >= 0},
            default if default is None or default >= 0 else None,
        )
    else:
        t.error(
            key,
            f"expected a whole number from 0 to {MAX_QUOTA}, or a table such as "
            f"{{ xa = 2, default = 1 }}, got {show(raw)}",
        )
        quota = Quota({})
    bound, counter = parsed or ("min", "entries")
    return CountRule(bound, counter, quota)

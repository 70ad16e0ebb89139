"""Records to texts: one field (which must be a string) or a str.format template filled from the record.

Every problem is found here, before any text is embedded, and named by row, field and fix.
"""

from __future__ import annotations

import json
import string

from ..errors import InputError
from .dataset import Dataset

_CONVERSIONS = (None, "r", "s", "a")


def check_texts(texts) -> list[str]:
    """Validate a list of texts once at a public boundary: a sequence of str, not one bare str."""
    if isinstance(texts, (str, bytes)):
        raise InputError("texts must be a sequence of strings, not a single string; wrap it in a list")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise InputError(f"text {i} is a {type(t).__name__}, not a str: {t!r:.80}")
    return out


def record_texts(ds: Dataset, field: str | None = None, template: str | None = None) -> list[str]:
    """The text of every record: `field`, or `template` filled from the record, or the 'text' field."""
    if ds.records is None:
        raise InputError(f"{ds.path}: holds embeddings, not records; --field/--template do not apply")
    if field is not None and template is not None:
        raise InputError("give --field or --template, not both")
    if template is not None:
        return _template_texts(ds, template)
    name = field or "text"
    _refuse_duplicate_columns(ds, [name], "--field")
    return [_string_field(ds, i, rec, name, default=field is None) for i, rec in enumerate(ds.records)]


def _template_texts(ds: Dataset, given: str) -> list[str]:
    """`given` (with \\n and \\t typed as two characters) filled from each record."""
    template = given.replace("\\n", "\n").replace("\\t", "\t")
    if _surrogate_at(template) is not None:
        raise InputError(f"--template {given!r} holds bytes that are not UTF-8; type it again")
    names = _template_fields(template, given)
    _refuse_duplicate_columns(ds, names, "--template")
    out = []
    for i, rec in enumerate(ds.records):
        values = {n: _template_value(ds, i, rec, n) for n in names}
        try:
            out.append(template.format_map(values))
        except (ValueError, TypeError) as exc:  # a format spec that does not fit the value, e.g. {text:d}
            raise InputError(f"{ds.row_label(i)}: --template {given!r} cannot format this record ({exc}); "
                             "fix the format spec after ':'") from None
    return out


def _template_fields(template: str, given: str) -> list[str]:
    """The record fields a template names, in order, each once; refuses a template str.format would
    reject or that names no field by name (positional {} or {0}, attribute {a.b}, index {a[0]})."""
    names = list(dict.fromkeys(_parsed_fields(template, given)))
    if not names:
        raise InputError(f"--template {given!r} names no field; use e.g. '{{instruction}}\\n{{output}}'")
    return names


def _parsed_fields(template: str, given: str) -> list[str]:
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise InputError(f"--template {given!r} is malformed ({exc}); write fields as {{name}} "
                         "and a literal brace as {{ or }}") from None
    names: list[str] = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        _check_field_name(name, given)
        if conversion not in _CONVERSIONS:
            raise InputError(f"--template {given!r}: unknown conversion !{conversion} in {{{name}}}; use !r, !s or !a")
        names.append(name)
        if spec and "{" in spec:  # a nested field such as {text:{width}}
            names.extend(_parsed_fields(spec, given))
    return names


def _check_field_name(name: str, given: str) -> None:
    if name == "" or name.isdigit():
        raise InputError(f"--template {given!r}: {{{name}}} is positional; name a field, e.g. {{text}}")
    if "." in name or "[" in name:
        raise InputError(f"--template {given!r}: {{{name}}} reaches into a value; name a top-level field "
                         f"such as {{{name.split('.')[0].split('[')[0]}}}")


def _refuse_duplicate_columns(ds: Dataset, names: list[str], flag: str) -> None:
    """A CSV column name the header holds twice does not say which column to read."""
    duplicates = ds.extra.get("duplicates") or {}
    for name in names:
        if name in duplicates:
            cols = duplicates[name]
            raise InputError(f"{ds.path}, line {ds.extra.get('header_line', 1)}: column {name!r} appears "
                             f"{len(cols)} times in the CSV header (columns {', '.join(map(str, cols))}); "
                             f"rename the duplicates or give another {flag}")


def _present(ds: Dataset, i: int, rec: dict, name: str, fix: str):
    """The record's value of `name`; refuses a missing or null one."""
    if name not in rec:
        fields = ", ".join(map(str, rec)) or "(none)"
        raise InputError(f"{ds.row_label(i)}: no field {name!r}; {fix} (fields here: {fields})")
    value = rec[name]
    if value is None:
        raise InputError(f"{ds.row_label(i)}: field {name!r} is null; fill it or drop the record")
    return value


def _string_field(ds: Dataset, i: int, rec: dict, name: str, default: bool) -> str:
    """The field's text; a number, bool, list or dict is refused rather than silently converted."""
    fix = "pass --field NAME or --template" if default else "choose --field from"
    value = _present(ds, i, rec, name, fix)
    if not isinstance(value, str):
        raise InputError(f"{ds.row_label(i)}: field {name!r} is {type(value).__name__}, not a string; "
                         "convert it or pass --template")
    return _valid_unicode(ds, i, name, value)


def _template_value(ds: Dataset, i: int, rec: dict, name: str):
    """What the template formats: strings as they are, lists and dicts as JSON text, other values
    (numbers, bools) as themselves, so {n} gives str(n) and {n:.2f} works."""
    value = _present(ds, i, rec, name, "choose --template fields from")
    if isinstance(value, str):
        return _valid_unicode(ds, i, name, value)
    if isinstance(value, (list, dict)):
        return _valid_unicode(ds, i, name, json.dumps(value, ensure_ascii=False, default=str))
    return value


def _valid_unicode(ds: Dataset, i: int, name: str, text: str) -> str:
    """Refuse an unpaired surrogate (JSON can write one as "\\ud800"): no UTF-8 encodes it, so an
    embedder or tokenizer would fail on it later, far from the row."""
    at = _surrogate_at(text)
    if at is not None:
        raise InputError(f"{ds.row_label(i)}: field {name!r} holds an unpaired surrogate "
                         f"(\\u{ord(text[at]):04x} at character {at}), which is not valid text; "
                         "fix that \\u escape in the file or drop the record")
    return text


def _surrogate_at(text: str) -> int | None:
    """Index of the first lone surrogate in `text`, else None (fast for ASCII)."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # UTF-8 encodes every code point except surrogates
        return exc.start
    return None

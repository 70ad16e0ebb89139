"""record_texts: strings only for --field, template values formatted, bad templates and surrogates refused."""

from __future__ import annotations

import pytest

from datadiet.errors import InputError
from datadiet.io import read_dataset, record_texts


def jsonl(tmp_path, data: bytes, name="d.jsonl"):
    path = tmp_path / name
    path.write_bytes(data)
    return read_dataset(path)


@pytest.mark.parametrize("value, kind", [
    ("5", "int"), ("1.5", "float"), ("true", "bool"), ("[1, 2]", "list"), ('{"k": 1}', "dict"),
])
def test_a_non_string_field_is_refused_with_row_field_and_type(tmp_path, value, kind):
    ds = jsonl(tmp_path, b'{"text": "ok"}\n' + f'{{"text": {value}}}\n'.encode())
    with pytest.raises(InputError) as exc:
        record_texts(ds)
    assert str(exc.value) == (f"{tmp_path / 'd.jsonl'}, line 2: field 'text' is {kind}, not a string; "
                              "convert it or pass --template")
    with pytest.raises(InputError, match=f"line 2: field 'text' is {kind}, not a string"):
        record_texts(ds, field="text")


def test_a_template_formats_numbers_bools_lists_and_dicts(tmp_path):
    ds = jsonl(tmp_path, '{"n": 5, "f": 1.5, "b": true, "l": [1, "é"], "d": {"k": null}}\n'.encode())
    assert record_texts(ds, template="{n}|{f}|{b}|{l}|{d}") == ['5|1.5|True|[1, "é"]|{"k": null}']
    assert record_texts(ds, template="{f:.3f} {n:03d}\\t{b!r}") == ["1.500 005\tTrue"]


@pytest.mark.parametrize("template, match", [
    ("{text", r"--template '\{text' is malformed .*expected '\}' before end of string"),
    ("text}", r"--template 'text\}' is malformed"),
    ("{} and {text}", r"\{\} is positional; name a field"),
    ("{0}", r"\{0\} is positional"),
    ("{text.upper}", r"\{text.upper\} reaches into a value; name a top-level field such as \{text\}"),
    ("{meta[0]}", r"reaches into a value; name a top-level field such as \{meta\}"),
    ("{text!x}", r"unknown conversion !x in \{text\}"),
    ("plain words", "names no field"),
])
def test_a_malformed_template_is_one_input_error(tmp_path, template, match):
    ds = jsonl(tmp_path, b'{"text": "a", "meta": [1]}\n')
    with pytest.raises(InputError, match=match) as exc:
        record_texts(ds, template=template)
    assert "\n" not in str(exc.value)


def test_a_format_spec_that_does_not_fit_the_value_names_the_row(tmp_path):
    ds = jsonl(tmp_path, b'{"text": "a"}\n')
    with pytest.raises(InputError, match=r"d.jsonl, line 1: --template '\{text:d\}' cannot format this record"):
        record_texts(ds, template="{text:d}")


def test_a_nested_format_field_is_read_from_the_record(tmp_path):
    ds = jsonl(tmp_path, b'{"text": "a", "w": 3}\n')
    assert record_texts(ds, template="[{text:>{w}}]") == ["[  a]"]


@pytest.mark.parametrize("line, how", [
    (b'{"text": "ok \\ud800"}\n', {}),
    (b'{"body": "\\udc00x"}\n', {"field": "body"}),
    (b'{"text": "fine \\ud83d\\ude00", "x": "\\ud800"}\n', {"template": "{text} {x}"}),
    (b'{"text": "fine", "x": ["\\ud800"]}\n', {"template": "{text} {x}"}),
])
def test_an_unpaired_surrogate_is_refused_up_front(tmp_path, line, how):
    ds = jsonl(tmp_path, b'{"text": "a", "body": "b", "x": "c"}\n' + line)
    with pytest.raises(InputError, match=r"d.jsonl, line 2: field '\w+' holds an unpaired surrogate "
                                         r"\(\\ud[89a-f]\w\w at character \d+\).*fix that \\u escape") as exc:
        record_texts(ds, **how)
    assert "\n" not in str(exc.value)


def test_a_surrogate_pair_is_fine(tmp_path):
    ds = jsonl(tmp_path, b'{"text": "\\ud83d\\ude00"}\n')
    assert record_texts(ds) == ["\U0001F600"]


def test_missing_and_null_fields_are_reported_as_before(tmp_path):
    ds = jsonl(tmp_path, b'{"text": null}\n{"other": "x"}\n')
    with pytest.raises(InputError, match="line 1: field 'text' is null; fill it or drop the record"):
        record_texts(ds)
    with pytest.raises(InputError, match=r"line 1: no field 'other'; choose --field from \(fields here: text\)"):
        record_texts(ds, field="other")

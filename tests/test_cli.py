"""The ``structgen`` command line, run in-process through ``structgen.cli.main`` (returns the exit status)."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from structgen.cli import main

SCHEMA = {
    "type": "object",
    "properties": {"items": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}}},
    "required": ["items"],
}
UNSUPPORTED = '{"type": "object", "properties": {"a": {"type": "array", "not": {"uniqueItems": true}}}}'
RESTRICTED = '{"type": "array", "uniqueItems": true}'
TINY = '{"type":"object","properties":{"ok":{"type":"boolean"}},"required":["ok"],"additionalProperties":false}'


@pytest.fixture
def schema_file(tmp_path):
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(SCHEMA))
    return str(path)


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_validate_valid_json_file(tmp_path, schema_file, capsys):
    data = write(tmp_path, "ok.json", '{"items": [\n  {"name": "a"}\n]}\n')
    assert main(["validate", schema_file, data]) == 0
    assert capsys.readouterr().out.strip() == "1 instance: 1 valid, 0 invalid"


def test_validate_invalid_jsonl_names_line_instance_and_schema_paths(tmp_path, schema_file, capsys):
    data = write(tmp_path, "d.jsonl", '{"items": []}\n\n{"items": [{"name": 5}]}\n{}\n')
    assert main(["validate", schema_file, data]) == 1
    out = capsys.readouterr().out
    assert f"{data}:3: at /items/0/name: 5 is not of type 'string'" in out
    assert "(schema: #/properties/items/items/properties/name/type)" in out
    assert f"{data}:4: at (root): 'items' is a required property (schema: #/required)" in out
    assert out.strip().endswith("3 instances: 1 valid, 2 invalid (2 errors)")


def test_validate_multiline_stdin_is_jsonl(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"items": []}\n{"items": 3}\n'))
    assert main(["validate", json.dumps(SCHEMA), "-"]) == 1
    out = capsys.readouterr().out
    assert "<stdin>:2: at /items: 3 is not of type 'array'" in out


def test_validate_stdin_single_document(monkeypatch, schema_file, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO('{\n  "items": []\n}\n'))
    assert main(["validate", schema_file, "-"]) == 0
    assert "1 valid" in capsys.readouterr().out


def test_validate_checks_formats(tmp_path, capsys):
    data = write(tmp_path, "d.jsonl", '"10.0.0.1"\n"10.0.0"\n')
    assert main(["validate", '{"format": "ipv4"}', data]) == 1
    assert f"{data}:2: at (root): '10.0.0' is not a 'ipv4' (schema: #/format)" in capsys.readouterr().out


def test_validate_invalid_json_data_exits_2_with_file_and_line(tmp_path, schema_file, capsys):
    bad_jsonl = write(tmp_path, "bad.jsonl", '{"items": []}\n{"items": [}\n')
    bad_json = write(tmp_path, "bad.json", '{"items": [\n  {"name": 3}\n')
    assert main(["validate", schema_file, bad_jsonl, bad_json, str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err
    assert f"{bad_jsonl}:2:12: invalid JSON" in err
    assert f"{bad_json}:3:1: invalid JSON" in err
    assert "missing.json: cannot read" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("schema", "expected"),
    [('{"type": "foo"}', "invalid schema at #/type"), ('{"type": ', "<schema argument>:1:10: invalid JSON")],
)
def test_validate_invalid_schema_exits_2(tmp_path, schema, expected, capsys):
    data = write(tmp_path, "d.json", "{}")
    assert main(["validate", schema, data]) == 2
    assert expected in capsys.readouterr().err


def test_validate_format_json_and_quiet(tmp_path, schema_file, capsys):
    data = write(tmp_path, "d.jsonl", '{"items": []}\n{"items": [{"name": 1}]}\n')
    assert main(["validate", "--format", "json", schema_file, data]) == 1
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0] == {"file": data, "line": 1, "valid": True, "errors": []}
    assert rows[1]["valid"] is False
    assert rows[1]["errors"][0]["instance_path"] == "/items/0/name"
    assert rows[1]["errors"][0]["schema_path"] == "#/properties/items/items/properties/name/type"
    assert main(["validate", "--quiet", schema_file, data]) == 1
    assert capsys.readouterr().out.strip() == "2 instances: 1 valid, 1 invalid (1 error)"


def test_progress_bar_only_on_a_terminal_for_long_runs(tmp_path, monkeypatch, capsys):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    data = write(tmp_path, "many.jsonl", '{"items": []}\n' * 250)
    assert main(["validate", "--quiet", json.dumps(SCHEMA), data]) == 0
    assert "validating [" in terminal.getvalue() and "250/250" in terminal.getvalue()
    assert capsys.readouterr().out.strip() == "250 instances: 250 valid, 0 invalid"


def test_check_unsupported_exits_3_with_pointer(capsys):
    assert main(["check", UNSUPPORTED]) == 3
    out = capsys.readouterr().out
    assert "unsupported" in out and "#/properties/a/not: the negated schema is itself enforced only in part" in out


def test_check_restriction_exits_0(capsys):
    assert main(["check", RESTRICTED]) == 0
    assert "#/uniqueItems: enforced by generating at most one item" in capsys.readouterr().out
    assert main(["check", '{"type": "string"}']) == 0
    assert capsys.readouterr().out.strip() == "enforced: everything"


def test_check_reports_the_newly_enforced_keywords(capsys):
    exact = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
             "patternProperties": {"^x": {"type": "string"}}, "propertyNames": {"maxLength": 3},
             "dependentRequired": {"a": ["b"]}, "additionalProperties": False}
    assert main(["check", json.dumps(exact)]) == 0
    assert capsys.readouterr().out.strip() == "enforced: everything"
    assert main(["check", '{"type": "string", "not": {"const": "a"}}']) == 0
    out = capsys.readouterr().out
    assert "restricted" in out and "#/not: enforced as a complement" in out and "unsupported" not in out


def test_check_format_json_and_schema_error(capsys):
    assert main(["check", "--format", "json", UNSUPPORTED]) == 3
    report = json.loads(capsys.readouterr().out)
    assert report["unsupported"][0]["pointer"] == "#/properties/a"
    assert report["unsupported"][0]["keyword"] == "not"
    assert main(["check", '{"$ref": "#/nope"}']) == 2
    err = capsys.readouterr().err
    assert "#/$ref" in err and "Traceback" not in err


def test_compile_unsupported_exits_3_before_loading_a_tokenizer(capsys):
    assert main(["compile", UNSUPPORTED]) == 3
    assert "#/properties/a/not" in capsys.readouterr().err


def test_compile_with_smollm2_prints_states_and_times(capsys):
    assert main(["compile", TINY, "--tokenizer", "smollm2"]) == 0
    out = capsys.readouterr().out
    for label in ("DFA states:", "distinct masks:", "compile time:", "time to first mask:", "disk cache:"):
        assert label in out
    assert main(["compile", TINY, "--format", "json", "--whitespace", "flexible"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["dfa_states"] > 1 and stats["masks_computed"] >= 1 and stats["compile_ms"] >= 0
    assert main(["compile", TINY, "--format", "json"]) == 0
    compact = json.loads(capsys.readouterr().out)
    assert main(["compile", TINY, "--format", "json", "--whitespace", "indented"]) == 0
    indented = json.loads(capsys.readouterr().out)
    assert indented["dfa_states"] > compact["dfa_states"]  # '{\n  "ok": true\n}' spells more bytes


def test_compile_of_a_recursive_schema_reports_its_grammar(capsys):
    tree = '{"type":"object","properties":{"kids":{"type":"array","items":{"$ref":"#"}}},"additionalProperties":false}'
    assert main(["compile", tree, "--tokenizer", "smollm2", "--format", "json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["grammar"]["terminals"] > 0 and stats["grammar"]["rules"] > 0 and stats["dfa_states"] is None
    assert main(["compile", tree, "--tokenizer", "smollm2"]) == 0
    assert "recursive schema:" in capsys.readouterr().out


def test_usage_errors_exit_2(capsys):
    assert main([]) == 2
    assert main(["compile", TINY, "--tokenizer", "/no/such/folder"]) == 2
    assert "/no/such/folder" in capsys.readouterr().err


def test_python_m_structgen_version():
    result = subprocess.run([sys.executable, "-m", "structgen", "--version"], capture_output=True, text=True)
    import structgen

    assert result.returncode == 0
    assert result.stdout.strip() == f"structgen {structgen.__version__}"


@pytest.mark.model
def test_generate_tiny_schema(capsys):
    assert main(["generate", TINY, "--max-new-tokens", "20"]) == 0
    assert isinstance(json.loads(capsys.readouterr().out)["ok"], bool)

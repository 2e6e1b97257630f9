"""``emporium logs SERVICE --grep``: only matching lines, from every instance, prefixed."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from emporium.cli import app


def _var_dir(tmp_path: Path) -> Path:
    log = tmp_path / "var" / "log"
    log.mkdir(parents=True)
    (log / "catalog-1.log").write_text(
        '{"event": "GET /x 200", "trace_id": "aaa"}\n{"event": "boom", "level": "error"}\n'
    )
    (log / "catalog-2.log").write_text('{"event": "GET /y 200", "trace_id": "bbb"}\n')
    return tmp_path / "var"


def test_grep_prints_only_the_matching_lines_of_every_instance(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["logs", "catalog", "--grep", "trace_id.*(aaa|bbb)", "--var-dir", str(_var_dir(tmp_path))],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("catalog-1")
    assert "aaa" in lines[0]
    assert lines[1].startswith("catalog-2")
    assert "bbb" in lines[1]


def test_a_grep_that_is_not_a_regex_is_refused_with_its_reason(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["logs", "catalog", "--grep", "(", "--var-dir", str(_var_dir(tmp_path))]
    )
    assert result.exit_code == 2
    assert "--grep" in result.output

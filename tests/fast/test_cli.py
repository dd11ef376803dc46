"""The `kb` command's handling of bad settings, without a model or an index."""

from __future__ import annotations

from typer.testing import CliRunner

from kb.cli import app


def test_a_bad_setting_is_one_line_naming_it(monkeypatch, tmp_path):
    monkeypatch.setenv("KB_INDEX", str(tmp_path / "index"))
    monkeypatch.setenv("KB_RUNTIME", "gpu")
    result = CliRunner().invoke(app, ["gaps"])
    assert result.exit_code == 2
    assert "invalid setting (runtime:" in result.output and "[tool.casebook]" in result.output
    assert "Traceback" not in result.output


def test_nested_setting_errors_name_the_path(monkeypatch, tmp_path):
    monkeypatch.setenv("KB_INDEX", str(tmp_path / "index"))
    monkeypatch.setenv("KB_SEARCH__DENSE", "lots")
    result = CliRunner().invoke(app, ["gaps"])
    assert result.exit_code == 2 and "search.dense:" in result.output

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


def test_gaps_and_feedback_commands_read_the_log(monkeypatch, tmp_path):
    import json

    from kb.store.searches import SearchLog

    monkeypatch.setenv("KB_INDEX", str(tmp_path / "index"))
    log = SearchLog(tmp_path / "index" / "searches.sqlite")
    log.record("zzqxv flibbertigibbet", 24, 0.12, 9.0, unfiltered=24, best_match="weak", answered=False)
    log.record("ups dying", 0, None, 4.0, filters={"status": "open"}, unfiltered=20, answered=False)  # filter-only empty
    log.record_feedback("vpn drops", "cases/vpn.md", "not-helpful", "Resolution", 12)
    log.record_feedback("ups dying", "articles/ups.md", "solved")
    gaps = CliRunner().invoke(app, ["gaps"])
    assert gaps.exit_code == 0, gaps.output
    lines = gaps.output.splitlines()
    assert len(lines) == 2 and "zzqxv flibbertigibbet" in gaps.output and "ups dying" not in gaps.output
    assert "vpn drops" in gaps.output and "1 not helpful: cases/vpn.md" in gaps.output
    exported = CliRunner().invoke(app, ["feedback", "--json"])
    assert exported.exit_code == 0
    assert [(f["query"], f["doc_id"], f["verdict"]) for f in json.loads(exported.output)] == [
        ("vpn drops", "cases/vpn.md", "not-helpful"), ("ups dying", "articles/ups.md", "solved")]


def test_a_failed_build_is_one_line_with_its_fix(monkeypatch, tmp_path):
    import kb.indexer
    from kb.layout import BuildFailed

    def full_disk(*args, **kwargs):
        raise BuildFailed("no space left on device writing index/builds/x.partial/kb.sqlite", "free space or point KB_INDEX elsewhere")

    monkeypatch.setenv("KB_INDEX", str(tmp_path / "index"))
    monkeypatch.setattr(kb.indexer, "build_index", full_disk)
    result = CliRunner().invoke(app, ["index", "--quiet"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "no space left on device" in result.output and "free space or point KB_INDEX elsewhere" in result.output

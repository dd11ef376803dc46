"""kb.languages: Snowball stems in the document's language and language detection, without a model."""

from __future__ import annotations

from kb.languages import code, detect, query_stems, stem, stems


def test_inflected_forms_share_a_stem_in_their_language():
    assert stem("ошибки", "ru") == stem("ошибка", "ru") == stem("ошибкой", "ru")
    assert stem("falhas", "pt") == stem("falha", "pt")
    assert stem("fallos", "es") == stem("fallo", "es")
    assert stem("failing", "en") == "failing"  # English is left unstemmed (kb.languages.UNSTEMMED)


def test_stems_are_folded_like_fts5_tokens_and_codes_stay_whole():
    assert stem("Replicação", "pt") == stem("replicacao", "pt") or stem("Replicação", "pt").isascii()
    assert stem("0x80070005", "en") == "0x80070005" and stem("KB5005565", "pt") == "kb5005565"
    assert stem("Ошибки", "und") == "ошибки"  # no stemmer for the language: the folded word


def test_a_document_column_keeps_every_token_in_order():
    assert stems("Falhas na replicação: erro 0x8024402C", "pt-BR").split() == [
        stem("Falhas", "pt"), "na", stem("replicação", "pt"), stem("erro", "pt"), "0x8024402c"]


def test_a_query_is_stemmed_in_every_team_language_without_repeats():
    found = query_stems(["ошибки", "falhas"])
    assert stem("ошибки", "ru") in found and stem("falhas", "pt") in found
    assert len(found) == len(set(found))
    assert query_stems(["backups"], ["en"]) == () and query_stems(["falhas"], ["en", "pt"]) == (stem("falhas", "pt"),)


def test_language_codes_and_detection():
    assert code("pt-BR") == "pt" and code("EN") == "en" and code(None) == "und" and code("") == "und"
    assert detect("Serviciul nu pornește după actualizare, jurnalul arată eroarea de acces") == "ro"
    assert detect("Ошибка при входе в систему после обновления") == "ru"
    assert detect("La base de datos no arranca después de la actualización del servidor") == "es"
    assert detect("O banco de dados não inicia depois da atualização do servidor") == "pt"
    assert detect("The backup job fails after the update") == "en"
    assert detect("0x80070005 1234") == "und"


def test_the_detector_is_kept_in_the_model_cache_and_a_damaged_copy_is_made_again(tmp_path, monkeypatch):
    from kb import languages

    monkeypatch.setattr(languages, "_detector_folder", tmp_path)
    languages._identifier.cache_clear()
    try:
        assert languages.detect("a impressora não imprime depois da atualização", ("en", "pt")) == "pt"
        kept = list(tmp_path.glob("py3langid-*-en-pt-*.pickle"))
        assert len(kept) == 1
        languages._identifier.cache_clear()
        kept[0].write_bytes(b"not a pickle")  # damaged: made again, and the copy replaced
        assert languages.detect("the printer stops printing after the update", ("en", "pt")) == "en"
        assert kept[0].read_bytes() != b"not a pickle"
        assert languages._identifier(("en", "pt"))._full_model is None  # kept without every language's table
    finally:
        languages._identifier.cache_clear()

"""Query layer (kb.query, kb.text): parsing what an engineer typed, and tokens that agree with SQLite FTS5."""

from __future__ import annotations

import sqlite3
import unicodedata

import pytest

from kb import text
from kb.query import ParsedQuery, of_words, parse_query
from kb.store.index_db import FTS_TOKENIZER

# --- parse_query -------------------------------------------------------------------------------------


def test_quoted_phrases_are_kept_and_text_has_no_quote_marks():
    q = parse_query('"access denied" when mapping drive "error 5"')
    assert q.phrases == ("access denied", "error 5")
    assert q.text == "access denied when mapping drive error 5"
    assert '"' not in q.text
    # phrase words still rank by BM25 as optional words; 'when' is a stop word
    assert q.words == ("access", "denied", "mapping", "drive", "error", "5")
    assert ("access", "denied") in q.terms and ("error", "5") in q.terms


def test_blank_or_unbalanced_quotes():
    assert parse_query('" "').phrases == ()
    assert parse_query('""').empty
    assert parse_query("   ").empty
    q = parse_query('printer "offline')  # an unclosed quote is not a phrase, and no quote reaches the text
    assert q.phrases == () and q.text == "printer offline" and q.words == ("printer", "offline")


def test_stop_words_dropped_unless_only_stop_words_are_left():
    assert parse_query("the printer is offline").words == ("printer", "offline")
    assert parse_query("the and").words == ("the", "and")
    assert parse_query("The AND the").words == ("The", "AND", "the")  # distinct as typed, nothing dropped
    # Stop words of the other languages of the corpus, compared folded
    assert parse_query("falha na atualização do Windows").words == ("falha", "atualização", "Windows")
    assert parse_query("Ошибка при подключении к серверу").words == ("Ошибка", "при", "подключении", "серверу")


def test_repeated_words_kept_once_in_typed_order():
    assert parse_query("spooler crash spooler restart crash").words == ("spooler", "crash", "restart")


@pytest.mark.parametrize("code, tokens", [
    ("0x80070005", ("0x80070005",)),
    ("10.0.17763", ("10", "0", "17763")),
    ("KB5005565", ("kb5005565",)),
    ("KRB_AP_ERR_SKEW", ("krb", "ap", "err", "skew")),
    ("Wi-Fi", ("wi", "fi")),
    ("event-id-4625", ("event", "id", "4625")),
])
def test_codes_stay_single_words_with_fts5_token_terms(code, tokens):
    q = parse_query(f"error {code} again.")
    assert code in q.words
    assert q.terms == (("error",), tokens, ("again",))


def test_trailing_punctuation_is_not_part_of_a_word():
    assert parse_query("failed at 10.0.17763.").words == ("failed", "10.0.17763")
    assert parse_query("(0x80070005), then").words == ("0x80070005", "then")


def test_terms_are_folded_and_deduplicated():
    q = parse_query('Ação ACAO "ação"')
    assert q.words == ("Ação", "ACAO", "ação")  # words are as typed (distinct exactly)
    assert q.phrases == ("ação",)
    assert q.terms == (("acao",),)      # one token sequence however it was typed


@pytest.mark.parametrize("query, words", [
    ("Ação não concluída", ("Ação", "não", "concluída")),
    ("conexión perdida", ("conexión", "perdida")),
    ("eroare la actualizare: ș ț", ("eroare", "actualizare", "ș", "ț")),
    ("eroare la actualizare: ş ţ", ("eroare", "actualizare", "ş", "ţ")),   # cedilla forms
    ("Ошибка подключения к серверу", ("Ошибка", "подключения", "серверу")),
    ("Йошкар-Ола ёлка", ("Йошкар-Ола", "ёлка")),
    ("Straße gesperrt", ("Straße", "gesperrt")),
])
def test_non_ascii_words_are_never_mangled(query, words):
    q = parse_query(query)
    assert q.words == words
    assert q.text == query


def test_decomposed_unicode_words_are_not_split():
    query = unicodedata.normalize("NFD", "Ação concluída")
    assert [unicodedata.normalize("NFC", w) for w in parse_query(query).words] == ["Ação", "concluída"]


def test_folded_words_ignore_case_and_diacritics():
    assert parse_query("Ação FALHOU na Atualização").folded_words == parse_query("acao falhou atualizacao").folded_words
    assert parse_query("eroare ȘTERGERE").folded_words == {"eroare", "stergere"}
    assert parse_query("UPS dying").folded_words != parse_query("UPS keeps dying").folded_words


def test_of_words_uses_the_callers_words():
    q = of_words("a pasted ticket mentioning 0x80070005", ("0x80070005", "KB5005565"))
    assert isinstance(q, ParsedQuery)
    assert q.text == "a pasted ticket mentioning 0x80070005"
    assert q.words == ("0x80070005", "KB5005565")
    assert q.terms == (("0x80070005",), ("kb5005565",))
    assert q.phrases == ()


# --- kb.text -----------------------------------------------------------------------------------------


def test_fold_is_case_and_diacritic_insensitive():
    assert text.fold("AÇÃO") == text.fold("ação") == "acao"
    assert text.fold("Ștergere") == text.fold("ştergere") == "stergere"
    assert text.fold("ОШИБКА") == "ошибка"


def test_token_spans_point_into_the_text():
    sample = "Build 10.0.17763: Ação falhou"
    spans = text.token_spans(sample)
    assert [t for *_, t in spans] == list(text.tokens(sample)) == ["build", "10", "0", "17763", "acao", "falhou"]
    assert [sample[s:e] for s, e, _ in spans] == ["Build", "10", "0", "17763", "Ação", "falhou"]


def test_content_words_keeps_words_whole():
    assert text.content_words("KRB_AP_ERR_SKEW on dc-01.corp.local") == ["KRB_AP_ERR_SKEW", "dc-01.corp.local"]


# --- kb.text.tokens agrees with FTS5 unicode61 remove_diacritics 2 --------------------------------------

_AGREES = [
    "Error 0x80070005 on build 10.0.17763: KRB_AP_ERR_SKEW, Wi-Fi down after KB5005565 (event-id 4625).",
    "Ação não concluída",
    "Falha na atualização: PERMISSÃO negada à pasta",
    "conexión perdida; la VPN se cae",
    "eroare la actualizare: ș ț ă î â",
    "EROARE LA ACTUALIZARE: Ș Ț Ă Î Â ş ţ",
    "Ошибка при подключении к серверу",
    "naïve café über Ångström",
    "x_y a·b 日本語 中文",
]

_TRICKY = [  # where a Unicode normalisation would differ from FTS5: ß, й/ё, compatibility characters, NFD input
    "Straße",
    "Йошкар-Ола ёлка ЁЖИК й",
    "ﬁle ½ ² ①",
    unicodedata.normalize("NFD", "Ação concluída"),
]


def fts5_tokens(samples: list[str]) -> list[tuple[str, ...]]:
    """The token sequence FTS5 itself stores for each sample, ordered by offset."""
    conn = sqlite3.connect(":memory:")
    conn.execute(f"CREATE VIRTUAL TABLE t USING fts5(x, tokenize = '{FTS_TOKENIZER}')")
    conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, instance)")
    conn.executemany("INSERT INTO t(rowid, x) VALUES (?, ?)", list(enumerate(samples, start=1)))
    out = [tuple(r[0] for r in conn.execute("SELECT term FROM v WHERE doc = ? ORDER BY offset", (i,)))
           for i in range(1, len(samples) + 1)]
    conn.close()
    return out


def test_tokenizer_is_the_one_the_store_uses():
    assert FTS_TOKENIZER == "unicode61 remove_diacritics 2"


@pytest.mark.parametrize("sample", _AGREES + _TRICKY)
def test_tokens_agree_with_fts5(sample):
    (expected,) = fts5_tokens([sample])
    assert expected, "FTS5 produced no tokens: the sample is not testing anything"
    assert text.tokens(sample) == expected


def test_ascii_text_tokens_and_offsets_agree_with_fts5_for_every_character():
    """ASCII text takes a one-pattern path (`kb.text.token_spans`): each character between two letters."""
    sample = " ".join(f"Ab{chr(i)}9z" for i in range(1, 128))
    (expected,) = fts5_tokens([sample])
    assert text.tokens(sample) == expected and len(expected) > 127
    assert all(sample[s:e].lower() == t for s, e, t in text.token_spans(sample))
    assert text.token_spans("é " + sample)[1:] == [(s + 2, e + 2, t) for s, e, t in text.token_spans(sample)]  # the general path agrees


def test_tokens_agree_with_fts5_on_codes():
    (expected,) = fts5_tokens(["0x80070005 10.0.17763 KRB_AP_ERR_SKEW Wi-Fi KB5005565"])
    assert expected == ("0x80070005", "10", "0", "17763", "krb", "ap", "err", "skew", "wi", "fi", "kb5005565")
    assert text.tokens("0x80070005 10.0.17763 KRB_AP_ERR_SKEW Wi-Fi KB5005565") == expected


def test_plus_quoted_phrases_and_require_are_required_plain_quotes_are_evidence():
    q = parse_query('backup fails "access denied" +"repository share" now', require=("NAS", "access denied"))
    assert q.phrases == ()  # "access denied" is also required: required wins
    assert q.required == ("repository share", "NAS", "access denied")
    assert q.text == "backup fails access denied repository share now"  # no quote marks or plus signs for the model
    assert ("repository", "share") in q.terms and ("nas",) in q.terms
    evidence = parse_query('"could not load WMI objects" on server')
    assert evidence.phrases == ("could not load WMI objects",) and evidence.required == ()

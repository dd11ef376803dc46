"""Pasted tickets and logs (kb.paste): signal kept, noise dropped, a case draft made."""

from __future__ import annotations

import random
import string

import yaml

from kb.paste import MAX_CHARS, analyse, case_draft, without_noise

JOB_LOG = (
    "Subject: RE: Nightly backup fails - URGENT\r\n\r\nHi team,\r\nsince Monday the nightly job to the NAS fails.\r\n"
    + "".join(f"2026-11-03 02:14:{s:02d}.551 [ERROR] Failed to create file \\\\nas01\\backup\\vm{s}.vbk: Access is denied. (0x80070005)\r\n"
              for s in range(10))
    + "\x1b[31m2026-11-03 02:15:10 WARN\tRetrying in 600 seconds, attempt 1 of 3\x1b[0m\r\n"
    "Log Name: System\r\nSource: disk\r\nEvent ID: 153\r\nLevel: Warning\r\nComputer: srv-bkp01.corp.contoso.local\r\n"
    "Description: The IO operation at logical block address for Disk 2 was retried.\r\n\r\n"
    "Windows Server 2022 build 10.0.20348.2113, agent 12.1.2.172\r\n"
    "This e-mail and any attachments are confidential and intended for the named recipient only.\r\n"
)


def test_codes_products_versions_and_event_sources_are_read():
    a = analyse(JOB_LOG, products=["Windows Server", "Exchange Server"])
    assert a.identifiers[:2] == ("0x80070005", "153")
    assert a.event_sources == {"153": "disk"}
    assert a.products == ("Windows Server",)
    assert "10.0.20348.2113" in a.versions and "2022" in a.versions
    assert a.title == "Nightly backup fails - URGENT"


def test_noise_is_dropped_and_repeats_collapse():
    a = analyse(JOB_LOG)
    text = a.text
    for noise in ("2026-11-03", "02:14", "nas01", "srv-bkp01", "\x1b", "\t", "\r", "confidential", "Log Name", "vm3.vbk"):
        assert noise not in text, noise
    assert sum("Access is denied" in line for line in a.lines) == 1 and a.repeated_lines == 9
    assert any("0x80070005" in line for line in a.lines)
    assert a.total_lines == len([line for line in JOB_LOG.replace("\r\n", "\n").split("\n") if line.strip()])


def test_noise_patterns_keep_codes_versions_and_exception_names():
    line = ("at System.IO.IOException: cannot open 'C:\\data\\x.mdf' on srv01.corp.contoso.local 10.0.0.15:445 "
            "user CONTOSO\\svc-sql mail ops@contoso.com {3f2504e0-4f89-11d3-9a0c-0305e82c3301} "
            "hash 9f86d081884c7d659a2feaa0c55ad015 pid 4242 counter 1234567 build 10.0.17763.1 event 12289")
    clean = without_noise(line, keep=["IOException", "12289"])
    assert clean == "at System.IO.IOException: cannot open on user mail hash counter build 10.0.17763.1 event 12289"


def test_mixed_languages_and_short_pastes():
    ru = analyse("Тема: Сбой резервного копирования\nЗадание завершилось с ошибкой 0x80070005: отказано в доступе\n")
    assert ru.title == "Сбой резервного копирования" and ru.identifiers == ("0x80070005",)
    assert analyse("UPS dies").lines == ("UPS dies",)  # a two-word paste is all there is: kept


def test_noise_only_paste_has_nothing_to_search_with():
    noise = "\n".join(f"2026-11-03 02:14:{s:02d} {{3f2504e0-4f89-11d3-9a0c-0305e82c33{s:02d}}} 10.0.0.{s}" for s in range(30))
    assert analyse(noise).empty


def test_twenty_thousand_characters_of_junk_are_survived():
    rng = random.Random(7)
    junk = "".join(rng.choice(string.printable + "äßжș\x1b\x00") for _ in range(25_000))
    a = analyse(junk + "\nThe backup job fails with access denied every night\n")
    assert len(a.original) == MAX_CHARS  # cut: the tail of a huge paste is not read
    assert all("\x00" not in line and "\x1b" not in line for line in a.lines)


def test_case_draft_is_valid_front_matter_with_the_codes_and_the_paste():
    draft = case_draft(analyse(JOB_LOG, products=["Windows Server"]))
    front, body = draft.split("\n---\n", 1)
    meta = yaml.safe_load(front.removeprefix("---\n"))
    assert meta["type"] == "case" and meta["status"] == "open" and meta["title"] == "Nightly backup fails - URGENT"
    assert meta["error_codes"] == ["0x80070005", "153"] and meta["product"] == "Windows Server"
    assert any("Access is denied" in s for s in meta["symptoms"])
    assert "## Original text" in body and "Failed to create file" in body.split("## Original text")[1]


def test_each_event_goes_with_the_source_above_it_and_user_sentences_stay():
    a = analyse("Source: VSS\nEvent ID: 8193\nSource: disk\nEventID: 153\nUser: N/A\n"
                "User: cannot open Outlook after the update today\nSubject: RE: FW: SQL error 18456 login failed\n")
    assert a.event_sources == {"8193": "VSS", "153": "disk"}
    assert "User: cannot open Outlook after the update today" in a.lines and "User: N/A" not in a.text
    assert a.title == "SQL error 18456 login failed"  # every reply prefix off, the code kept


def test_framework_names_are_not_taken_for_host_names():
    assert without_noise("System.Net.WebException in ASP.NET on srv01.corp.contoso.local; Stack trace: follows") == \
        "System.Net.WebException in ASP.NET on ; Stack trace: follows"

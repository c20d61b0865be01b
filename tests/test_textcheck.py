"""The text rules as plain functions: what each kind of field refuses, and how stored text is shown."""

import pytest

from models.textcheck import number_problem, offending, problem, shown


@pytest.mark.parametrize("text", ["Đã ban hành kế hoạch.\nTrang 2:\tphụ lục", "dòng một\r\ndòng hai", "😀 ok"])
def test_a_note_may_hold_newlines_tabs_and_any_letter(text):
    assert problem(text, "note") is None


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\x9b", "\u202e", "\u2066"])
def test_a_note_refuses_controls_and_bidi_overrides(char):
    assert offending(f"ghi {char} chú", "note") == char
    assert f"U+{ord(char):04X}" in problem(f"ghi {char} chú", "note")


@pytest.mark.parametrize("char", ["\n", "\r", "\t", "\x00", "\u200b", "\u200d", "\ufeff", "\u202e", "\u00ad", "\u2060"])
def test_a_line_refuses_controls_and_invisible_characters(char):
    assert offending(f"15/SXD{char}QLXD", "number") == char
    assert offending(f"Sở{char}Xây dựng", "line") == char


@pytest.mark.parametrize("number", ["2550/STTTT-BCTT", "12/KH-UBND", "15/2020/NĐ-CP", "45/QĐ-UBND", "1/X", "7/ĐHVT"])
def test_real_document_numbers_are_accepted(number):
    assert number_problem(number) is None


@pytest.mark.parametrize("number", ["2550 / STTTT", "2550/STTTT-BCTT\r\nBcc: x", "STTTT-BCTT", "2550/", "2550/STTTT-",
                                    "2550/STTTT--BCTT", "2550/ST_TT", "2550/STTTT\u202eTTCB", "2550/ST\u200bTTT", ""])
def test_numbers_that_are_not_a_so_ky_hieu_are_refused(number):
    assert number_problem(number)


def test_shown_makes_every_hidden_character_visible_and_drops_nothing():
    assert shown("a\x1b[31mb\x00c\u202ed") == "a\\u001b[31mb\\u0000c\\u202ed"
    assert shown("một\ndòng\thai") == "một\\u000adòng\\u0009hai"
    assert shown("một\ndòng\thai", multiline=True) == "một\ndòng\thai"
    assert shown("Sở Xây dựng") == "Sở Xây dựng"

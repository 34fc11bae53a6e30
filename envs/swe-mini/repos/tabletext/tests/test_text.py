import pytest

from tabletext.text import display_width, pad, wrap


def test_width_of_ascii():
    assert display_width("hello") == 5


def test_width_of_empty_string():
    assert display_width("") == 0


def test_width_of_wide_characters():
    assert display_width("日本") == 4


def test_width_ignores_combining_marks():
    assert display_width("e\u0301") == 1


def test_width_ignores_colour_codes():
    assert display_width("\x1b[31mred\x1b[0m") == 3


def test_strip_ansi():
    from tabletext.text import strip_ansi

    assert strip_ansi("\x1b[1;32mok\x1b[0m done") == "ok done"


@pytest.mark.parametrize("align,expected", [("left", "ab   "), ("right", "   ab"), ("center", " ab  ")])
def test_pad(align, expected):
    assert pad("ab", 5, align) == expected


def test_pad_never_truncates():
    assert pad("abcdef", 3, "left") == "abcdef"


def test_pad_rejects_unknown_alignment():
    with pytest.raises(ValueError, match="unknown alignment"):
        pad("x", 3, "justify")


def test_wrap_breaks_at_spaces():
    assert wrap("the quick brown fox", 10) == ["the quick", "brown fox"]


def test_wrap_keeps_line_breaks():
    assert wrap("one\ntwo three", 20) == ["one", "two three"]


def test_wrap_short_text_is_unchanged():
    assert wrap("short", 10) == ["short"]


def test_wrap_cuts_long_words():
    assert wrap("a supercalifragilistic word", 8) == ["a", "supercal", "ifragili", "stic", "word"]


def test_wrap_rejects_zero_width():
    with pytest.raises(ValueError):
        wrap("text", 0)

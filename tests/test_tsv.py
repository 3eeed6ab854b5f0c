"""Tables between stages: every value comes back exactly, whatever characters it holds."""

from audiogan.tsv import escape, read_tsv, unescape, write_tsv

AWKWARD = [
    "plain.wav",
    "tab\there",
    "new\nline\r\n",
    "back\\slash\\t not a tab",
    "no-break\u00a0space and line\u2028separator",  # not printable, nothing to escape
    "\x00\x07 controls",
    "ünïcødé 音",
    "",
    "\\",
]


def test_awkward_values_round_trip_through_a_table(tmp_path):
    rows = [{"file": value, "n": number} for number, value in enumerate(AWKWARD)]
    write_tsv(tmp_path / "t.tsv", rows, ("file", "n"))
    lines = (tmp_path / "t.tsv").read_text(encoding="utf-8").split("\n")
    assert len(lines) == len(AWKWARD) + 2  # header, one line per row, final newline
    assert [row["file"] for row in read_tsv(tmp_path / "t.tsv")] == AWKWARD


def test_escape_leaves_plain_text_alone_and_escapes_the_four_characters():
    assert escape("a b.wav") == "a b.wav"
    assert escape(12) == "12" and escape(None) == ""
    assert escape("a\tb\\c\nd\re") == "a\\tb\\\\c\\nd\\re"
    assert escape("\u2028\u00a0") == "\u2028\u00a0"
    for value in AWKWARD:
        assert unescape(escape(value)) == value

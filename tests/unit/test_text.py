"""visible / relative_to_watch / elide_left: the guards between untrusted names and the terminal."""
from __future__ import annotations

import re

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sniff_tui.core.textfmt import elide_left, relative_to_watch, visible

HOSTILE = [b"\x1b[31m", b"\x1b]0;title\x07", b"\n", b"\r", b"\t", b"\x00", b"\x7f", b"\xc2\x85",
           b"\xc2\x9b", b"\xe2\x80\xa8", b"\xff", b"\xed\xa0\x80", b"\\", b"\\x1b", b"[bold]",
           "文件".encode(), "é".encode()]
hostile_bytes = st.lists(st.sampled_from(HOSTILE) | st.binary(max_size=6), max_size=12).map(b"".join)
any_bytes = st.binary(max_size=200) | hostile_bytes
# Any code point, lone surrogates included: str fields of a replayed record can hold them.
any_str = st.text(st.characters(blacklist_categories=()), max_size=100)


def is_terminal_safe(text: str) -> bool:
    return not any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 or ch in "\u2028\u2029"
                   or 0xD800 <= ord(ch) <= 0xDFFF for ch in text)


def unvisible(text: str) -> bytes:
    """The inverse of visible() on bytes: proves no two names share a rendering."""
    out = bytearray()
    pos = 0
    for m in re.finditer(r"\\(\\|n|t|r|x[0-9a-f]{2}|u[0-9a-f]{4})", text):
        out += text[pos:m.start()].encode("utf-8")
        esc = m.group(1)
        if esc == "\\":
            out += b"\\"
        elif esc in "ntr":
            out += {"n": b"\n", "t": b"\t", "r": b"\r"}[esc]
        elif esc[0] == "x":
            out.append(int(esc[1:], 16))  # \xNN always stands for the byte NN
        else:
            out += chr(int(esc[1:], 16)).encode("utf-8")
        pos = m.end()
    out += text[pos:].encode("utf-8")
    return bytes(out)


@settings(max_examples=500)
@given(any_bytes)
def test_visible_bytes_is_safe_and_encodable(raw: bytes) -> None:
    out = visible(raw)
    assert is_terminal_safe(out)
    out.encode("utf-8", "strict")


@settings(max_examples=500)
@given(any_str)
def test_visible_str_is_safe_and_encodable(text: str) -> None:
    out = visible(text)
    assert is_terminal_safe(out)
    out.encode("utf-8", "strict")


@settings(max_examples=500)
@given(any_bytes)
def test_visible_is_injective_on_bytes(raw: bytes) -> None:
    assert unvisible(visible(raw)) == raw


@given(any_bytes, any_bytes)
def test_different_names_render_differently(a: bytes, b: bytes) -> None:
    assume(a != b)
    assert visible(a) != visible(b)


@given(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80))
def test_printable_ascii_is_unchanged(text: str) -> None:
    assume("\\" not in text)
    assert visible(text.encode()) == text == visible(text)


def test_escapes_are_visible() -> None:
    assert visible(b"\x1b[31mred") == "\\x1b[31mred"
    assert visible(b"a\nb") == "a\\nb"
    assert visible(b"a\\nb") == "a\\\\nb"  # a real backslash-n differs from a newline
    assert visible(b"\xff\xfe") == "\\xff\\xfe"
    assert visible("\x9b2J") == "\\u009b2J"  # C1 CSI
    assert visible("\u2028") == "\\u2028"
    assert visible("\ud800") == "\\ud800"  # lone surrogate from str input
    assert visible("文件.txt".encode()) == "文件.txt"
    assert visible(b"[bold red]x[/]") == "[bold red]x[/]"  # markup is the widget's problem


def test_relative_to_watch_basic() -> None:
    assert relative_to_watch(b"/w/watched/a/b", [b"/w/watched"]) == b"a/b"
    assert relative_to_watch(b"/w/watched", [b"/w/watched"]) == b"."
    assert relative_to_watch(b"/w/watched/a", [b"/w/watched/"]) == b"a"
    assert relative_to_watch(b"/etc/passwd", [b"/w/watched"]) == b"/etc/passwd"
    assert relative_to_watch(b"/etc/passwd", [b"/"]) == b"etc/passwd"
    assert relative_to_watch(b"/x", []) == b"/x"


def test_relative_to_watch_prefix_confusion() -> None:
    watches = [b"/w/watched"]
    assert relative_to_watch(b"/w/watched-sibling/x", watches) == b"/w/watched-sibling/x"
    assert relative_to_watch(b"/w/watchedx", watches) == b"/w/watchedx"


def test_relative_to_watch_deepest_wins() -> None:
    for watches in ([b"/w", b"/w/deep"], [b"/w/deep", b"/w"], [b"/", b"/w/deep", b"/w"]):
        assert relative_to_watch(b"/w/deep/f", watches) == b"f"
        assert relative_to_watch(b"/w/other/f", watches) == b"other/f"


path_parts = st.lists(st.binary(min_size=1, max_size=6).filter(lambda p: b"/" not in p),
                      min_size=1, max_size=5)


@given(path_parts, path_parts)
def test_relative_to_watch_rejoins(root_parts: list[bytes], rest: list[bytes]) -> None:
    root = b"/" + b"/".join(root_parts)
    path = root + b"/" + b"/".join(rest)
    rel = relative_to_watch(path, [root])
    assert root + b"/" + rel == path
    # A sibling whose name merely starts with the watch's name is not inside it.
    assert relative_to_watch(root + b"x/" + rest[0], [root]) == root + b"x/" + rest[0]


@settings(max_examples=500)
@given(st.text(max_size=200), st.integers(0, 250))
def test_elide_left_keeps_end_and_width(text: str, width: int) -> None:
    # Width is in terminal cells; a wide character that does not fit leaves one cell unused.
    from rich.cells import cell_len
    out = elide_left(text, width)
    assert cell_len(out) <= max(width, 0)
    if cell_len(text) <= width:
        assert out == text
    elif width >= 1:
        assert out.startswith("…")
        assert text.endswith(out[1:])
        assert cell_len(out) >= width - 1
    if text.isascii() and text.isprintable():
        assert len(out) == min(len(text), max(width, 0))


def test_elide_left_counts_wide_characters_as_two_cells() -> None:
    assert elide_left("/docs/報告書.txt", 9) == "…告書.txt"


def test_elide_left_examples() -> None:
    assert elide_left("/a/very/long/path/name.txt", 10) == "…/name.txt"
    assert elide_left("short", 10) == "short"
    assert elide_left("abc", 0) == ""
    assert elide_left("abc", 1) == "…"


def test_numbers_and_times_read_like_a_person_wrote_them() -> None:
    from sniff_tui.core.textfmt import ago, clock, human_bytes, human_count, one_line, plural
    assert human_bytes(100_000) == "97.7 KiB" and human_bytes(512) == "512 B"
    assert human_count(1_576) == "1,576" and human_count(2_500_000) == "2.5M"
    assert plural(1, "process", "processes") == "1 process"
    assert plural(2, "process", "processes") == "2 processes"
    assert ago(100.0, 103.2) == "3 seconds ago" and ago(100.0, 100.5) == "now"
    assert clock(1e300) == "??:??:??.???" and clock(0.5, utc=True, digits=0) == "00:00:00"
    long = "/x" * 2500
    assert len(one_line(long)) == 200 and one_line("a\x1b[2Jb") == "a\\x1b[2Jb"

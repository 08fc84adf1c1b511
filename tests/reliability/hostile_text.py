"""Hypothesis strategies for hostile text: what users and corpora actually throw at us.

Random Unicode (surrogates included), invalid UTF-8 bytes, NUL bytes, empty and
whitespace-only strings, very long documents and words, emoji and mixed scripts.
"""

from hypothesis import strategies as st

EMOJI = "😀👍🏽👨‍👩‍👧‍👦🇫🇷❤️\u200d🔥"
SCRIPTS = ("the cat", "Кошка сидит", "猫が座った", "القط جلس", "गाय", "ε=mc²", "קצת עברית", "ĉu vi?",
           "\u0301\u0301 combining", "ﬁ ligature ＦＵＬＬ", "a\u200bb zero width", "Ⅻ ½ ²")
WHITESPACE = " \t\n\r\x0b\x0c\u00a0\u2028\u2029\u3000\u200b"

# Lone surrogates are what Python makes of undecodable command-line bytes (surrogateescape).
SURROGATES = [chr(c) for c in (0xD800, 0xDBFF, 0xDC80, 0xDCFF, 0xDFFF)]
any_unicode = st.text(alphabet=st.characters() | st.sampled_from(SURROGATES), max_size=60)
whitespace = st.text(alphabet=WHITESPACE, max_size=20)
mixed = st.lists(st.sampled_from(SCRIPTS + (EMOJI, "\x00", "NUL\x00inside", "")), max_size=8).map(" ".join)
long_word = st.integers(1_000, 20_000).map(lambda n: "w" * n)
long_document = st.sampled_from(["the cat sat . ", "猫 ", "😀", "a\x00", "x" * 99 + " "]).map(
    lambda unit: (unit * (100_000 // len(unit) + 1))[:100_000])

strings = st.one_of(any_unicode, whitespace, mixed, st.just(""), long_word, long_document)
invalid_utf8 = st.binary(max_size=80).filter(lambda b: not _is_utf8(b)) | st.sampled_from(
    [b"\xff\xfe", b"caf\xe9", b"\xc3", b"\xed\xa0\x80", b"a\x00\xff b", b"\xf4\x90\x80\x80"])
texts = st.one_of(strings, st.binary(max_size=80), invalid_utf8)  # str or bytes


def _is_utf8(data):
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True

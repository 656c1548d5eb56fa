"""Passages from real Chinese and English documents: bounded, exact, on sentence and paragraph ends."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from tunesmith.synth.documents import read_documents
from tunesmith.synth.split import estimate_tokens, split, tidy

DATA = Path(__file__).parent / "data" / "synth"
SENTENCE_END = tuple("。！？.!?”")
CLAUSE_END = tuple("，；：、,;:")


def _sentence_around(text, pos):
    before = max(text.rfind(c, 0, pos) for c in "。！？\n") + 1
    after = min((i for i in (text.find(c, pos) for c in "。！？\n") if i >= 0), default=len(text))
    return text[before:after + 1]


def _doc(name):
    return next(read_documents([DATA / name]))


@pytest.mark.parametrize("name", ["tea_zh.txt", "tea_en.txt", "bridges.md", "article_zh.html"])
@pytest.mark.parametrize("max_tokens,overlap", [(60, 20), (120, 30), (400, 50)])
def test_passages_are_bounded_exact_and_end_on_sentences(name, max_tokens, overlap):
    doc = _doc(name)
    passages = split(doc.text, max_tokens, overlap)
    assert passages and [p.index for p in passages] == list(range(len(passages)))
    for p in passages:
        assert p.tokens == estimate_tokens(doc.text[p.start:p.end]) <= max_tokens
        assert p.text == tidy(doc.text[p.start:p.end])          # offsets point at the real text
        if not p.text.endswith(SENTENCE_END):
            # Only a sentence longer than the whole budget may be cut, and then at a clause.
            assert p.text.endswith(CLAUSE_END), p.text[-20:]
            assert estimate_tokens(_sentence_around(doc.text, p.end)) > max_tokens
    # Nothing is skipped: consecutive passages touch or overlap, and together reach both ends.
    assert doc.text[:passages[0].start].strip() == ""
    assert doc.text[passages[-1].end:].strip() == ""
    for a, b in zip(passages, passages[1:]):
        assert b.start > a.start
        if b.start >= a.end:                                    # adjacent, not overlapping: nothing between
            assert doc.text[a.end:b.start].strip() == ""


def test_chinese_paragraphs_stay_whole_when_they_fit():
    doc = _doc("tea_zh.txt")
    paragraphs = [line.strip("\u3000 ") for line in doc.text.splitlines() if line.strip()]
    passages = split(doc.text, max_tokens=200, overlap_tokens=40)
    # Every passage is one or more whole paragraphs: no cut inside a paragraph, hence no overlap.
    for p in passages:
        assert set(p.text.split("\n")) <= set(paragraphs), p.text[:40]
    assert "".join(p.text.replace("\n", "") for p in passages) == "".join(paragraphs)


def test_long_english_paragraph_is_cut_between_sentences_with_overlap():
    doc = _doc("tea_en.txt")
    passages = split(doc.text, max_tokens=70, overlap_tokens=30)
    overlapping = [(a, b) for a, b in zip(passages, passages[1:]) if b.start < a.end]
    assert overlapping, "cuts inside a paragraph carry context over"
    for a, b in overlapping:
        shared = doc.text[b.start:a.end]
        assert shared.endswith((".", "?", "!")) and b.text.startswith(shared.strip()[:20])
        assert estimate_tokens(shared) <= 30
    # "e.g." and initials are not sentence ends.
    text = "Brew it hot, e.g. at 95 degrees. Dr. J. Smith agrees with this. " * 3
    for p in split(text, max_tokens=20, overlap_tokens=0):
        assert not p.text.endswith(("e.g.", "Dr.", "J."))


def test_markdown_headings_go_with_the_text_below():
    doc = _doc("bridges.md")
    assert "title:" not in doc.text and "draft:" not in doc.text       # front matter and comment blanked
    assert len(doc.text) == len((DATA / "bridges.md").read_text(encoding="utf-8"))  # offsets still match the file
    for p in split(doc.text, max_tokens=110, overlap_tokens=20):
        assert not p.text.splitlines()[-1].startswith("#")


def test_run_on_text_without_punctuation_is_still_bounded():
    text = "茶" * 500 + " " + "word " * 300
    passages = split(text, max_tokens=50, overlap_tokens=10)
    assert all(p.tokens <= 50 for p in passages)
    assert sum(p.text.count("茶") for p in passages) >= 500


def test_a_real_tokenizer_bounds_passages(tiny_tokenizer):
    count = lambda s: len(tiny_tokenizer(s, add_special_tokens=False)["input_ids"])  # noqa: E731
    for name in ("tea_zh.txt", "tea_en.txt"):
        doc = _doc(name)
        passages = split(doc.text, max_tokens=150, overlap_tokens=30, count=count)
        assert len(passages) > 2
        assert all(count(doc.text[p.start:p.end]) == p.tokens <= 150 for p in passages)


def test_estimate_counts_cjk_per_character_and_words_by_length():
    assert estimate_tokens("") == 0
    assert estimate_tokens("你好世界") == 6                    # 4 x 1.3, rounded up
    assert estimate_tokens("tea is hot") == 3
    assert estimate_tokens("internationalisation") == 5


_sentence = st.one_of(
    st.builds(lambda w: " ".join(w).capitalize() + ".", st.lists(st.sampled_from(
        ["tea", "water", "leaf", "green", "oxidised", "pot", "brewed", "slowly"]), min_size=2, max_size=25)),
    st.builds(lambda c: "".join(c) + "。", st.lists(st.sampled_from(list("茶树叶水温时间绿红乌龙")), min_size=2,
                                                   max_size=60)),
)
_paragraph = st.builds(" ".join, st.lists(_sentence, min_size=1, max_size=6))


@settings(max_examples=60, deadline=None)
@given(st.lists(_paragraph, min_size=1, max_size=6), st.integers(12, 120), st.integers(0, 40))
def test_property_every_sentence_lands_in_a_passage(paragraphs, max_tokens, overlap):
    text = "\n\n".join(paragraphs)
    passages = split(text, max_tokens, overlap)
    covered = [False] * len(text)
    for p in passages:
        assert p.tokens <= max_tokens
        assert p.text == tidy(text[p.start:p.end])
        for k in range(p.start, p.end):
            covered[k] = True
    assert all(covered[k] for k, ch in enumerate(text) if not ch.isspace())

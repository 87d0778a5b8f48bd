"""A corpus that is not text (random bytes passed as data.paths) is named in one warning line with its numbers,
when prepared, when loaded from the cache, and when a run is checked; real text (the committed tiny corpus) is
not."""

import math
import warnings

import numpy as np
import pytest

from experiments.data import ENTROPY_SHARE, NOT_TEXT_SHARE, prepare, text_check


def _corpus_warnings(call):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        result = call()
    return result, [str(w.message) for w in seen if "does not look like text" in str(w.message)]


@pytest.fixture
def random_file(tmp_path):
    path = tmp_path / "noise.bin"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    return path


@pytest.mark.parametrize("nul, mostly_text", [(50, True), (60, False)])
def test_byte_shares_are_counted_exactly(nul, mostly_text):
    """900 ASCII letters, `nul` NUL bytes (control), 50 bytes 0xFF (never valid UTF-8), one 3-byte UTF-8 character:
    100 of 1,003 bytes not text is under 10%, 110 of 1,013 over."""
    doc = b"ab" * 450 + b"\x00" * nul + b"\xff" * 50 + "\u20ac".encode()
    check = text_check([doc], np.frombuffer(doc, dtype=np.uint8), 256)
    total = 953 + nul
    assert check["bytes"] == total
    assert check["invalid_utf8_share"] == 50 / total and check["control_share"] == nul / total
    assert check["mostly_text"] is mostly_text
    probs = np.array([450, 450, nul, 50, 1, 1, 1]) / total
    assert check["entropy_share"] == pytest.approx(-(probs * np.log(probs)).sum() / math.log(256), rel=1e-12)


def test_random_bytes_warn_in_one_line_when_prepared_and_when_loaded(tmp_path, random_file):
    corpus, said = _corpus_warnings(lambda: prepare("text", cache_dir=tmp_path / "cache", paths=[str(random_file)]))
    assert len(said) == 1 and "\n" not in said[0]
    check = corpus.manifest["text_check"]
    assert check["invalid_utf8_share"] + check["control_share"] > NOT_TEXT_SHARE
    assert check["entropy_share"] > ENTROPY_SHARE and not check["mostly_text"]
    assert said[0].startswith(f"corpus 'text' ({random_file}) does not look like text: "
                              f"{check['invalid_utf8_share']:.1%} of its 200,000 bytes are not valid UTF-8 and "
                              f"{check['control_share']:.1%} are control bytes")
    assert "ln 256 = 5.545 nats" in said[0]
    _, again = _corpus_warnings(lambda: prepare("text", cache_dir=tmp_path / "cache", paths=[str(random_file)]))
    assert again == said  # the cached corpus says it again: every run trained on it hears


def test_a_run_on_random_bytes_is_warned_before_it_trains(compose, random_file):
    from experiments.trainer import check

    cfg = compose("experiment=debug", "data=text", f"data.paths=[{random_file}]")
    _, said = _corpus_warnings(lambda: check(cfg))
    assert len(said) == 1


def test_real_text_does_not_warn(data_cache):
    corpus, said = _corpus_warnings(lambda: prepare("tiny", cache_dir=data_cache))
    assert said == [] and corpus.manifest["text_check"]["mostly_text"]
    check = corpus.manifest["text_check"]
    assert check["invalid_utf8_share"] == 0 and check["control_share"] == 0 and check["entropy_share"] < 0.6

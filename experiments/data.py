"""Corpora prepared once into cached token arrays (memmap) with a manifest, then served as batches.

Preparation: documents (experiments/corpora.py) -> held-out split by document (`tail`: the last `val_fraction`
of every document, cut at a line break; `documents`: every k-th whole document) -> tokens (byte or BPE) ->
`train.bin`, `val.bin`, `manifest.json` in `<cache_dir>/<key>/`, written to a scratch folder and renamed into
place, so concurrent sweep jobs and crashes never leave half a cache.

Text check (`text_check`, in the manifest as `text_check`): the share of the corpus's bytes that are not text
(in no valid UTF-8 sequence, or control bytes other than tab, line feed, form feed and carriage return) and the
training tokens' unigram entropy as a share of its maximum ln(vocab). Above NOT_TEXT_SHARE (10%) of bytes, or
above ENTROPY_SHARE (95%) of ln(vocab) (English bytes sit near 56%, random bytes at 100%), every load of the
corpus warns in one line: a model trained on it learns next to nothing (random bytes train to ln 256).

Serving: training windows of T+1 tokens at random offsets drawn from a generator seeded by (seed, step,
micro-step), so the data a step sees depends on nothing but its index (a resumed run sees the same batches);
validation on a fixed set of evenly spaced windows, the same for every run of a corpus and context length.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.corpora import CORPORA, Document, Source, load_documents, text_files
from experiments.tokenizer import BPETokenizer, ByteTokenizer
from scaling.errors import ScalingError, first_line

SEPARATOR = b"\n\n"  # between documents in the token stream
# BPE merges are learnt from at most this many bytes of the training split, taken evenly from every document:
# a 32 MB sample learns an 8k-16k vocabulary in a fraction of the time the whole of a 120 MB corpus takes
BPE_TRAIN_BYTES = 32 << 20


def bpe_sample(parts: list[bytes], budget: int = BPE_TRAIN_BYTES) -> list[bytes]:
    """The same share of every training part (its head, cut at a line break), `budget` bytes in all; all of
    them when they are smaller."""
    total = sum(map(len, parts))
    if total <= budget:
        return parts
    share = budget / total
    out = []
    for raw in parts:
        cut = math.ceil(len(raw) * share)
        newline = raw.rfind(b"\n", 0, cut)
        out.append(raw[:newline + 1] if newline > 0 else raw[:cut])
    return out


def split_documents(docs: list[Document], val_fraction: float, how: str) -> tuple[list[bytes], list[bytes]]:
    """(train parts, validation parts) of each document."""
    if not 0 < val_fraction < 1:
        raise ScalingError(f"data.val_fraction must be between 0 and 1, got {val_fraction}")
    if how == "documents":
        k = max(2, round(1 / val_fraction))
        val = [raw for i, (_, raw) in enumerate(docs) if i % k == k - 1]
        if not val:
            raise ScalingError(f"data.split=documents holds out every {k}th document but the corpus has only "
                               f"{len(docs)}: use data.split=tail")
        return [raw for i, (_, raw) in enumerate(docs) if i % k != k - 1], val
    train, val = [], []
    for _, raw in docs:
        cut = len(raw) - math.ceil(len(raw) * val_fraction)
        newline = raw.rfind(b"\n", 0, cut)
        if newline > 0 and cut - newline < 2000:  # cut at a line break when one is near
            cut = newline + 1
        train.append(raw[:cut])
        val.append(raw[cut:])
    return train, val


def split_by_source(docs: list[Document], val_fraction: float, how: str) -> tuple[list[bytes], list[bytes], dict]:
    """The library's split: `split_documents` within each source (document names are `source/...`), so every
    source holds out its share; a source with too few documents for `documents` holds out tails instead.
    Returns (train parts, validation parts, {source: {"train": bytes, "val": bytes}})."""
    groups: dict[str, list[Document]] = {}
    for doc in docs:
        groups.setdefault(doc[0].split("/", 1)[0], []).append(doc)
    train, val, per_source = [], [], {}
    for source, group in groups.items():
        try:
            t, v = split_documents(group, val_fraction, how)
        except ScalingError:
            t, v = split_documents(group, val_fraction, "tail")
        train += t
        val += v
        per_source[source] = {"train": sum(map(len, t)), "val": sum(map(len, v))}
    return train, val, per_source


def unigram_entropy(tokens: np.ndarray, vocab_size: int) -> float:
    """Entropy (nats/token) of the token frequencies: the loss of the best model that ignores context."""
    counts = np.bincount(np.asarray(tokens, dtype=np.int64), minlength=vocab_size).astype(float)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum()) + 0.0


NOT_TEXT_SHARE = 0.10  # bytes outside valid UTF-8 or control bytes, as a share of the corpus: not text above
ENTROPY_SHARE = 0.95  # unigram entropy / ln(vocab): near-uniform tokens (random or compressed bytes) above
TEXT_CONTROLS = (9, 10, 12, 13)  # tab, line feed, form feed, carriage return: control bytes that text holds


def text_check(docs: list[bytes], tokens: np.ndarray, vocab_size: int) -> dict:
    """How much the corpus looks like text (see the module docstring): byte shares and the entropy share."""
    counts = np.zeros(256, dtype=np.int64)
    invalid = 0
    for raw in docs:
        counts += np.bincount(np.frombuffer(raw, dtype=np.uint8), minlength=256)
        invalid += len(raw) - len(raw.decode("utf-8", errors="ignore").encode("utf-8"))
    total = int(counts.sum())
    control = np.zeros(256, dtype=bool)
    control[:32], control[127] = True, True
    control[list(TEXT_CONTROLS)] = False
    entropy_share = unigram_entropy(tokens, vocab_size) / math.log(vocab_size) if len(tokens) else 0.0
    out = {"bytes": total, "invalid_utf8_share": invalid / max(total, 1),
           "control_share": int(counts[control].sum()) / max(total, 1), "entropy_share": entropy_share}
    out["mostly_text"] = bool(out["invalid_utf8_share"] + out["control_share"] <= NOT_TEXT_SHARE
                              and entropy_share <= ENTROPY_SHARE)
    return out


def warn_not_text(manifest: dict) -> None:
    """One warning line when the manifest's text check says the corpus is not mostly text."""
    check = manifest.get("text_check")
    if not check or check.get("mostly_text", True):
        return
    vocab = manifest["vocab_size"]
    warnings.warn(f"corpus {manifest['corpus']!r} ({manifest['source']}) does not look like text: "
                  f"{check['invalid_utf8_share']:.1%} of its {check['bytes']:,} bytes are not valid UTF-8 and "
                  f"{check['control_share']:.1%} are control bytes (text: under {NOT_TEXT_SHARE:.0%} together), and "
                  f"its unigram entropy is {check['entropy_share']:.1%} of the maximum ln {vocab} = "
                  f"{math.log(vocab):.3f} nats (text: under {ENTROPY_SHARE:.0%}); a model learns next to nothing "
                  f"from it: check data.paths", stacklevel=3)


@dataclass
class Corpus:
    """A prepared corpus: memory-mapped train and validation tokens plus their manifest."""

    root: Path
    manifest: dict
    train: np.ndarray
    val: np.ndarray

    @property
    def vocab_size(self) -> int:
        return self.manifest["vocab_size"]

    @property
    def digest(self) -> str | None:
        """The tokens' identity: a hash of the two files' sha256 (None for a cache from before checksums). Runs
        and checkpoints record it, so that a corpus whose files changed is not taken for the one they trained
        on."""
        checksum = self.manifest.get("checksum")
        return None if checksum is None else hashlib.sha256(json.dumps(checksum, sort_keys=True).encode()
                                                            ).hexdigest()[:16]

    @property
    def val_bytes_per_token(self) -> float:
        return self.manifest["bytes"]["val"] / self.manifest["tokens"]["val"]

    def val_windows(self, seq_len: int, count: int) -> np.ndarray:
        """`count` evenly spaced windows of seq_len + 1 tokens from the validation split (fewer if it is short)."""
        last = len(self.val) - seq_len - 1
        if last < 0:
            raise ScalingError(f"model.seq_len {seq_len} is longer than the validation set ({len(self.val)} "
                               f"tokens): lower model.seq_len or raise data.val_fraction")
        starts = np.unique(np.linspace(0, last, count).round().astype(np.int64))
        return self.val[starts[:, None] + np.arange(seq_len + 1)].astype(np.int64)

    def train_batch(self, seed: int, step: int, micro: int, batch: int, seq_len: int) -> np.ndarray:
        """`batch` random training windows of seq_len + 1 tokens for (step, micro-step): inputs [:, :-1],
        targets [:, 1:]."""
        last = len(self.train) - seq_len - 1
        if last < 0:
            raise ScalingError(f"model.seq_len {seq_len} is longer than the training set ({len(self.train)} tokens)")
        starts = np.random.default_rng([seed, step, micro]).integers(0, last + 1, size=batch)
        return self.train[starts[:, None] + np.arange(seq_len + 1)].astype(np.int64)


def cache_key(name: str, tokenizer: str, vocab_size: int, split: str, val_fraction: float, extra: str = "") -> str:
    key = f"{name}-{tokenizer}{vocab_size if tokenizer == 'bpe' else ''}-{split}{val_fraction:g}"
    if extra:
        key += "-" + hashlib.sha1(extra.encode()).hexdigest()[:10]
    return key


def _matches(path: Path, checksum: str) -> bool:
    """Whether `path`'s sha256 is `checksum`. A match is stamped beside it (`.<name>.verified`) with the file's
    inode, size, modification and change times, so that later runs hash a large cache again only once it has been
    written to: any write moves the change time, which no tool sets back. A file written in the last seconds is
    not stamped (as git treats a racily clean index): a write within the same clock tick would not show."""
    from scaling.atomic import atomic_write_text

    stat = path.stat()
    seen = f"{checksum} {stat.st_ino} {stat.st_size} {stat.st_mtime_ns} {stat.st_ctime_ns}"
    stamp = path.with_name(f".{path.name}.verified")
    with contextlib.suppress(OSError):
        if stamp.read_text() == seen:
            return True
    with path.open("rb") as f:
        if hashlib.file_digest(f, "sha256").hexdigest() != checksum:
            return False
    if time.time_ns() - max(stat.st_mtime_ns, stat.st_ctime_ns) > 2_000_000_000:
        with contextlib.suppress(OSError, ScalingError):  # a read-only cache is hashed again next time
            atomic_write_text(stamp, seen)
    return True


def _load(root: Path) -> Corpus:
    """The cache at `root`, checked against its manifest: each file's length and sha256 (a file damaged in place
    would otherwise train to the end on the wrong tokens); a damaged cache is one line saying to rebuild it."""
    def damaged(what: str) -> ScalingError:
        return ScalingError(f"the token cache {root} is damaged ({what}): delete that folder and rerun to "
                            f"prepare it again")

    try:
        manifest = json.loads((root / "manifest.json").read_text())
        dtype = np.dtype(manifest["dtype"])
        lengths, checksums = manifest["tokens"], manifest.get("checksum")  # caches from before checksums: none
        if not isinstance(lengths, dict) or not isinstance(checksums, dict | None):
            raise TypeError("tokens and checksum must be objects")
    except FileNotFoundError:
        raise damaged("manifest.json is missing") from None
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise damaged(f"manifest.json: {type(err).__name__}: {first_line(err)}") from None
    arrays = {}
    for split in ("train", "val"):
        path = root / f"{split}.bin"
        n = path.stat().st_size // dtype.itemsize if path.is_file() else -1
        if n != lengths.get(split):
            raise damaged(f"{split}.bin's length")
        if checksums is not None and not _matches(path, checksums.get(f"{split}.bin")):
            raise damaged(f"{split}.bin's contents differ from its checksum")
        arrays[split] = np.memmap(path, dtype=dtype, mode="r")
    warn_not_text(manifest)
    return Corpus(root, manifest, arrays["train"], arrays["val"])


def prepare(name: str, *, cache_dir: str | Path, tokenizer: str = "byte", vocab_size: int = 4096,
            split: str = "tail", val_fraction: float = 0.05, paths: list[str] | None = None,
            archive: str | None = None, hf_name: str | None = None, hf_split: str = "train",
            hf_field: str = "text", sources: list[str] | None = None, progress: bool = True) -> Corpus:
    """The corpus `name`, tokenized and cached (prepared on first use; later calls only map the files).
    `sources`: the library's sources or kinds (experiments/library.py; empty: all of them)."""
    if name not in CORPORA:
        raise ScalingError(f"unknown corpus {name!r}: choose one of {', '.join(CORPORA)}")
    if tokenizer not in ("byte", "bpe"):
        raise ScalingError(f"unknown tokenizer {tokenizer!r}: choose byte or bpe")
    extra = {"hf": f"{hf_name}|{hf_split}|{hf_field}"}.get(name, "")
    if name == "text":  # the files' identity: paths, sizes and modification times
        extra = json.dumps([(f, os.stat(f).st_size, os.stat(f).st_mtime_ns) for f in text_files(list(paths or []))])
    cache_dir = Path(cache_dir).expanduser()
    library = None
    if name == "library":  # its stages (fetch, extract) are cached apart; the key names the sources used
        from experiments.library import Library

        library = Library.build(list(sources or []), cache_dir, progress)
        extra = library.key
    root = cache_dir / cache_key(name, tokenizer, vocab_size, split, val_fraction, extra)
    if root.exists():  # a complete cache, or one _load names as damaged
        return _load(root)

    start = time.perf_counter()
    library_section, per_source = {}, None
    if library is not None:
        docs, library_section = library.documents(progress)
        source = Source("library", "npm, PyPI and Debian packages (manifest: sources)",
                        f"{len(library_section['sources'])} sources", "per source (manifest: sources)")
        train_parts, val_parts, per_source = split_by_source(docs, val_fraction, split)
    else:
        docs, source = load_documents(name, downloads=cache_dir / "downloads", paths=paths, archive=archive,
                                      hf_name=hf_name, hf_split=hf_split, hf_field=hf_field)
    if not docs or not any(raw for _, raw in docs):
        raise ScalingError(f"corpus {name!r} has no text")
    if per_source is None:
        train_parts, val_parts = split_documents(docs, val_fraction, split)
    trained = time.perf_counter()
    sample = bpe_sample(train_parts) if tokenizer == "bpe" else []
    tok = BPETokenizer.train(sample, vocab_size) if tokenizer == "bpe" else ByteTokenizer()
    trained = time.perf_counter() - trained
    sep = tok.encode(SEPARATOR)

    def stream(parts: list[bytes], what: str) -> np.ndarray:
        from tqdm import tqdm

        pieces = []
        with tqdm(total=sum(map(len, parts)), desc=f"{name}: {tok.name} tokens ({what})", unit="B",
                  unit_scale=True, disable=not progress or None) as bar:
            for ids, raw in zip(tok.encode_many(parts), parts, strict=True):
                pieces += [ids, sep]
                bar.update(len(raw))
        return np.concatenate(pieces[:-1]).astype(tok.dtype)

    train, val = stream(train_parts, "train"), stream(val_parts, "validation")
    scratch = cache_dir / f".{root.name}.{os.getpid()}.tmp"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    train.tofile(scratch / "train.bin")
    val.tofile(scratch / "val.bin")
    if tokenizer == "bpe":
        tok.save(scratch / "tokenizer.json")
    manifest = {
        "corpus": name, "source": source.source, "version": source.version, "license": source.license,
        "documents": len(docs), "tokenizer": tok.name, "vocab_size": tok.vocab_size,
        "dtype": np.dtype(tok.dtype).name, "split": split, "val_fraction": val_fraction,
        "bytes": {"train": sum(map(len, train_parts)) + len(SEPARATOR) * (len(train_parts) - 1),
                  "val": sum(map(len, val_parts)) + len(SEPARATOR) * (len(val_parts) - 1)},
        "tokens": {"train": int(len(train)), "val": int(len(val))},
        "unigram_entropy_nats": {"train": unigram_entropy(train, tok.vocab_size),
                                 "val": unigram_entropy(val, tok.vocab_size)},
        "text_check": text_check([raw for _, raw in docs], train, tok.vocab_size),
        "checksum": {f: hashlib.sha256((scratch / f).read_bytes()).hexdigest() for f in ("train.bin", "val.bin")},
        "prepared": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "prepare_seconds": time.perf_counter() - start, "tokenizer_train_seconds": trained,
        "tokenizer_train_bytes": sum(map(len, sample)),
    }
    if library is not None:
        for entry in library_section["sources"]:
            entry["split_bytes"] = per_source.get(entry["source"], {"train": 0, "val": 0})
        manifest.update(library_section)
    (scratch / "manifest.json").write_text(json.dumps(manifest, indent=2))
    try:
        os.rename(scratch, root)
    except OSError:  # another process finished first: use its copy
        shutil.rmtree(scratch, ignore_errors=True)
    return _load(root)


def main(argv: list[str] | None = None) -> int:
    """`python -m experiments.data [NAME] [--cache-dir DIR]`: prepare a corpus ahead of a sweep, print its manifest."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="Fetch and tokenize a corpus into the token cache.")
    parser.add_argument("name", nargs="?", default="gutenberg", choices=CORPORA)
    parser.add_argument("--cache-dir", default=".cache/data")
    parser.add_argument("--tokenizer", default="byte", choices=("byte", "bpe"))
    parser.add_argument("--vocab-size", type=int, default=4096)
    parser.add_argument("--sources", default="", help="library: comma-separated sources or kinds (default: all)")
    args = parser.parse_args(argv)
    try:
        corpus = prepare(args.name, cache_dir=args.cache_dir, tokenizer=args.tokenizer, vocab_size=args.vocab_size,
                         sources=[s for s in args.sources.split(",") if s])
    except ScalingError as err:
        print(f"experiments.data: error: {err}", file=sys.stderr)
        return 2
    m = corpus.manifest
    print(f"{m['corpus']}: {m['documents']} documents, {m['bytes']['train'] + m['bytes']['val']:,} bytes -> "
          f"{m['tokens']['train']:,} train + {m['tokens']['val']:,} validation {m['tokenizer']} tokens "
          f"({m['license']}; {m['source']}) in {corpus.root}")
    for entry in m.get("sources", []):
        print(f"  {entry['source']:<15} {entry['package']}@{entry['version']:<18} {entry['kept_bytes']:>12,} bytes "
              f"{entry['kept_documents']:>6} documents ({entry['duplicates_dropped']} duplicates dropped)  "
              f"{entry['license']}")
    for source, why in m.get("skipped", {}).items():
        print(f"  {source:<15} skipped: {why}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

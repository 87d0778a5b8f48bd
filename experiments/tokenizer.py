"""Tokenizers: raw bytes (the default: tiny models need a tiny vocabulary) or byte-level BPE trained with HF
`tokenizers` on the training split and cached beside the token arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from scaling.errors import ScalingError


def as_text(raw: bytes) -> str:
    """Documents are bytes; a few Gutenberg books are Latin-1 rather than UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class ByteTokenizer:
    """Token = byte: vocabulary 256, one token per byte, nothing to train."""

    name = "byte"
    vocab_size = 256
    dtype = np.uint8

    def encode(self, raw: bytes) -> np.ndarray:
        return np.frombuffer(raw, dtype=np.uint8)

    def decode(self, ids) -> str:
        return as_text(bytes(np.asarray(ids, dtype=np.uint8)))

    def encode_many(self, raws: list[bytes]):
        return (self.encode(raw) for raw in raws)


class BPETokenizer:
    """Byte-level BPE (GPT-2's scheme) via HF `tokenizers`."""

    name = "bpe"

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.vocab_size = tokenizer.get_vocab_size()
        self.dtype = np.uint16 if self.vocab_size <= 65536 else np.uint32

    @classmethod
    def train(cls, documents: list[bytes], vocab_size: int) -> BPETokenizer:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        if vocab_size < 257:
            raise ScalingError(f"data.vocab_size {vocab_size} is too small for byte-level BPE (at least 257)")
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      show_progress=False)
        tok.train_from_iterator((as_text(d) for d in documents), trainer=trainer)
        return cls(tok)

    @classmethod
    def load(cls, path: Path) -> BPETokenizer:
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_file(str(path)))

    def save(self, path: Path) -> None:
        self.tokenizer.save(str(path))

    def encode(self, raw: bytes) -> np.ndarray:
        return np.asarray(self.tokenizer.encode(as_text(raw)).ids, dtype=self.dtype)

    def decode(self, ids) -> str:
        return self.tokenizer.decode([int(i) for i in ids])

    def encode_many(self, raws: list[bytes], batch_bytes: int = 1 << 24):
        """The documents' ids in order, encoded in batches of ~16 MB on the tokenizer's threads."""
        batch, size = [], 0
        for raw in raws:
            batch.append(raw)
            size += len(raw)
            if size >= batch_bytes:
                yield from self._batch(batch)
                batch, size = [], 0
        yield from self._batch(batch)

    def _batch(self, raws: list[bytes]):
        for enc in self.tokenizer.encode_batch([as_text(raw) for raw in raws]):
            yield np.asarray(enc.ids, dtype=self.dtype)

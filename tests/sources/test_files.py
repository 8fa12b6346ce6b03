"""Watched-folder files → Articles, on the seed article and saved files of every kind."""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config import FolderSource
from monitor.errors import ArticleParseError, SourceError
from monitor.sources.files import iter_folder, read_article_file

DATA = Path(__file__).parent / "data"
SEED = Path(__file__).parents[2] / "seeds" / "000_bd3492a82530cc41.txt"


def read(path: Path, **kwargs: object) -> list:
    return read_article_file(path, path.read_bytes(), source="test", **kwargs)


def test_read_article_file_seed_txt_layout() -> None:
    [article] = read(SEED, language="it", tags=("seed",))
    lines = SEED.read_text(encoding="utf-8").splitlines()
    assert article.title.startswith("Prima chiamata tra Usa e Russia")
    assert article.summary == lines[1].strip()
    assert "Finlandia" in article.body
    assert lines[0] not in article.body
    assert article.origin == str(SEED)
    assert article.language == "it"
    assert article.tags == ("seed",)
    assert article.source == "test"
    assert article.url is None


def test_read_article_file_txt_skips_leading_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("\n  \nTitolo\n\nCorpo uno\nCorpo due\n", encoding="utf-8")
    [article] = read(path)
    assert (article.title, article.summary, article.body) == ("Titolo", "", "Corpo uno\nCorpo due")


def test_read_article_file_txt_single_line_is_title_only(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("Solo il titolo", encoding="utf-8")
    [article] = read(path)
    assert (article.title, article.summary, article.body) == ("Solo il titolo", "", "")


def test_read_article_file_txt_latin1_decoded(tmp_path: Path) -> None:
    text = (
        "Perché la città è più cara\n"
        "Il caffè costa già il doppio rispetto a un anno fa, e così il tè.\n"
        "Secondo l'Istat l'inflazione è cresciuta più del previsto: però gli analisti "
        "ritengono che entro l'anno la crescita dei prezzi rallenterà. Città come Milano "
        "e Bologna sono le più colpite; è lì che gli affitti sono aumentati di più.\n"
    )
    path = tmp_path / "latin.txt"
    path.write_bytes(text.encode("latin-1"))
    [article] = read(path)
    assert article.title == "Perché la città è più cara"
    assert "Città come Milano" in article.body


def test_read_article_file_txt_utf8_bom_stripped(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes("Titolo con BOM\nSommario".encode("utf-8-sig"))
    [article] = read(path)
    assert article.title == "Titolo con BOM"


def test_read_article_file_binary_garbage_raises(tmp_path: Path) -> None:
    path = tmp_path / "garbage.txt"
    path.write_bytes(random.Random(7).randbytes(4096))
    with pytest.raises(ArticleParseError, match=r"garbage\.txt.*binary"):
        read(path)


@pytest.mark.parametrize("content", [b"", b"  \n\n\t\n"])
@pytest.mark.parametrize("name", ["empty.txt", "empty.json", "empty.jsonl", "empty.html"])
def test_read_article_file_empty_raises(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ArticleParseError, match=rf"{name}: empty file"):
        read(path)


def test_read_article_file_renamed_copy_same_identity(tmp_path: Path) -> None:
    copy = tmp_path / "renamed-copy.txt"
    copy.write_bytes(SEED.read_bytes())
    [original], [renamed] = read(SEED), read(copy)
    assert renamed.fingerprint == original.fingerprint
    assert renamed.uid == original.uid
    assert renamed.origin != original.origin


def test_read_article_file_unsupported_suffix_raises(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"\xff\xd8\xff")
    with pytest.raises(ArticleParseError, match=r"photo\.jpg: unsupported file type '\.jpg'"):
        read(path)


def test_read_article_file_json_object_fields_and_aliases() -> None:
    path = DATA / "notizia.json"
    [article] = read(path)
    assert article.title == "Vertice NATO a Madrid"
    assert article.summary == "I leader dell'Alleanza si riuniscono in Spagna."
    assert article.body == "Il vertice discuterà l'adesione di Finlandia e Svezia."
    assert article.url == "https://www.example.it/vertice-nato"
    assert article.published == datetime(2022, 6, 28, 7, 0, tzinfo=UTC)
    assert article.language == "it"
    assert article.source == "ANSA"
    assert article.origin == str(path)


def test_read_article_file_json_forced_language_wins() -> None:
    [article] = read(DATA / "notizia.json", language="en")
    assert article.language == "en"


def test_read_article_file_json_list_origins_and_dates() -> None:
    path = DATA / "notizie.json"
    first, second = read(path)
    assert first.origin == f"{path}#7"
    assert first.published == datetime(2022, 6, 28, 8, 0, tzinfo=UTC)
    assert (first.summary, first.body) == ("Sommario uno", "Corpo uno")
    assert second.origin == f"{path}#2"
    assert second.body == "Corpo due"
    assert second.published == datetime(2022, 6, 28, 8, 0, tzinfo=UTC)
    assert second.language == "en"
    assert first.uid != second.uid


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"title": "x",', r"bad\.json:1: invalid JSON"),
        (b'"just a string"', r"bad\.json: expected a JSON object or an array of objects"),
        (b'{"summary": "no title, no body"}', r"bad\.json: has neither a title nor a body"),
        (b'{"title": ["a", "list"]}', r"bad\.json: field 'title' must be a string"),
        (b"[]", r"bad\.json: no records in file"),
        (b"[1, 2]", r"bad\.json: no readable record: .*item 1: expected a JSON object"),
    ],
)
def test_read_article_file_json_bad_raises(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(ArticleParseError, match=reason):
        read(path)


def test_read_article_file_json_bad_date_keeps_the_article_undated(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "story.json"
    path.write_bytes(b'{"title": "Nato", "published": "next tuesday"}')
    with caplog.at_level(logging.WARNING, logger="monitor.sources"):
        [article] = read(path)
    assert (article.title, article.published) == ("Nato", None)
    assert "story.json: field 'published' ignored" in caplog.text


def test_read_article_file_jsonl_skips_bad_lines(caplog: pytest.LogCaptureFixture) -> None:
    path = DATA / "notizie.jsonl"
    with caplog.at_level(logging.WARNING, logger="monitor.sources.files"):
        articles = read(path)
    assert [a.title for a in articles] == ["Riga uno", "Riga tre"]
    assert [a.origin for a in articles] == [f"{path}#a", f"{path}#c"]
    assert articles[0].published == datetime(2022, 6, 28, tzinfo=UTC)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2
    assert f"{path}:2: invalid JSON" in warnings[0]
    assert f"{path}:5: expected a JSON object" in warnings[1]


DEEP = b"[" * 100_000 + b"]" * 100_000


NESTED = "JSON nested too deeply to be an article (arrays or objects inside each other)"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (DEEP, NESTED),
        (b'{"title": "x", "body": ' + DEEP + b"}", NESTED),
        (b'{"title": "x", "id": 1' + b"0" * 5000 + b"}", "JSON holds a number too long to read"),
    ],
)
def test_read_article_file_json_hostile_structure_gets_a_plain_reason(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(ArticleParseError) as caught:
        read(path)
    assert str(caught.value) == f"{path}: {reason}"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_read_article_file_jsonl_deep_line_is_skipped_and_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "export.jsonl"
    path.write_bytes(b'{"title": "Vertice NATO"}\n' + DEEP + b'\n{"title": "Tregua"}\n')
    with caplog.at_level(logging.WARNING, logger="monitor.sources.files"):
        articles = read(path)
    assert [a.title for a in articles] == ["Vertice NATO", "Tregua"]
    [warning] = [r.getMessage() for r in caplog.records]
    assert warning.endswith(f"{path}:2: {NESTED}")


def test_read_article_file_json_odd_date_is_named_in_one_short_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "story.json"
    nested = "[" * 900 + "]" * 900  # deep, but within what the decoder takes
    path.write_text(
        f'{{"title": "Nato", "published": {nested}, "date": "x"}}\n', encoding="utf-8"
    )  # published wins over date
    with caplog.at_level(logging.WARNING, logger="monitor.sources"):
        [article] = read(path)
    assert article.published is None
    assert "field 'published' ignored: an array is not a date" in caplog.text
    path.write_text('{"title": "Nato", "published": "' + "9" * 10_000 + 'x"}', encoding="utf-8")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="monitor.sources"):
        read(path)
    assert len(caplog.text) < 300 and "is not an ISO 8601 or RFC 2822 date" in caplog.text


def test_read_article_file_jsonl_all_bad_raises(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"title": \n{"body": 3}\n', encoding="utf-8")
    with pytest.raises(ArticleParseError, match=r"bad\.jsonl: no readable record: .*bad\.jsonl:1"):
        read(path)


def test_read_article_file_html_drops_script_and_nav() -> None:
    [article] = read(DATA / "pagina.html")
    assert article.title == "Cessate il fuoco in Ucraina: la telefonata tra Austin e Shoigu"
    assert "rapido cessate il fuoco" in article.body
    assert "Finlandia e Svezia" in article.body
    assert "NATO" not in article.body
    assert "Menu" not in article.body
    assert "footer script" not in article.body
    assert "font-family" not in article.body


def test_read_article_file_html_meta_charset_honoured(tmp_path: Path) -> None:
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
        "<title>Però</title></head><body><p>Già fatto, è così.</p></body></html>"
    )
    path = tmp_path / "vecchia.htm"
    path.write_bytes(html.encode("latin-1"))
    [article] = read(path)
    assert article.title == "Però"
    assert "Già fatto, è così." in article.body


def test_read_article_file_saved_rss_every_entry() -> None:
    path = DATA / "esteri.rss"
    articles = read(path, tags=("esteri",))
    assert [a.title for a in articles] == ["Finlandia e Svezia verso la NATO", "Ukraine talks resume"]
    assert articles[0].origin == f"{path}#esteri-1001"
    assert all(a.tags == ("esteri",) for a in articles)


def test_read_article_file_saved_atom_every_entry() -> None:
    path = DATA / "mondo.atom"
    articles = read(path)
    assert [a.url for a in articles] == [
        "https://world.example.com/2022/05/13/austin-shoigu",
        "https://world.example.com/markets/close",
    ]
    assert articles[0].origin == f"{path}#tag:world.example.com,2022:1"


def test_read_article_file_broken_feed_names_path(tmp_path: Path) -> None:
    path = tmp_path / "broken.xml"
    path.write_bytes(b'<rss version="2.0"><channel><title>Esteri</title><<<')
    with pytest.raises(ArticleParseError, match=r"broken\.xml: not a readable feed"):
        read(path)


def make_tree(root: Path) -> None:
    for name in [
        "b.txt",
        "a.TXT",
        "c.json",
        "notes.md",
        ".hidden.txt",
        "draft.txt~",
        "dl.txt.part",
        "x.tmp",
        "sub/d.txt",
        "sub/deeper/e.jsonl",
        ".git/f.txt",
        "sub/.cache/g.txt",
    ]:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("Titolo\n", encoding="utf-8")


def names(root: Path, paths: list[Path]) -> list[str]:
    return [path.relative_to(root).as_posix() for path in paths]


def test_iter_folder_recursive_sorted_skips_hidden_and_temp(tmp_path: Path) -> None:
    make_tree(tmp_path)
    found = list(iter_folder(FolderSource(path=tmp_path)))
    assert names(tmp_path, found) == ["a.TXT", "b.txt", "c.json", "sub/d.txt", "sub/deeper/e.jsonl"]


def test_iter_folder_not_recursive(tmp_path: Path) -> None:
    make_tree(tmp_path)
    found = list(iter_folder(FolderSource(path=tmp_path, recursive=False)))
    assert names(tmp_path, found) == ["a.TXT", "b.txt", "c.json"]


def test_iter_folder_patterns_select(tmp_path: Path) -> None:
    make_tree(tmp_path)
    found = iter_folder(FolderSource(path=tmp_path, patterns=["*.jsonl", "b.*"]))
    assert names(tmp_path, list(found)) == ["b.txt", "sub/deeper/e.jsonl"]


def test_iter_folder_star_pattern_still_skips_temp(tmp_path: Path) -> None:
    make_tree(tmp_path)
    found = iter_folder(FolderSource(path=tmp_path, patterns=["*"], recursive=False))
    assert names(tmp_path, list(found)) == ["a.TXT", "b.txt", "c.json", "notes.md"]


def test_iter_folder_missing_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="folder not found"):
        list(iter_folder(FolderSource(path=tmp_path / "nope")))

"""Rule files (YAML) → validated RuleSpecs, with every problem located by file, line and column.

A broken rule must never silently vanish (miniflux's "invalid rules are
ignored" is what we avoid): ``load_rules`` returns the good rules *and* every
problem, so ``monitor rules check`` can fail while the daemon keeps watching
with the rules that are valid and says loudly which ones it left out.  Risky
but usable queries come back as warnings.

A reload after an edit reads again only what the edit changed: each file's
concepts and checked rules are kept (:class:`RuleFileCache`) with a digest of
its bytes and the concepts its queries named, and reused while both stay the
same.  What spans files (an id or a concept declared twice, an unknown channel)
is checked afresh on every load, in file order, so a load from the cache says
exactly what a load from scratch says.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from monitor.errors import RuleProblem
from monitor.gcpause import collector_paused
from monitor.matching.rulecheck import CheckedRule, CheckedRules, Concept, check_rules, read_concepts
from monitor.matching.rulemodel import RULE_SUFFIXES as RULE_SUFFIXES
from monitor.matching.rulemodel import SCHEMA_URL as SCHEMA_URL
from monitor.matching.rulemodel import Example as Example
from monitor.matching.rulemodel import Examples as Examples
from monitor.matching.rulemodel import ExampleText as ExampleText
from monitor.matching.rulemodel import RuleExample as RuleExample
from monitor.matching.rulemodel import RuleFile as RuleFile
from monitor.matching.rulemodel import RuleModel as RuleModel
from monitor.matching.rulemodel import RuleSpec as RuleSpec
from monitor.matching.rulemodel import known_language as known_language
from monitor.matching.rulemodel import parse_throttle as parse_throttle
from monitor.yamlfile import YamlLimitError, YamlSyntaxError, decode, line_of, parse_yaml, read_bytes


@dataclass
class RuleSet:
    """The outcome of loading rule files: the usable rules and every problem found."""

    rules: list[RuleSpec] = field(default_factory=list)
    problems: list[RuleProblem] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    concepts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    parsed: list[Path] = field(default_factory=list)  # the files this load parsed (not in the cache)

    @property
    def errors(self) -> list[RuleProblem]:
        return [p for p in self.problems if not p.warning]

    @property
    def warnings(self) -> list[RuleProblem]:
        return [p for p in self.problems if p.warning]


@dataclass(frozen=True)
class _Reading:
    """What one file's bytes said, apart from the rest of the rule set."""

    digest: bytes
    parsed: bool  # valid YAML within the bounds (else ``problems`` says why)
    problems: tuple[RuleProblem, ...]  # not YAML, unknown top-level keys
    concepts: tuple[Concept, ...]
    concept_problems: tuple[RuleProblem, ...]
    checked: CheckedRules | None = None  # its rules, against the concepts of the last load


class RuleFileCache:
    """What each rule file said when last read, by path, so a reload parses only the files whose
    bytes changed and checks again only the rules whose concepts changed.

    It holds the files of the last load only: a file no longer there is forgotten.  Loads on
    several threads may share it (the daemon's reload and the web app's rules page do): an
    entry is replaced whole, and a load only ever uses an entry that its checks confirm.
    """

    def __init__(self) -> None:
        self._files: dict[str, _Reading] = {}
        self._lock = threading.Lock()

    def get(self, path: str, digest: bytes) -> _Reading | None:
        with self._lock:
            found = self._files.get(path)
        return found if found is not None and found.digest == digest else None

    def put(self, path: str, reading: _Reading) -> None:
        with self._lock:
            self._files[path] = reading

    def keep_only(self, paths: Iterable[str]) -> None:
        wanted = set(paths)
        with self._lock:
            for gone in self._files.keys() - wanted:
                del self._files[gone]

    def __len__(self) -> int:
        return len(self._files)


# The process's own: what ``load_rules`` uses unless given another, so every caller (start-up,
# reloads, the web app's rules page) shares one reading of the files.
SHARED_CACHE = RuleFileCache()


def rule_files(paths: Iterable[Path]) -> tuple[list[Path], list[RuleProblem]]:
    """Expand folders into their YAML files (sorted, recursive); report paths that do not exist."""
    files: list[Path] = []
    problems: list[RuleProblem] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in RULE_SUFFIXES and p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            problems.append(RuleProblem(str(path), None, "no such file or folder"))
    return files, problems


def load_rules(
    paths: Sequence[Path], channels: Iterable[str] | None = None, cache: RuleFileCache | None = None
) -> RuleSet:
    """Load and validate every rule file; concepts are shared by all files.

    ``cache`` (by default the process's SHARED_CACHE) supplies what unchanged files said.
    """
    with collector_paused():  # thousands of rules built, all kept (see monitor.gcpause)
        return _load_rules(paths, channels, SHARED_CACHE if cache is None else cache)


def _load_rules(paths: Sequence[Path], channels: Iterable[str] | None, cache: RuleFileCache) -> RuleSet:
    files, problems = rule_files(paths)
    result = RuleSet(problems=problems, files=files)
    read = [_read(path, cache, result) for path in files]
    for file in read:
        result.problems.extend(file.reading.problems)
    concept_lines: dict[str, str] = {}
    for file in read:
        result.problems.extend(file.reading.concept_problems)
        _add_concepts(file.path, file.reading.concepts, result, concept_lines)
    known = set(channels) if channels is not None else None
    seen_ids: dict[str, str] = {}
    for file in read:
        checked = file.checked(cache, result)
        result.problems.extend(checked.problems)
        for rule in checked.rules:
            _add_rule(file.path, rule, result, seen_ids, known)
    cache.keep_only(str(path) for path in files)
    result.problems.sort(key=lambda p: (p.path, p.line or 0, p.warning))
    return result


def load_rule_text(
    text: str,
    name: str,
    concepts: dict[str, tuple[str, ...]] | None = None,
    channels: Iterable[str] | None = None,
) -> RuleSet:
    """Rules written in ``text`` (the YAML of a rule file) judged as ``monitor rules check`` would.

    For a rule not saved anywhere yet (the web playground): ``concepts`` are the
    configured rule files' @concepts, which its queries may use.
    """
    result = RuleSet(concepts=dict(concepts or {}))
    path = Path(name)
    try:
        doc = parse_yaml(text, name)
    except YamlSyntaxError as exc:
        result.problems.append(_yaml_problem(name, exc))
        return result
    declared, problems = read_concepts(path, doc)
    result.problems.extend(problems)
    _add_concepts(path, declared, result, {})
    checked = check_rules(path, doc, result.concepts)
    result.problems.extend(checked.problems)
    known = set(channels) if channels is not None else None
    for rule in checked.rules:
        _add_rule(path, rule, result, {}, known, list_channels=False)
    return result


_UNPARSED: Any = object()


@dataclass
class _File:
    """One rule file during one load: what it says, and its bytes (from which its rules are
    checked again when the cache has them checked against other concepts)."""

    path: Path
    reading: _Reading
    data: bytes = b""
    doc: Any = _UNPARSED  # parsed by this load

    def checked(self, cache: RuleFileCache, result: RuleSet) -> CheckedRules:
        """Its rules checked against ``result.concepts``: as the cache has them if they still hold."""
        reading = self.reading
        if not reading.parsed:
            return _NO_RULES
        if reading.checked is not None and reading.checked.hold_for(result.concepts):
            return reading.checked
        name = str(self.path)
        if self.doc is _UNPARSED:
            result.parsed.append(self.path)
            self.doc = parse_yaml(decode(self.data, name), name)  # read fine before: it reads again
        checked = check_rules(self.path, self.doc, result.concepts)
        cache.put(name, replace(reading, checked=checked))
        return checked


_NO_RULES = CheckedRules((), (), {}, None)


def _read(path: Path, cache: RuleFileCache, result: RuleSet) -> _File:
    """What ``path`` says: from the cache while its bytes are the same, else parsed now."""
    try:
        data = read_bytes(path)
    except OSError as exc:
        problem = RuleProblem(str(path), None, f"cannot read the file: {exc}")
        return _File(path, _Reading(b"", False, (problem,), (), ()))
    digest = hashlib.blake2b(data, digest_size=16).digest()
    cached = cache.get(str(path), digest)
    if cached is not None:
        return _File(path, cached, data)
    result.parsed.append(path)
    try:
        doc = parse_yaml(decode(data, str(path)), str(path))
    except YamlSyntaxError as exc:
        reading = _Reading(digest, False, (_yaml_problem(str(path), exc),), (), ())
        cache.put(str(path), reading)
        return _File(path, reading)
    concepts, concept_problems = read_concepts(path, doc)
    problems = tuple(_top_level_problems(path, doc))
    reading = _Reading(digest, True, problems, tuple(concepts), tuple(concept_problems))
    cache.put(str(path), reading)
    return _File(path, reading, data, doc)


def _yaml_problem(name: str, exc: YamlSyntaxError) -> RuleProblem:
    prefix = "" if isinstance(exc, YamlLimitError) else "not valid YAML: "
    return RuleProblem(name, exc.line, prefix + exc.message, None, exc.column)


def _top_level_problems(path: Path, doc: Any) -> Iterable[RuleProblem]:
    if isinstance(doc, dict):
        for key in doc:
            if key not in ("rules", "concepts", "$schema"):
                message = f"unknown top-level key {key!r} (expected rules, concepts)"
                yield RuleProblem(str(path), line_of(doc, key), message)


def _add_concepts(path: Path, concepts: Iterable[Concept], result: RuleSet, seen: dict[str, str]) -> None:
    """Declare a file's concepts, after those of the files before it (the first declaration wins)."""
    for concept in concepts:
        problem = concept.name_problem
        if problem is None and concept.name in seen:
            problem = f"concept @{concept.name} is declared twice (first at {seen[concept.name]})"
        problem = problem or concept.terms_problem
        if problem is not None:
            result.problems.append(RuleProblem(str(path), concept.line, problem))
            continue
        seen[concept.name] = f"{path}:{concept.line}"
        result.concepts[concept.name] = concept.terms


def _add_rule(
    path: Path,
    rule: CheckedRule,
    result: RuleSet,
    seen_ids: dict[str, str],
    known_channels: set[str] | None,
    *,
    list_channels: bool = True,
) -> None:
    """Add a checked rule, unless an earlier one has its id or it names an unknown channel."""
    if rule.rule_id is not None:
        if rule.rule_id in seen_ids:
            message = f"duplicate rule id (first defined at {seen_ids[rule.rule_id]})"
            result.problems.append(RuleProblem(str(path), rule.id_line, message, rule.rule_id))
            return
        seen_ids[rule.rule_id] = f"{path}:{rule.id_line}"
    result.problems.extend(rule.problems)
    spec = rule.spec
    if spec is None:
        return
    unknown = [c for c in spec.notify if known_channels is not None and c not in known_channels]
    if unknown:
        message = f"unknown channel(s) {', '.join(unknown)} in notify"
        if list_channels:
            configured = ", ".join(sorted(known_channels or ())) or "none"
            message += f" (channels in monitor.yaml: {configured})"
        result.problems.append(RuleProblem(spec.path, spec.line, message, spec.id))
        return
    result.rules.append(spec)


FilesSignature = tuple[tuple[str, int, int], ...]


def files_signature(paths: Iterable[Path]) -> FilesSignature:
    """What the rule files look like on disk (path, mtime, size): a change in it means an edit."""
    files, _missing = rule_files(paths)
    signature = []
    for path in files:
        with contextlib.suppress(OSError):  # deleted meanwhile: absent from the signature, as it should
            stat = path.stat()
            signature.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(signature)

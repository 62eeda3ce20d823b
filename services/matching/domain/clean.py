"""Real posting titles and skill lines, as employers and job seekers type them, cleaned for matching.

Employers write titles such as "急招电焊工 3000-5000元 包吃住（郑州）" or "【直招】XX电子厂普工/操作工";
job seekers write "会开叉车，有证，能倒班". Before such text can be compared with the classification's
occupation names, what says nothing about the work is stripped:

- recruiting words (招聘, 急招, 诚聘, 直招 …), pay (3000-5000元, 300/天, 8k, 月薪六千) and perks (包吃住,
  五险一金, 双休 …);
- bracketed notes (（郑州）, 【直招】), job codes (A012, NO.3), emoji and other symbols;
- places (province, prefecture and county names from shared/data/regions.csv, with and without their
  省/市/县/区 suffix) and employer or shop names (a run ending in 公司, 集团, 厂, 店 … before the job);
- seniority and contract words (学徒, 熟手, 长期, 临时 …) — kept aside, they do not change the occupation.

All functions here are pure: the vocabularies are fixed at import (regions from the repository's data
file, the word lists below, which are generic recruiting vocabulary, not the evaluation's titles).
`clean_title` returns what is left and what was removed (for the explanation); when nothing is left it
says so (`CleanedText.empty`), and the caller matches on the remaining fields or refuses with a 422.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

REGIONS_PATH = Path(__file__).resolve().parents[3] / "shared" / "data" / "regions.csv"
MAX_TEXT = 2_000  # a title or a skill line longer than this is cut (the body limit guards the rest)

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"

RECRUITING_WORDS = (
    "高薪诚聘", "高薪招聘", "高薪急招", "高薪聘请", "长期招聘", "大量招聘", "紧急招聘", "火热招聘", "诚聘",
    "急招", "急聘", "直招", "招聘", "聘请", "招募", "热招", "特招", "长招", "诚招", "高薪招", "招工", "诚邀",
    "急需", "急缺", "招收", "寻找", "需要", "本公司", "我公司", "厂直招", "工厂直招", "企业直招",
    "岗位", "职位", "若干名", "若干", "多名", "数名",
)  # fmt: skip
PERKS = (
    "包吃包住", "包吃住", "包食宿", "提供食宿", "管吃管住", "管吃住", "免费住宿", "包住宿", "包住", "包吃",
    "五险一金", "六险一金", "五险二金", "五险", "社保", "缴纳社保", "周末双休", "双休", "单休", "大小休",
    "长白班", "两班倒", "三班倒", "倒班", "做六休一", "年底双薪", "年终奖", "提成", "绩效", "奖金", "餐补",
    "房补", "交通补贴", "补贴", "加班费", "日结", "周结", "月结", "薪资面议", "工资面议", "面议", "底薪",
    "月薪", "年薪", "日薪", "时薪", "工资", "待遇优厚", "待遇从优", "待遇好", "薪资高", "高薪", "高工资",
    "月入过万", "过万", "上万", "无责任底薪", "保底", "可预支", "可借支", "包吃住宿", "空调宿舍",
    "环境好", "不加班", "轻松", "稳定", "无经验可", "可无经验", "无需经验", "经验不限", "不限经验",
    "男女不限", "性别不限", "年龄不限", "包教包会", "带薪培训", "带薪", "有培训", "提供住宿", "有住宿",
    "住宿", "晋升空间", "晋升", "发展空间", "加班少", "不加班",
)  # fmt: skip
# Words about seniority or the contract: dropped for the occupation code, never the occupation itself.
MODIFIERS = (
    "学徒工", "学徒", "熟手", "熟练工", "师傅", "大工", "小工", "帮工", "储备", "实习生", "实习", "见习",
    "兼职", "全职", "临时工", "临时", "长期工", "长期", "短期", "暑假工", "寒假工", "小时工", "派遣",
    "正式工", "合同工", "资深", "高级", "中级", "初级", "应届生", "应届",
)  # fmt: skip
EMPLOYER_SUFFIXES = (
    "有限责任公司", "股份有限公司", "有限公司", "分公司", "公司", "集团", "企业", "工厂", "工作室", "事务所",
    "电子厂", "服装厂", "鞋厂", "厂", "专卖店", "旗舰店", "门店", "分店", "总店", "店", "酒店", "宾馆",
    "饭店", "餐厅", "酒楼", "超市", "商场", "医院", "诊所", "学校", "幼儿园", "中心", "门诊", "药房",
    "物业", "驾校", "4s店",
)  # fmt: skip

_BRACKETS = re.compile(
    r"[（(【\[［〔{｛<《「『][^（(【\[［〔{｛<《「『）)】\]］〕}｝>》」』]*[）)】\]］〕}｝>》」』]"
)
_CN_NUM = "零一二三四五六七八九十百千万两"
_PAY = re.compile(
    r"(?:[¥￥$]?\s*\d+(?:\.\d+)?\s*(?:[kKwW千万]|元)?\s*(?:[-~～至到—–]+\s*\d+(?:\.\d+)?\s*)?"
    r"(?:[kKwW千万]|元|块)*\s*(?:/|每|一)?\s*(?:月|天|日|时|小时|h|个月|年|周|件|单|起|以上|左右|多)*)"
    rf"|(?:[{_CN_NUM}]{{1,4}}(?:千|万|百)(?:[{_CN_NUM}]{{0,2}})?(?:元|块)?(?:/|每)?(?:月|天)?)"
)
_CODE = re.compile(r"(?:no\.?|编号|#)\s*[a-z0-9-]+|\b[a-z]{0,3}\d{2,}[a-z0-9-]*\b", re.IGNORECASE)
_SEPARATORS = re.compile(r"[/|｜\\,，、;；:：。!！?？~～·•\-—–_+＋&＆\s]+")
_CJK_RUN = re.compile(f"[{_CJK}]+")
_KEEP = re.compile(f"[^{_CJK}a-z0-9+#.]")


@dataclass(frozen=True, slots=True)
class CleanedText:
    """A cleaned title or skill line: its parts (the text's own separators), and what was removed."""

    original: str
    parts: tuple[str, ...]
    removed: tuple[str, ...]
    modifiers: tuple[str, ...]
    context: tuple[str, ...] = ()  # what brackets said about the work, for text similarity only

    @property
    def text(self) -> str:
        """The parts joined by "/" ("" when nothing is left)."""
        return "/".join(self.parts)

    @property
    def empty(self) -> bool:
        """True when nothing that could name an occupation or a skill is left."""
        return not self.parts


def fold(text: str) -> str:
    """NFKC (full-width → half-width), lower case, symbols and emoji removed, length capped."""
    text = unicodedata.normalize("NFKC", (text or "")[: MAX_TEXT * 2])
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if (
            cat[0] in "LN"
            or ch in "()（）【】[]{}<>《》「」『』/|\\,，、;；:：。!！?？~～-—–_+&#.$¥￥"
            or ch.isspace()
        ):
            out.append(ch)
        elif cat in ("So", "Sk", "Cs", "Co", "Cn", "Mn", "Cf", "Cc"):
            out.append(" ")  # emoji, pictographs, control and private-use characters
        else:
            out.append(" ")
    return "".join(out)[:MAX_TEXT].lower()


@lru_cache(maxsize=1)
def place_names() -> tuple[str, ...]:
    """Province, prefecture and county names with and without their suffix, longest first."""
    names: set[str] = set()
    try:
        with open(REGIONS_PATH, encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                name = (row.get("name") or "").strip()
                if len(name) < 2:
                    continue
                names.add(name)
                short = re.sub(
                    r"(?:特别行政区|维吾尔自治区|壮族自治区|回族自治区|自治区|自治州|自治县|地区|省|市|县|区|盟|旗)$",
                    "",
                    name,
                )
                if len(short) >= 2:
                    names.add(short)
    except FileNotFoundError:  # pragma: no cover - the file ships with the repository
        return ()
    # A short name that is also an everyday work word must not be stripped (e.g. a county named 通道).
    names -= {"通道", "和平", "新华", "城关", "开发", "高新", "经济", "市中", "郊区", "矿区", "城区"}
    return tuple(sorted(names, key=lambda n: (-len(n), n)))


@lru_cache(maxsize=1)
def _place_pattern() -> re.Pattern[str]:
    names = place_names()
    if not names:
        return re.compile(r"(?!)")
    return re.compile("|".join(map(re.escape, names)))


def _alternation(words) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(w) for w in sorted(set(words), key=lambda w: -len(w))))


_RECRUIT = _alternation(RECRUITING_WORDS)
_PERK = _alternation(PERKS)
_MODIFIER = _alternation(MODIFIERS)
_EMPLOYER = re.compile(
    f"[{_CJK}a-z0-9]{{2,12}}?(?:{'|'.join(re.escape(s) for s in sorted(EMPLOYER_SUFFIXES, key=len, reverse=True))})"
    r"(?=招|聘|诚|急|直|[/|｜\s,，:：]|$)"
)
_LEADING_EMPLOYER = re.compile(
    f"^[{_CJK}a-z0-9]{{2,14}}?(?:{'|'.join(re.escape(s) for s in sorted(EMPLOYER_SUFFIXES, key=len, reverse=True))})"
    r"(?=(?:高薪)?(?:诚聘|急招|急聘|直招|招聘|聘请|招募|热招|特招|长招|诚招|招))"
)


_RECRUIT_SPLIT = re.compile(r"(?:高薪)?(?:诚聘|急招|急聘|直招|招聘|聘请|招募|热招|特招|长招|诚招|招)")


def _after_recruiting_word(text: str, removed: list[str]) -> str:
    """ "深圳市荣源木业招聘锅炉工" → "锅炉工": before the recruiting word stands the employer."""
    matches = list(_RECRUIT_SPLIT.finditer(text))
    for m in reversed(matches):
        before, after = text[: m.start()], text[m.end() :]
        # Only when a job follows and the word is not part of one (招商, 招生, 招标 are occupations' words).
        if after[:1] in ("商", "生", "标", "投", "待", "牌", "收"):
            continue
        if _CJK_RUN.match(after.strip()[:1] or "x") and before.strip() and len(_KEEP.sub("", after)) >= 2:
            removed.append(before.strip())
            return " " + after
    return text


def _remove(pattern: re.Pattern[str], text: str, removed: list[str], repl: str = " ") -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group(0).strip():
            removed.append(m.group(0).strip())
        return repl

    return pattern.sub(sub, text)


def clean_title(text: str, *, keep_modifiers: bool = False) -> CleanedText:
    """Strip what says nothing about the work from a posting title or a desired occupation."""
    original = text or ""
    t = fold(original)
    removed: list[str] = []
    modifiers: list[str] = []
    bracketed: list[str] = []

    def bracket(m: re.Match[str]) -> str:
        bracketed.append(m.group(0)[1:-1])
        removed.append(m.group(0))
        return " "

    for _ in range(3):  # nested brackets, innermost first
        t = _BRACKETS.sub(bracket, t)
    t = re.sub(r"[（(【\[［〔{｛<《「『）)】\]］〕}｝>》」』]", " ", t)
    t = _remove(_LEADING_EMPLOYER, t, removed)
    t = _after_recruiting_word(t, removed)
    t = _remove(_PAY, t, removed)
    t = _remove(_PERK, t, removed)
    t = _remove(_RECRUIT, t, removed)
    t = _remove(_EMPLOYER, t, removed)
    t = _remove(_place_pattern(), t, removed)
    t = _remove(_CODE, t, removed)
    if not keep_modifiers:
        t = _remove(_MODIFIER, t, modifiers)
    parts = _parts(t)
    # What a bracket says about the work (技术经理（塑胶薄膜）) is context; places, pay and perks in it are not.
    context: tuple[str, ...] = ()
    if bracketed:
        inner = clean_title(" ".join(bracketed), keep_modifiers=keep_modifiers)
        if not parts:
            # "【电焊工】" alone: the bracket was the title.
            return CleanedText(original, inner.parts, tuple(removed), tuple(modifiers) + inner.modifiers)
        context = tuple(p for p in inner.parts if p not in parts)
    if not parts and modifiers:
        # "学徒" alone is still something to match on.
        parts = _parts(" ".join(modifiers))
        modifiers = []
    return CleanedText(original, parts, tuple(removed), tuple(modifiers), context)


def _parts(text: str) -> tuple[str, ...]:
    out: list[str] = []
    for piece in _SEPARATORS.split(text):
        piece = _KEEP.sub("", piece).strip(".")
        # A lone character (招, 聘, 急) or a bare number says nothing about an occupation.
        if len(piece) < 2 and not _CJK_RUN.fullmatch(piece or "x"):
            continue
        if len(piece) < 2 and piece in "招聘急诚直高薪的和及或等人名位":
            continue
        if piece.isdigit():
            continue
        if piece and piece not in out:
            out.append(piece)
    return tuple(out)


# -- skill lines -----------------------------------------------------------------------------------
_CERT_WORD = re.compile(r"(?:证书|证|执照|资格|牌照|驾照)$")
_HAS_CERT = re.compile(r"^(?:有|持有|持|取得|考取|考过|拿到|已有)?(?:证书?|相关证书?|上岗证|操作证|资格证)$")
_VERB_PREFIX = re.compile(
    r"^(?:我|本人)?(?:会|能|可以|可|懂|熟悉|熟练|精通|擅长|从事过|做过|干过|学过|有过|有)+"
)
_SKILL_SUFFIX = re.compile(r"(?:经验|技术|技能|工作|相关工作)$")
_DURATION = re.compile(rf"(?:[\d{_CN_NUM}]+|几|多)\s*(?:年|个月|月)(?:以上|多|左右)?(?:的)?")
_AVAILABILITY = (
    "倒班", "夜班", "加班", "吃苦", "吃苦耐劳", "出差", "住宿舍", "外出", "服从安排", "长期干", "身体好",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SkillLine:
    """A free-text line parsed into skills, certificates and availability notes."""

    skills: tuple[str, ...]
    certificates: tuple[str, ...]
    availability: tuple[str, ...]


def parse_skill_line(text: str) -> SkillLine:
    """ "会开叉车，有证，能倒班" → skills (叉车), certificates (叉车证), availability (倒班).

    A bare "有证" refers to the skill named before it in the same line; "焊工证" names its certificate
    directly. Verbs (会, 能, 熟练), durations (三年) and "经验/技术" suffixes are dropped.
    """
    skills: list[str] = []
    certs: list[str] = []
    avail: list[str] = []
    for clause in re.split(r"[,，、;；。.!！\s/|和及与]+", fold(text)):
        clause = _DURATION.sub("", clause).strip()
        if not clause:
            continue
        if _HAS_CERT.match(clause):
            if skills:
                certs.append(_cert_name(skills[-1]))
            continue
        body = _VERB_PREFIX.sub("", clause)
        body = (
            re.sub(r"^(?:开|操作|驾驶)(?=.{2,})", "", body)
            if body.startswith(("开", "操作", "驾驶"))
            else body
        )
        body = _SKILL_SUFFIX.sub("", body)
        if not body:
            continue
        if any(body == a or body.endswith(a) for a in _AVAILABILITY):
            avail.append(body)
            continue
        if _CERT_WORD.search(body) and len(body) >= 3:
            certs.append(body)
            continue
        cleaned = clean_title(body, keep_modifiers=True)
        for part in cleaned.parts:
            if part not in skills:
                skills.append(part)
    return SkillLine(tuple(skills), tuple(dict.fromkeys(certs)), tuple(dict.fromkeys(avail)))


def _cert_name(skill: str) -> str:
    return skill if _CERT_WORD.search(skill) else skill + "证"


_CERT_TAIL = re.compile(r"(?:特种作业操作证|职业资格证书?|上岗证|操作证|资格证书?|证书|执照|证)$")


def certificate_occupation_term(certificate: str) -> str:
    """What a certificate certifies, as a term to look up: 焊工证 → 焊工, 电工上岗证 → 电工."""
    key = fold(certificate).replace(" ", "")
    stripped = _CERT_TAIL.sub("", key)
    return stripped if len(stripped) >= 2 else ""

"""Deterministic demo data: workers, employers and vacancies shaped as the intake API's POST bodies."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from services.intake.domain.identity import make_credit_code, make_national_id
from shared.regions import counties_under, get_region, is_known_region

# Prefecture-level cities that county labour bureaus send workers to (GB/T 2260 codes).
DESTINATIONS: tuple[str, ...] = (
    "440300",  # 深圳市
    "440100",  # 广州市
    "441900",  # 东莞市
    "320500",  # 苏州市
    "320200",  # 无锡市
    "330100",  # 杭州市
    "330200",  # 宁波市
    "350200",  # 厦门市
)


@dataclass(frozen=True, slots=True)
class Post:
    """One kind of job: its posting title, its occupation in the 2022 classification, what it asks for."""

    title: str
    occupation: str
    skills: tuple[str, ...]
    desired: str  # how a worker who does this job names it
    certificate: str = ""


@dataclass(frozen=True, slots=True)
class Trade:
    """A family of jobs whose workers share skills, so that workers and vacancies of one trade overlap."""

    key: str
    skills: tuple[str, ...]
    posts: tuple[Post, ...]
    certificate_share: float  # of a trade's workers, how many hold the certificate of their post
    wage: tuple[int, int]  # CNY/month of a regular post
    female_share: float
    worker_weight: int
    vacancy_weight: int
    industry: str
    cross_region: bool = False
    welfare_posts: tuple[Post, ...] = ()
    health_certificate_share: float = 0.0  # food and care work needs a 健康证 whatever the post


TRADES: tuple[Trade, ...] = (
    Trade(
        key="welding",
        skills=("电焊", "氩弧焊", "二氧化碳保护焊", "气割", "图纸识读"),
        posts=(
            Post("电焊工", "焊工", ("电焊",), "电焊工", "焊工证"),
            Post("氩弧焊工", "焊工", ("氩弧焊",), "氩弧焊工", "焊工证"),
            Post("二保焊工", "焊工", ("二氧化碳保护焊",), "焊工", "焊工证"),
        ),
        certificate_share=0.5,
        wage=(4500, 8000),
        female_share=0.08,
        worker_weight=8,
        vacancy_weight=9,
        industry="机械制造",
        cross_region=True,
    ),
    Trade(
        key="sewing",
        skills=("缝纫", "服装缝制", "平车操作", "锁边", "熨烫"),
        posts=(
            Post("缝纫工", "缝纫工", ("缝纫",), "缝纫工"),
            Post("服装车工", "缝纫工", ("服装缝制",), "服装车工"),
            Post("平车工", "缝纫工", ("缝纫", "平车操作"), "平车工"),
        ),
        certificate_share=0.0,
        wage=(3200, 6500),
        female_share=0.85,
        worker_weight=10,
        vacancy_weight=9,
        industry="服饰",
        cross_region=True,
    ),
    Trade(
        key="shoemaking",
        skills=("皮鞋制作", "制鞋", "鞋面缝制", "鞋底成型"),
        posts=(
            Post("制鞋工", "制鞋工", ("制鞋",), "制鞋工"),
            Post("皮鞋帮面车工", "制鞋工", ("皮鞋制作", "鞋面缝制"), "鞋厂车工"),
        ),
        certificate_share=0.0,
        wage=(3000, 6000),
        female_share=0.6,
        worker_weight=5,
        vacancy_weight=5,
        industry="鞋业",
        cross_region=True,
    ),
    Trade(
        key="cleaning",
        skills=("保洁", "家政服务", "收纳整理", "清洁消毒"),
        posts=(
            Post("保洁员", "保洁员", ("保洁",), "保洁员", "健康证"),
            Post("家政服务员", "家政服务员", ("家政服务",), "家政服务员", "健康证"),
            Post("物业保洁", "保洁员", ("保洁", "清洁消毒"), "保洁员"),
        ),
        certificate_share=0.3,
        wage=(2200, 3800),
        female_share=0.75,
        worker_weight=12,
        vacancy_weight=8,
        industry="物业服务",
        welfare_posts=(
            Post("公益性岗位·道路保洁", "保洁员", ("保洁",), "保洁员"),
            Post("公益性岗位·社区保洁", "保洁员", ("保洁",), "保洁员"),
        ),
    ),
    Trade(
        key="greening",
        skills=("绿化", "园林养护", "苗木种植", "草坪修剪"),
        posts=(
            Post("绿化养护工", "园林绿化工", ("绿化", "园林养护"), "绿化工"),
            Post("园林工人", "园林绿化工", ("园林养护",), "园林工人"),
        ),
        certificate_share=0.0,
        wage=(2400, 4200),
        female_share=0.4,
        worker_weight=6,
        vacancy_weight=4,
        industry="园林绿化工程",
        welfare_posts=(Post("公益性岗位·绿化养护", "园林绿化工", ("绿化",), "绿化工"),),
    ),
    Trade(
        key="driving",
        skills=("驾驶", "货车驾驶", "车辆保养", "装卸搬运"),
        posts=(
            Post("货车司机", "道路货运汽车驾驶员", ("货车驾驶",), "货车司机", "A2驾驶证"),
            Post("送货司机", "道路货运汽车驾驶员", ("驾驶",), "司机", "C1驾驶证"),
        ),
        certificate_share=0.8,
        wage=(4500, 9000),
        female_share=0.05,
        worker_weight=7,
        vacancy_weight=6,
        industry="物流",
    ),
    Trade(
        key="cooking",
        skills=("厨师", "中式烹调", "面点", "凉菜", "食材加工"),
        posts=(
            Post("厨师", "中式烹调师", ("厨师", "中式烹调"), "厨师", "中式烹调师证"),
            Post("面点师", "中式面点师", ("面点",), "面点师", "健康证"),
            Post("帮厨", "中式烹调师", ("食材加工",), "帮厨", "健康证"),
        ),
        certificate_share=0.4,
        wage=(3500, 7500),
        female_share=0.35,
        worker_weight=7,
        vacancy_weight=7,
        industry="餐饮管理",
        health_certificate_share=0.6,
    ),
    Trade(
        key="warehouse",
        skills=("叉车", "仓储管理", "快递分拣", "装卸搬运", "货物盘点"),
        posts=(
            Post("叉车司机", "起重装卸机械操作工", ("叉车",), "叉车工", "叉车证"),
            Post("仓库管理员", "仓储管理员", ("仓储管理",), "仓库管理员"),
            Post("快递分拣员", "快件处理员", ("快递分拣",), "分拣员"),
            Post("理货员", "理货员", ("货物盘点",), "理货员"),
        ),
        certificate_share=0.6,
        wage=(3500, 6500),
        female_share=0.3,
        worker_weight=8,
        vacancy_weight=9,
        industry="供应链管理",
        cross_region=True,
    ),
    Trade(
        key="electrical",
        skills=("电工", "水电安装", "低压电工", "线路维修"),
        posts=(
            Post("电工", "电工", ("电工",), "电工", "电工证"),
            Post("水电安装工", "电工", ("水电安装",), "水电工"),
            Post("维修电工", "电工", ("电工", "线路维修"), "维修电工", "电工证"),
        ),
        certificate_share=0.55,
        wage=(4000, 8000),
        female_share=0.05,
        worker_weight=6,
        vacancy_weight=6,
        industry="电气安装工程",
        cross_region=True,
    ),
    Trade(
        key="care",
        skills=("养老护理", "育婴", "家政服务", "老人照护", "婴幼儿照护"),
        posts=(
            Post("养老护理员", "养老护理员", ("养老护理",), "养老护理员", "养老护理员证"),
            Post("育婴员", "保育师", ("育婴",), "育婴员", "育婴员证"),
            Post("住家保姆", "家政服务员", ("家政服务", "老人照护"), "保姆", "健康证"),
        ),
        certificate_share=0.45,
        wage=(3000, 7000),
        female_share=0.9,
        worker_weight=7,
        vacancy_weight=6,
        industry="养老服务",
        cross_region=True,
        health_certificate_share=0.4,
    ),
    Trade(
        key="security",
        skills=("保安", "巡逻", "监控值守", "消防设施操作"),
        posts=(
            Post("保安员", "保安员", ("保安",), "保安", "保安员证"),
            Post("门卫", "保安员", ("保安",), "门卫"),
            Post("监控员", "保安员", ("监控值守",), "保安员"),
        ),
        certificate_share=0.35,
        wage=(2500, 4500),
        female_share=0.1,
        worker_weight=8,
        vacancy_weight=5,
        industry="保安服务",
        welfare_posts=(Post("公益性岗位·治安巡逻", "保安员", ("保安", "巡逻"), "保安"),),
    ),
    Trade(
        key="machining",
        skills=("数控车床", "车床操作", "钳工", "图纸识读", "CAD制图"),
        posts=(
            Post("数控车工", "多工序数控机床操作调整工", ("数控车床",), "数控车工"),
            Post("普通车工", "车工", ("车床操作",), "车工"),
            Post("装配钳工", "装配钳工", ("钳工",), "钳工"),
        ),
        certificate_share=0.0,
        wage=(4500, 8500),
        female_share=0.1,
        worker_weight=5,
        vacancy_weight=7,
        industry="精密机械",
        cross_region=True,
    ),
    Trade(
        key="construction",
        skills=("砌筑", "木工", "油漆", "钢筋绑扎", "抹灰", "瓷砖铺贴"),
        posts=(
            Post("瓦工", "砌筑工", ("砌筑",), "瓦工"),
            Post("木工", "手工木工", ("木工",), "木工"),
            Post("油漆工", "涂装工", ("油漆",), "油漆工"),
            Post("钢筋工", "钢筋工", ("钢筋绑扎",), "钢筋工"),
        ),
        certificate_share=0.0,
        wage=(5000, 9000),
        female_share=0.05,
        worker_weight=7,
        vacancy_weight=6,
        industry="建筑工程",
        cross_region=True,
    ),
    Trade(
        key="retail",
        skills=("收银", "电脑操作", "办公软件", "商品陈列", "客户服务"),
        posts=(
            Post("收银员", "收银员", ("收银",), "收银员"),
            Post("超市营业员", "商品营业员", ("商品陈列", "客户服务"), "营业员"),
            Post("办公室文员", "行政办事员", ("电脑操作", "办公软件"), "文员"),
        ),
        certificate_share=0.0,
        wage=(2400, 4500),
        female_share=0.7,
        worker_weight=8,
        vacancy_weight=6,
        industry="商贸",
    ),
)

# Surnames by how common they are, as weights for a draw.
_SURNAMES = (
    ("王李张", 20),
    ("刘", 15),
    ("陈", 12),
    ("杨赵", 8),
    ("黄周吴", 7),
    ("徐孙郭马", 5),
    ("胡朱高", 4),
    ("林何宋郑", 3),
    ("罗梁谢韩唐冯于董程曹许贾魏", 2),
    ("袁邓傅沈曾彭吕苏卢蒋蔡丁薛叶阎史段侯孟崔任范田姚常申", 1),
)
_MALE_GIVEN = (
    "伟 强 磊 军 勇 杰 涛 明 超 刚 平 辉 鹏 飞 鑫 波 斌 宇 浩 凯 健 亮 峰 建国 建军 国强 志强 海涛 永刚"
    " 建华 志刚 红卫 保成 春生 国庆 文斌 新民 东升 子豪 浩然 宇轩 俊杰 晓东 振华 立新 金龙 家乐 卫东 明亮"
).split()
_FEMALE_GIVEN = (
    "芳 娜 敏 静 丽 艳 娟 霞 婷 雪 琳 晶 燕 玲 丹 萍 倩 颖 慧 秀英 桂英 玉兰 秀兰 桂兰 红梅 丽娟 春燕 秀梅"
    " 玉梅 丽华 晓燕 海燕 雪梅 淑珍 美玲 欣怡 梦琪 雨涵 佳怡 静怡 子涵 晓丽 凤英 翠兰 爱华 素芳 金凤"
).split()
_BRAND_FIRST = "鑫华恒宏金永盛联中龙瑞天同新佳安顺泰博康富嘉兴豪锦汇聚德昌达"
_BRAND_SECOND = "达瑞通远鼎安世创原腾丰成心华美泰盛发源信力晟利隆宇祥和"
_MOBILE_PREFIXES = (
    "130 131 132 133 135 136 137 138 139 150 151 152 155 156 157 158 159 166 173 175 176 177 180 181 182 183"
    " 185 186 187 188 189 191 198 199"
).split()
_EDUCATION_YOUNG = (
    ("none", 1),
    ("primary", 4),
    ("junior_middle", 34),
    ("senior_middle", 24),
    ("vocational", 20),
    ("college", 11),
    ("bachelor", 5),
    ("postgraduate", 1),
)
_EDUCATION_OLDER = (
    ("none", 4),
    ("primary", 16),
    ("junior_middle", 46),
    ("senior_middle", 20),
    ("vocational", 8),
    ("college", 4),
    ("bachelor", 2),
)
_HARDSHIP_SHARES = (
    ("laid_off", 0.30),
    ("unemployed", 0.45),
    ("zero_employment_household", 0.10),
    ("disabled", 0.05),
    ("low_income", 0.15),
    ("other", 0.05),
)
_SHARE_4050 = 0.35
_RELOCATE_SHARE = 0.30
# Multiplying by a number coprime to 10**8 permutes 0..10**8-1, so index i gives a unique 8-digit tail.
_PERMUTE = 7_919_993
_EIGHT_DIGITS = 10**8


def _expand(weighted: Sequence[tuple[Any, int]]) -> tuple[Any, ...]:
    # A flat list with repeats makes a weighted draw one rng.choice, cheaper than rng.choices.
    return tuple(item for item, weight in weighted for _ in range(weight))


_SURNAME_POOL = _expand([(name, weight) for names, weight in _SURNAMES for name in names])
_WORKER_TRADES = _expand([(t, t.worker_weight) for t in TRADES])
_VACANCY_TRADES = _expand([(t, t.vacancy_weight) for t in TRADES])
_CROSS_REGION_TRADES = _expand([(t, t.vacancy_weight) for t in TRADES if t.cross_region])
_WELFARE_TRADES = tuple(t for t in TRADES if t.welfare_posts)
_EDUCATION_YOUNG_POOL = _expand(_EDUCATION_YOUNG)
_EDUCATION_OLDER_POOL = _expand(_EDUCATION_OLDER)


def _places_under(prefix: str) -> list[str]:
    """County-level codes under the prefix; a prefecture without counties (东莞市) stands for itself."""
    places = counties_under(prefix)
    if not places and is_known_region(prefix.ljust(6, "0")):
        places = [prefix.ljust(6, "0")]
    if not places:
        raise ValueError(f"no known region under prefix {prefix!r}")
    return places


def _is_destination(code: str) -> bool:
    return any(code.startswith(d[:4]) for d in DESTINATIONS)


def _mobile(rng: random.Random, index: int, offset: int) -> str:
    return rng.choice(_MOBILE_PREFIXES) + f"{(index * _PERMUTE + offset) % _EIGHT_DIGITS:08d}"


def _name(rng: random.Random, gender: str) -> str:
    return rng.choice(_SURNAME_POOL) + rng.choice(_FEMALE_GIVEN if gender == "female" else _MALE_GIVEN)


def _round100(x: float) -> int:
    return int(round(x / 100.0)) * 100


def _birth_ordinals(today: date, ages: range) -> dict[int, tuple[int, int]]:
    """For each age, the first and last day of birth that give exactly that age today."""
    bounds = {}
    for age in ages:
        youngest = _years_before(today, age)
        oldest = _years_before(today, age + 1) + timedelta(days=1)
        bounds[age] = (oldest.toordinal(), youngest.toordinal())
    return bounds


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year - years, day=28)


def generate_workers(
    n: int, *, seed: int = 7, county_prefix: str = "4109", today: date
) -> Iterator[dict[str, Any]]:
    """n POST /workers bodies living under county_prefix; about 35 % are 4050 workers."""
    rng = random.Random(seed)
    home_counties = _places_under(county_prefix)
    province_counties = _places_under(county_prefix[:2])
    birth_days = _birth_ordinals(today, range(18, 60))
    phone_offset = rng.randrange(_EIGHT_DIGITS)
    used_ids: set[str] = set()

    for index in range(n):
        trade: Trade = rng.choice(_WORKER_TRADES)
        post = rng.choice(trade.posts)
        gender = "female" if rng.random() < trade.female_share else "male"
        if rng.random() < _SHARE_4050:
            age = rng.randint(40, 54) if gender == "female" else rng.randint(50, 59)
        else:
            age = rng.randint(18, 39) if gender == "female" else rng.randint(18, 49)

        region_code = rng.choice(home_counties)
        r = rng.random()
        if r < 0.70:
            birth_region = region_code
        elif r < 0.85:
            birth_region = rng.choice(home_counties)
        else:
            birth_region = rng.choice(province_counties)
        national_id = _unique_national_id(
            rng, used_ids, region_code=birth_region, days=birth_days[age], gender=gender
        )

        skills = list(post.skills)
        for _ in range(rng.randint(0, 4 - len(skills))):
            extra = rng.choice(trade.skills)
            if extra not in skills:
                skills.append(extra)

        certificates = []
        if post.certificate and rng.random() < trade.certificate_share:
            certificates.append(post.certificate)
        if "健康证" not in certificates and rng.random() < trade.health_certificate_share:
            certificates.append("健康证")
        if "C1驾驶证" not in certificates and rng.random() < 0.12:
            certificates.append("C1驾驶证")

        desired = [post.desired]
        if rng.random() < 0.3:
            other = rng.choice(trade.posts).desired
            if other != post.desired:
                desired.append(other)

        willing = rng.random() < _RELOCATE_SHARE
        targets = []
        if willing:
            targets.append(rng.choice(DESTINATIONS))
            if rng.random() < 0.4:
                other = rng.choice(DESTINATIONS)
                if other != targets[0]:
                    targets.append(other)

        hardship = [h for h, share in _HARDSHIP_SHARES if rng.random() < share]
        if not hardship and rng.random() < 0.8:
            hardship.append("unemployed")

        wage_floor = _round100(rng.uniform(trade.wage[0] * 0.7, trade.wage[1] * 0.75))
        education_pool = _EDUCATION_OLDER_POOL if age >= 35 else _EDUCATION_YOUNG_POOL
        yield {
            "national_id": national_id,
            "name": _name(rng, gender),
            "phone": _mobile(rng, index, phone_offset),
            "region_code": region_code,
            "skills": skills,
            "certificates": certificates,
            "education": rng.choice(education_pool),
            "experience_years": rng.randint(0, min(age - 16, 30)),
            "desired_occupations": desired,
            "desired_wage_min": min(max(wage_floor, 1800), 6000),
            "willing_to_relocate": willing,
            "target_regions": targets,
            "hardship": hardship,
            "consent": {"data_processing": True},
        }


def _unique_national_id(
    rng: random.Random, used: set[str], *, region_code: str, days: tuple[int, int], gender: str
) -> str:
    while True:
        birth_date = date.fromordinal(rng.randint(*days))
        start = rng.randrange(100)
        for step in range(100):
            national_id = make_national_id(
                region_code=region_code, birth_date=birth_date, sequence=(start + step) % 100, gender=gender
            )
            if national_id not in used:
                used.add(national_id)
                return national_id


def _place_name(code: str) -> str:
    """How a company name starts: "濮阳市华龙区" for a district, "南乐县" for a county."""
    region = get_region(code)
    if region is None:
        raise ValueError(f"unknown region {code!r}")
    parent = get_region(region.parent_code) if region.parent_code else None
    if region.level == 3 and region.name.endswith("区") and parent is not None:
        return parent.name + region.name
    return region.name


def generate_employers(
    n: int, *, seed: int = 11, county_prefix: str = "4109", today: date
) -> Iterator[dict[str, Any]]:
    """n POST /employers bodies: most under county_prefix, about a fifth in the destination cities."""
    del today  # accepted so that every generator is called alike; nothing here depends on the date
    rng = random.Random(seed)
    home = _places_under(county_prefix)
    destinations = {d: _places_under(d[:4]) for d in DESTINATIONS}
    serial_offset = rng.randrange(_EIGHT_DIGITS)
    phone_offset = rng.randrange(_EIGHT_DIGITS)
    used_names: set[str] = set()

    for index in range(n):
        if rng.random() < 0.2:
            region_code = rng.choice(destinations[rng.choice(DESTINATIONS)])
        else:
            region_code = rng.choice(home)
        place = _place_name(region_code)
        industry = rng.choice(_VACANCY_TRADES).industry
        for _ in range(20):
            suffix = rng.choice(("有限公司", "有限公司", "有限公司", "有限责任公司", "股份有限公司"))
            name = f"{place}{rng.choice(_BRAND_FIRST)}{rng.choice(_BRAND_SECOND)}{industry}{suffix}"
            if name not in used_names:
                break
        used_names.add(name)
        yield {
            "name": name,
            "credit_code": make_credit_code(
                region_code=region_code, serial=(index * _PERMUTE + serial_offset) % _EIGHT_DIGITS
            ),
            "region_code": region_code,
            "contact_phone": _mobile(rng, index, phone_offset),
        }


def generate_vacancies(
    n: int,
    *,
    employer_ids: Sequence[str],
    employer_regions: Mapping[str, str] | None = None,
    seed: int = 13,
    county_prefix: str = "4109",
    today: date,
) -> Iterator[dict[str, Any]]:
    """n POST /vacancies bodies: ~70 % regular, ~15 % public welfare, ~15 % cross-region.

    A vacancy takes its employer's region. Without employer_regions, employers are placed under
    county_prefix; cross-region vacancies go to employers in a destination city where there are any,
    else they are placed in one.
    """
    if not employer_ids:
        raise ValueError("employer_ids must not be empty")
    rng = random.Random(seed)
    regions: dict[str, str] = dict(employer_regions or {})
    home = _places_under(county_prefix)
    for employer_id in employer_ids:
        if employer_id not in regions:
            regions[employer_id] = rng.choice(home)
    away = [e for e in employer_ids if _is_destination(regions[e])]
    local = [e for e in employer_ids if not _is_destination(regions[e])] or list(employer_ids)
    destination_places = {d: _places_under(d[:4]) for d in DESTINATIONS}

    for _ in range(n):
        r = rng.random()
        if r < 0.70:
            vacancy_type = "regular"
            trade = rng.choice(_VACANCY_TRADES)
            post = rng.choice(trade.posts)
            employer_id = rng.choice(local)
            region_code = regions[employer_id]
            wage_min = _round100(rng.uniform(trade.wage[0], trade.wage[1] - 1000))
            wage_max = wage_min + 100 * rng.randint(5, 25)
            headcount = 1 + int(19 * rng.random() ** 2)
            accommodation = rng.random() < 0.25
        elif r < 0.85:
            vacancy_type = "public_welfare"
            trade = rng.choice(_WELFARE_TRADES)
            post = rng.choice(trade.welfare_posts)
            employer_id = rng.choice(local)
            region_code = regions[employer_id]
            wage_min = _round100(rng.uniform(1900, 2300))
            wage_max = wage_min + 100 * rng.randint(2, 6)
            headcount = rng.randint(1, 10)
            accommodation = False
        else:
            vacancy_type = "cross_region"
            trade = rng.choice(_CROSS_REGION_TRADES)
            post = rng.choice(trade.posts)
            if away:
                employer_id = rng.choice(away)
                region_code = regions[employer_id]
            else:
                employer_id = rng.choice(employer_ids)
                region_code = rng.choice(destination_places[rng.choice(DESTINATIONS)])
            wage_min = _round100(rng.uniform(trade.wage[0] + 500, trade.wage[1]))
            wage_max = wage_min + 100 * rng.randint(5, 30)
            headcount = rng.randint(5, 20)
            accommodation = rng.random() < 0.85

        preferred = []
        for _ in range(rng.randint(0, 2)):
            extra = rng.choice(trade.skills)
            if extra not in post.skills and extra not in preferred:
                preferred.append(extra)
        yield {
            "employer_id": employer_id,
            "title": post.title + ("（包吃住）" if accommodation and rng.random() < 0.5 else ""),
            "occupation": post.occupation,
            "required_skills": list(post.skills),
            "preferred_skills": preferred,
            "required_certificates": [post.certificate] if post.certificate and rng.random() < 0.5 else [],
            "region_code": region_code,
            "wage_min": wage_min,
            "wage_max": wage_max,
            "headcount": headcount,
            "vacancy_type": vacancy_type,
            "accommodation": accommodation,
            "open_until": (today + timedelta(days=rng.randint(30, 120))).isoformat(),
        }

"""Deterministic synthetic audit traffic for a small city: 株洲 (Zhuzhou).

Three video systems publish to liuhen: the traffic police (交警支队), the metro operator
(株洲轨道交通) and the central hospital (市中心医院), with a few hundred GB/T 28181 cameras
and a few dozen named staff between them. :func:`build_city` makes the city; :func:`simulate`
yields what the systems would publish, as :class:`SimEvent` records the producer SDK turns into
signed events (it adds the envelope and the per-source sequence numbers).

What a simulated day holds, all of it lawful (rule-breaking is added elsewhere, on purpose):

- at the start: systems and cameras registered (public places only), retention policies of
  30, 60 or 90 days;
- duty rosters: day shift 08:00-20:00 and night shift 20:00-08:00 China time (UTC+8);
  operators work four teams on a day / night / off / off rota, the others alternate days;
  every person who touches footage is on duty at the time;
- video patrols (live viewing) and operators' playbacks for incidents, each with reason, name
  and unit;
- cases: an access authorization (approved by someone other than the requester), then
  playbacks and watermarked, hashed exports by the grantee, inside the authorized cameras,
  footage window and expiry;
- Art. 14 missing-person applications: filed, approved with a scope, searched, result told;
- shares to other agencies, always desensitized;
- work orders: camera outages (OFF/ON carrying the ticket) and direction changes under them;
- at 03:00 the recorders expire footage older than the retention period; at 04:00 each camera
  reports its inventory (earliest recording = the expiry cut-off, gaps = logged outages).

Everything is a pure function of the arguments: every activity draws from its own
``random.Random`` seeded by a string naming the seed, system, day and activity; no wall clock,
no global random state, no ``uuid4``. Events are produced lazily: one generator per shift
activity, merged by time, activated only when the merge reaches its start.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from functools import partial
from typing import Any

CHINA_TZ = timezone(timedelta(hours=8), "CST")
"""China Standard Time: shifts and daily jobs follow the local clock."""
EARLIEST_START = datetime(2026, 1, 1, tzinfo=UTC)
"""Simulations start no earlier: every camera has then recorded for longer than its retention."""
DISTRICTS = {"430202": "荷塘区", "430203": "芦淞区", "430204": "石峰区", "430211": "天元区"}
"""Zhuzhou's urban districts by administrative division code (the start of a camera id)."""
PUBLIC_CATEGORIES = frozenset(
    {"PUBLIC_ROAD", "TRANSPORT_HUB", "COMMERCIAL", "HOSPITAL_PUBLIC_AREA", "SCHOOL"}
    | {"RESIDENTIAL_COMMON_AREA", "OFFICE", "OTHER_PUBLIC"}
)
"""Location categories where cameras are allowed (ZZ 8)."""

_FLOOR = timedelta(minutes=2)  # registry bootstrap happens before start + _FLOOR
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)
_SHIFT = timedelta(hours=12)
_TEAMS = {"operator": 4, "investigator": 2, "supervisor": 2, "maintenance": 2, "admin": 1}
_MIN_STAFF = {"operator": 4, "investigator": 2, "supervisor": 2, "maintenance": 2, "admin": 1}
_ROOMS = {"operator": "JKS", "investigator": "YPS", "supervisor": "ZBS", "maintenance": "YWS"}
_SURNAMES = (
    "刘 李 陈 王 张 周 谭 彭 罗 易 肖 曾 邓 唐 黄 杨 吴 胡 赵 文 袁 龙 贺 谢 廖 蒋 颜 钟 朱 何 欧阳 丁"
).split()
_GIVEN = (
    "伟 芳 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 霞 平 刚 英 华 建 文 辉 斌 鹏 宇 浩 凯 俊 婷 雪"
    " 琳 晨 欣 怡 涵 思 佳 志 国 红 海 峰 亮 健 波 丹 慧 玲 燕 飞 云 林 博 宁 睿 哲 成 轩 航 宏 嘉"
    " 诚 立 新 永 春 梅 兰 湘 韬"
).split()
_ROADS = {
    "430202": "新华西路 红旗北路 建设北路 荷塘大道 金山路 桂花路 茨菇塘路 月塘路 红港路".split(),
    "430203": "建设中路 人民中路 车站路 建设南路 芦淞路 董家塅路 贺家土路 七一路".split(),
    "430204": "田心大道 响石路 铜霞路 清石路 石峰路 井墩路 北环大道 田心北路".split(),
    "430211": "神农大道 长江北路 黄河北路 泰山路 珠江北路 湘芸路 天台路 株洲大道".split(),
}
_STATIONS = (
    ("株洲站", "430203"), ("新华桥", "430202"), ("田心", "430204"), ("神农城", "430211"),
    ("中心广场", "430203"), ("红旗广场", "430202"), ("株洲北站", "430204"), ("泰山路", "430211"),
    ("芦淞服饰城", "430203"), ("荷塘铺", "430202"), ("响石岭", "430204"), ("株洲西站", "430211"),
    ("董家塅", "430203"), ("桂花路", "430202"), ("清水塘", "430204"), ("湖南工业大学", "430211"),
)  # fmt: skip
_STATION_SPOTS = "站厅 A出入口 B出入口 安检区 进站闸机 出站闸机 上行站台 下行站台 自动扶梯 换乘通道".split()
_HOSPITAL_AREAS = (
    # (area, spots, category, retention override in days)
    ("门诊楼", "一楼大厅 挂号收费处 候诊区 电梯厅 公共走廊 取药窗口", "HOSPITAL_PUBLIC_AREA", None),
    ("急诊楼", "急诊大厅 分诊台 抢救室外走廊 出入口", "HOSPITAL_PUBLIC_AREA", 90),
    ("住院部A栋", "一楼大厅 电梯厅 公共走廊 楼梯口", "HOSPITAL_PUBLIC_AREA", None),
    ("住院部B栋", "一楼大厅 电梯厅 公共走廊 楼梯口", "HOSPITAL_PUBLIC_AREA", None),
    ("医技楼", "一楼大厅 候检区 电梯厅", "HOSPITAL_PUBLIC_AREA", None),
    ("行政楼", "一楼大厅 公共走廊", "OFFICE", None),
    ("院区", "南大门 北大门 地面停车场 地下停车场入口 院内道路", "OTHER_PUBLIC", None),
)
_STATUTE = "《株洲市公共安全视频图像信息系统管理条例》"


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One event a source system publishes, before the producer SDK adds the envelope."""

    source_id: str
    event_type: str
    fields: dict[str, Any]
    actor: dict[str, Any]
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class SourceSystem:
    """A registered video system (ZZ 7) and its cameras."""

    system_id: str
    name: str
    owner: str
    manager: str
    retention_days: int
    camera_ids: tuple[str, ...]
    filing_number: str | None = None
    went_live_on: date | None = None
    filed_on: date | None = None


@dataclass(frozen=True, slots=True)
class Camera:
    """A camera with its GB/T 28181 id and where it looks."""

    camera_id: str
    system_id: str
    name: str
    location: str
    location_category: str
    district: str
    went_live_on: date
    notice_sign: bool = True
    retention_days: int | None = None
    """Per-camera retention period overriding the system's, if any."""


@dataclass(frozen=True, slots=True)
class Operator:
    """A person with an account on one system (operator, investigator, supervisor, ...)."""

    user_id: str
    name: str
    unit: str
    role: str
    workstation: str
    ip: str
    system_id: str
    post: str
    team: int
    seat: int

    def actor(self) -> dict[str, Any]:
        """A fresh ``liuhen.Actor`` record for this person."""
        return {
            "kind": "PERSON",
            "user_id": self.user_id,
            "name": self.name,
            "unit": self.unit,
            "role": self.role,
            "workstation": self.workstation,
            "ip": self.ip,
        }


@dataclass(frozen=True, slots=True)
class City:
    """The simulated city: its systems, cameras and staff."""

    systems: tuple[SourceSystem, ...]
    cameras: tuple[Camera, ...] = ()
    operators: tuple[Operator, ...] = ()
    scale: float = 1.0

    def system(self, system_id: str) -> SourceSystem:
        """The system with this id; ``KeyError`` if there is none."""
        for system in self.systems:
            if system.system_id == system_id:
                return system
        raise KeyError(system_id)

    def cameras_of(self, system_id: str) -> tuple[Camera, ...]:
        """The cameras of one system, in registration order."""
        return tuple(c for c in self.cameras if c.system_id == system_id)

    def staff(self, system_id: str, role: str) -> tuple[Operator, ...]:
        """The people of one system with one role."""
        return tuple(o for o in self.operators if o.system_id == system_id and o.role == role)

    def retention_of(self, camera: Camera) -> int:
        """Retention period in days that applies to a camera's footage."""
        return camera.retention_days or self.system(camera.system_id).retention_days


@dataclass(frozen=True, slots=True)
class _Profile:
    """Everything that differs between the three kinds of system."""

    system_id: str
    code: str
    kind: str
    name: str
    owner: str
    retention_days: int
    went_live_on: date
    camera_count: int
    industry: str
    network: str
    unit_code: str
    police_code: str
    subnet: int
    staff: tuple[tuple[str, int, str, str], ...]  # role, count, unit, post
    live_reasons: tuple[str, ...]
    incident_reasons: tuple[str, ...]
    case_reasons: tuple[str, ...]
    legal_bases: tuple[str, ...]
    destinations: tuple[str, ...]
    recipients: tuple[str, ...]
    cases_per_day: float
    applications_per_day: float
    shares_per_day: float
    work_orders_per_day: float
    patrol_gap: float  # mean seconds between live-viewing sessions, day shift
    guaranteed: bool  # every day has at least one flow of each kind


_TP = "株洲市公安局交通警察支队"
_METRO = "株洲轨道交通运营有限公司"
_HOSP = "株洲市中心医院"
_CRIMINAL = ("《中华人民共和国刑事诉讼法》第五十四条", "《公安机关办理刑事案件程序规定》第六十二条")
PROFILES = (
    _Profile(
        "zz-traffic-police", "JJ", "road", f"{_TP}道路视频监控系统", _TP, 90, date(2019, 6, 18),
        200, "04", "0", "01", "430200150000", 11,
        (("operator", 24, f"{_TP}指挥中心", "视频监控值班员"),
         ("investigator", 8, f"{_TP}事故处理大队", "案件视频研判岗"),
         ("supervisor", 2, f"{_TP}指挥中心", "值班领导"),
         ("maintenance", 4, "株洲市智慧交通运维服务中心", "运维保障岗"),
         ("admin", 2, f"{_TP}科技信息科", "系统管理员")),
        ("日常路面视频巡查", "早晚高峰路况监看", "重点路段视频巡逻", "恶劣天气路况监看"),
        ("核查122交通事故报警", "核查车辆违停投诉", "核实道路拥堵原因", "核查群众报警线索"),
        ("调查交通肇事逃逸案", "交通事故责任认定取证", "调查危险驾驶案", "调查盗抢机动车案"),
        ("《中华人民共和国道路交通安全法》第七十二条", *_CRIMINAL),
        ("交通事故处理信息系统", "公安网案件管理系统", "涉案视频证据库"),
        ("株洲市城市管理和综合执法局", "株洲市应急管理局", "株洲市交通运输局"),
        6.0, 0.8, 2.0, 3.0, 75.0, True,
    ),
    _Profile(
        "zz-metro", "GD", "metro", "株洲轨道交通运营视频监控系统", _METRO, 60, date(2021, 9, 28),
        120, "06", "8", "02", "430200420000", 21,
        (("operator", 12, f"{_METRO}控制中心", "视频监控值班员"),
         ("investigator", 4, "株洲市公安局轨道交通分局", "案件视频研判岗"),
         ("supervisor", 2, f"{_METRO}安全保卫部", "值班领导"),
         ("maintenance", 2, f"{_METRO}通信信号车间", "运维保障岗"),
         ("admin", 1, f"{_METRO}信息中心", "系统管理员")),
        ("站内客流监看", "站台安全巡视", "出入口视频巡查", "安检区秩序监看"),
        ("乘客遗失物品查找", "核查站内客伤事件", "核查乘客投诉", "核查逃票纠纷"),
        ("调查地铁站内盗窃案", "调查扒窃案件", "调查寻衅滋事案件"),
        _CRIMINAL, ("公安网案件管理系统", "涉案视频证据库"),
        ("株洲市交通运输局", "株洲市应急管理局"),
        2.0, 0.2, 0.5, 1.5, 80.0, False,
    ),
    _Profile(
        "zz-central-hospital", "YY", "hospital", f"{_HOSP}安防视频监控系统", _HOSP, 30,
        date(2020, 3, 2), 60, "09", "8", "03", "430211510000", 31,
        (("operator", 8, f"{_HOSP}保卫科", "安防监控值班员"),
         ("investigator", 2, "株洲市公安局天元分局泰山路派出所驻院警务室", "案件视频研判岗"),
         ("supervisor", 2, f"{_HOSP}保卫科", "值班领导"),
         ("maintenance", 2, f"{_HOSP}信息科", "运维保障岗"),
         ("admin", 1, f"{_HOSP}信息科", "系统管理员")),
        ("院区安保视频巡查", "急诊区域秩序监看", "重点部位视频巡查"),
        ("核查医患纠纷", "协助患者家属查找遗失物品", "核查院内失窃报告", "核查电动车被盗报告"),
        ("调查医闹案件", "调查院内盗窃案件", "调查故意伤害案件"),
        _CRIMINAL, ("公安网案件管理系统",), ("株洲市卫生健康委员会", "株洲市公安局天元分局"),
        1.0, 0.0, 0.3, 1.0, 90.0, False,
    ),
)  # fmt: skip
_PROFILE_BY_ID = {p.system_id: p for p in PROFILES}


def _name(rng: random.Random) -> str:
    given = rng.choice(_GIVEN) + (rng.choice(_GIVEN) if rng.random() < 0.6 else "")
    return rng.choice(_SURNAMES) + given


def _sites(p: _Profile, rng: random.Random, count: int) -> list[tuple[str, str, str, str, int | None]]:
    """``(district, name, location, category, retention override)`` of each camera."""
    sites: list[tuple[str, str, str, str, int | None]] = []
    seen: dict[str, int] = {}
    for i in range(count):
        if p.kind == "road":
            district = tuple(DISTRICTS)[i % len(DISTRICTS)]
            a, b = rng.sample(_ROADS[district], 2)
            kind = rng.choice(("卡口", "电子警察", "高点全景"))
            name = f"{a}与{b}路口{rng.choice('东南西北')}向{kind}"
            site = (district, name, f"株洲市{DISTRICTS[district]}{a}与{b}交叉口", "PUBLIC_ROAD", None)
        elif p.kind == "metro":
            station, district = _STATIONS[i % len(_STATIONS)]
            spot = _STATION_SPOTS[(i // len(_STATIONS)) % len(_STATION_SPOTS)]
            name = f"{station}站{spot}"
            site = (district, name, f"株洲轨道交通{name}", "TRANSPORT_HUB", None)
        else:
            spots = [(a, s, c, r) for a, ss, c, r in _HOSPITAL_AREAS for s in ss.split()]
            area, spot, category, override = spots[i % len(spots)]
            name = f"{area}{spot}"
            site = ("430211", name, f"{_HOSP}(天元区长江南路){name}", category, override)
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            site = (site[0], f"{name}{seen[name]}号", *site[2:])
        sites.append(site)
    return sites


def build_city(*, seed: int, scale: float = 1.0) -> City:
    """Zhuzhou's three video systems, with cameras and staff multiplied by ``scale``."""
    if not scale > 0:
        raise ValueError(f"scale must be positive, not {scale}")
    rng = random.Random(f"liuhen-city|{seed}")
    systems: list[SourceSystem] = []
    cameras: list[Camera] = []
    staff: list[Operator] = []
    names: set[str] = set()
    for p in PROFILES:
        people: list[Operator] = []
        host = 10
        for role, count, unit, post in p.staff:
            for seat in range(max(_MIN_STAFF[role], round(count * scale))):
                name = _name(rng)
                while name in names:
                    name = _name(rng)
                names.add(name)
                host += 1
                room = _ROOMS.get(role, "XXK")
                people.append(
                    Operator(
                        user_id=f"{p.code.lower()}{rng.randrange(10**5):05d}{host % 10}",
                        name=name,
                        unit=unit,
                        role=role,
                        workstation=f"{p.code}-{room}-{seat // _TEAMS[role] + 1:02d}",
                        ip=f"10.43.{p.subnet + host // 250}.{host % 250 + 1}",
                        system_id=p.system_id,
                        post=post,
                        team=seat % _TEAMS[role],
                        seat=seat,
                    )
                )
        staff += people
        ids: list[str] = []
        count = max(4, round(p.camera_count * scale))
        for serial, site in enumerate(_sites(p, rng, count), 1):
            district, name, location, category, override = site
            ids.append(f"{district}{p.unit_code}{p.industry}{rng.choice(('131', '132'))}")
            ids[-1] += f"{p.network}{serial:06d}"
            went_live = p.went_live_on + timedelta(days=rng.randrange(0, 1600))
            cameras.append(
                Camera(
                    ids[-1], p.system_id, name, location, category, district,
                    went_live_on=min(date(2025, 6, 30), went_live), retention_days=override,
                )
            )  # fmt: skip
        systems.append(
            SourceSystem(
                system_id=p.system_id,
                name=p.name,
                owner=p.owner,
                manager=next(o.name for o in people if o.role == "admin"),
                retention_days=p.retention_days,
                camera_ids=tuple(ids),
                filing_number=f"株公视备〔{p.went_live_on.year}〕{rng.randrange(1, 200):04d}号",
                went_live_on=p.went_live_on,
                filed_on=p.went_live_on + timedelta(days=rng.randrange(5, 25)),
            )
        )
    return City(tuple(systems), tuple(cameras), tuple(staff), scale)

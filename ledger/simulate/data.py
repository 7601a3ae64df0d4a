"""Static tables of the synthetic Zhuzhou city that :mod:`ledger.simulate` generates traffic for.

Districts and the location categories cameras may watch, staffing tables, Chinese surnames and
given names, roads by district, metro stations and the spots watched in them, the central
hospital's areas, the profiles of the three video systems (traffic police, metro, hospital) with
their staff, reasons and daily rates, and the texts of work orders and missing-person searches.
Constants only: nothing here draws random numbers or depends on a run's arguments.
"""

# ruff: noqa: RUF001 - the Chinese text uses full-width punctuation on purpose
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

DISTRICTS = {"430202": "荷塘区", "430203": "芦淞区", "430204": "石峰区", "430211": "天元区"}
"""Zhuzhou's urban districts by administrative division code (the start of a camera id)."""
PUBLIC_CATEGORIES = frozenset(
    {"PUBLIC_ROAD", "TRANSPORT_HUB", "COMMERCIAL", "HOSPITAL_PUBLIC_AREA", "SCHOOL"}
    | {"RESIDENTIAL_COMMON_AREA", "OFFICE", "OTHER_PUBLIC"}
)
"""Location categories where cameras are allowed (ZZ 8)."""
# Staffing by role: the fewest people at any scale, the room code of their workstations.
MIN_STAFF = {"operator": 4, "investigator": 2, "supervisor": 2, "maintenance": 2, "admin": 1}
ROOMS = {"operator": "JKS", "investigator": "YPS", "supervisor": "ZBS", "maintenance": "YWS"}


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


SURNAMES = _words(
    "刘 李 陈 王 张 周 谭 彭 罗 易 肖 曾 邓 唐 黄 杨 吴 胡 赵 文 袁 龙 贺 谢 廖 蒋 颜 钟 朱 何 欧阳 丁"
)
GIVEN_NAMES = _words(
    "伟 芳 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 霞 平 刚 英 华 建 文 辉 斌 鹏 宇 浩 凯 俊 婷 雪"
    " 琳 晨 欣 怡 涵 思 佳 志 国 红 海 峰 亮 健 波 丹 慧 玲 燕 飞 云 林 博 宁 睿 哲 成 轩 航 宏 嘉"
    " 诚 立 新 永 春 梅 兰 湘 韬"
)
ROADS = {
    "430202": _words("新华西路 红旗北路 建设北路 荷塘大道 金山路 桂花路 茨菇塘路 月塘路 红港路"),
    "430203": _words("建设中路 人民中路 车站路 建设南路 芦淞路 董家塅路 贺家土路 七一路"),
    "430204": _words("田心大道 响石路 铜霞路 清石路 石峰路 井墩路 北环大道 田心北路"),
    "430211": _words("神农大道 长江北路 黄河北路 泰山路 珠江北路 湘芸路 天台路 株洲大道"),
}
STATIONS = (
    ("株洲站", "430203"), ("新华桥", "430202"), ("田心", "430204"), ("神农城", "430211"),
    ("中心广场", "430203"), ("红旗广场", "430202"), ("株洲北站", "430204"), ("泰山路", "430211"),
    ("芦淞服饰城", "430203"), ("荷塘铺", "430202"), ("响石岭", "430204"), ("株洲西站", "430211"),
    ("董家塅", "430203"), ("桂花路", "430202"), ("清水塘", "430204"), ("湖南工业大学", "430211"),
)  # fmt: skip
STATION_SPOTS = _words("站厅 A出入口 B出入口 安检区 进站闸机 出站闸机 上行站台 下行站台 自动扶梯 换乘通道")
HOSPITAL_AREAS = (
    # (area, spots, category, retention override in days)
    ("门诊楼", "一楼大厅 挂号收费处 候诊区 电梯厅 公共走廊 取药窗口", "HOSPITAL_PUBLIC_AREA", None),
    ("急诊楼", "急诊大厅 分诊台 抢救室外走廊 出入口", "HOSPITAL_PUBLIC_AREA", 90),
    ("住院部A栋", "一楼大厅 电梯厅 公共走廊 楼梯口", "HOSPITAL_PUBLIC_AREA", None),
    ("住院部B栋", "一楼大厅 电梯厅 公共走廊 楼梯口", "HOSPITAL_PUBLIC_AREA", None),
    ("医技楼", "一楼大厅 候检区 电梯厅", "HOSPITAL_PUBLIC_AREA", None),
    ("行政楼", "一楼大厅 公共走廊", "OFFICE", None),
    ("院区", "南大门 北大门 地面停车场 地下停车场入口 院内道路", "OTHER_PUBLIC", None),
)
STATUTE = "《株洲市公共安全视频图像信息系统管理条例》"


@dataclass(frozen=True, slots=True)
class Profile:
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
    cases: tuple[tuple[str, str], ...]  # reason, legal basis
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
HOSPITAL = "株洲市中心医院"
_CPL, _CPR = "《中华人民共和国刑事诉讼法》第五十四条", "《公安机关办理刑事案件程序规定》第六十二条"
# id, user-id code, kind, name, owner, retention days, went live; cameras, GB/T 28181 industry code,
# network id, unit digits, police unit code (case numbers), IP subnet; staff (role, count, unit, post);
# live-view reasons, incident reasons, cases (reason, legal basis), export destinations, share
# recipients; per day: cases, Art. 14 applications, shares, work orders; patrol gap; guaranteed.
PROFILES = (
    Profile(
        "zz-traffic-police", "JJ", "road", f"{_TP}道路视频监控系统", _TP, 90, date(2019, 6, 18),
        200, "04", "0", "01", "430200150000", 11,
        (("operator", 24, f"{_TP}指挥中心", "视频监控值班员"),
         ("investigator", 8, f"{_TP}事故处理大队", "案件视频研判岗"),
         ("supervisor", 2, f"{_TP}指挥中心", "值班领导"),
         ("maintenance", 4, "株洲市智慧交通运维服务中心", "运维保障岗"),
         ("admin", 2, f"{_TP}科技信息科", "系统管理员")),
        ("日常路面视频巡查", "早晚高峰路况监看", "重点路段视频巡逻", "恶劣天气路况监看"),
        ("核查122交通事故报警", "核查车辆违停投诉", "核实道路拥堵原因", "核查群众报警线索"),
        (("调查交通肇事逃逸案", _CPL), ("交通事故责任认定取证", "《中华人民共和国道路交通安全法》第七十二条"),
         ("调查危险驾驶案", _CPL), ("调查盗抢机动车案", _CPR)),
        ("交通事故处理信息系统", "公安网案件管理系统", "涉案视频证据库"),
        ("株洲市城市管理和综合执法局", "株洲市应急管理局", "株洲市交通运输局"),
        6.0, 0.8, 2.0, 3.0, 75.0, True,
    ),
    Profile(
        "zz-metro", "GD", "metro", "株洲轨道交通运营视频监控系统", _METRO, 60, date(2021, 9, 28),
        120, "06", "8", "02", "430200420000", 21,
        (("operator", 12, f"{_METRO}控制中心", "视频监控值班员"),
         ("investigator", 4, "株洲市公安局轨道交通分局", "案件视频研判岗"),
         ("supervisor", 2, f"{_METRO}安全保卫部", "值班领导"),
         ("maintenance", 2, f"{_METRO}通信信号车间", "运维保障岗"),
         ("admin", 1, f"{_METRO}信息中心", "系统管理员")),
        ("站内客流监看", "站台安全巡视", "出入口视频巡查", "安检区秩序监看"),
        ("乘客遗失物品查找", "核查站内客伤事件", "核查乘客投诉", "核查逃票纠纷"),
        (("调查地铁站内盗窃案", _CPL), ("调查扒窃案件", _CPR), ("调查寻衅滋事案件", _CPL)),
        ("公安网案件管理系统", "涉案视频证据库"),
        ("株洲市交通运输局", "株洲市应急管理局"),
        2.0, 0.2, 0.5, 1.5, 80.0, False,
    ),
    Profile(
        "zz-central-hospital", "YY", "hospital", f"{HOSPITAL}安防视频监控系统", HOSPITAL, 30,
        date(2020, 3, 2), 60, "09", "8", "03", "430211510000", 31,
        (("operator", 8, f"{HOSPITAL}保卫科", "安防监控值班员"),
         ("investigator", 2, "株洲市公安局天元分局泰山路派出所驻院警务室", "案件视频研判岗"),
         ("supervisor", 2, f"{HOSPITAL}保卫科", "值班领导"),
         ("maintenance", 2, f"{HOSPITAL}信息科", "运维保障岗"),
         ("admin", 1, f"{HOSPITAL}信息科", "系统管理员")),
        ("院区安保视频巡查", "急诊区域秩序监看", "重点部位视频巡查"),
        ("核查医患纠纷", "协助患者家属查找遗失物品", "核查院内失窃报告", "核查电动车被盗报告"),
        (("调查医闹案件", _CPR), ("调查院内盗窃案件", _CPL), ("调查故意伤害案件", _CPL)),
        ("公安网案件管理系统",), ("株洲市卫生健康委员会", "株洲市公安局天元分局"),
        1.0, 0.0, 0.3, 1.0, 90.0, False,
    ),
)  # fmt: skip
PROFILE_BY_ID = {p.system_id: p for p in PROFILES}

# Work orders: (kind, reason, resolution) of outages; (change, kind, reason, detail) of the others.
OUTAGE_REASONS = (
    ("REPAIR", "摄像机图像模糊，清洁镜头并更换防护罩", "已清洁镜头、更换防护罩，图像恢复正常"),
    ("REPAIR", "摄像机供电故障，更换电源适配器", "已更换电源适配器，设备恢复在线"),
    ("REPAIR", "前端光纤中断，熔接修复", "光纤已熔接，视频传输恢复"),
    ("MAINTENANCE", "例行维护保养，升级摄像机固件", "固件已升级，录像核查正常"),
)
CAMERA_CHANGES = (
    ("DIRECTION", "RELOCATION", "道路施工，临时调整监控方向", "监控方向由{a}向调整为{b}向"),
    ("PTZ_PRESET", "MAINTENANCE", "重新标定云台预置位", "预置位1-4重新标定"),
    ("HOME_POSITION", "MAINTENANCE", "守望位偏移，复位", "守望位复位至出入口全景"),
)

# Art. 14 missing-person searches: category -> (label, age range, detail, applicant relationships).
MISSING_PERSONS = {
    "ELDERLY": ("老人", (70, 89), "患阿尔茨海默病", ("子女", "配偶", "孙子女")),
    "CHILD": ("儿童", (4, 12), "衣着蓝色校服", ("父亲", "母亲", "祖父母")),
    "INTELLECTUAL_DISABILITY": ("智力残疾人员", (18, 45), "智力残疾二级", ("父亲", "母亲", "兄弟姐妹")),
}
SEARCH_RESULTS = (
    "已在{place}附近找到走失人员，已由家属接回",
    "视频显示走失人员于{time}经{place}离开，线索已移交辖区派出所继续查找",
    "经查看授权范围内视频未发现走失人员踪迹，已告知申请人并建议报警求助",
)

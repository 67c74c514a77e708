"""Reference data from GB/T 4754-2017 Industrial classification for national economic activities.

Only what admission needs: the 20 sections with the range of divisions each holds
(division numbers are unique across sections, so a division outside its section's range
is a malformed code), and the names of the manufacturing divisions C13–C43, the section
the park admits. Groups (3 digits) and classes (4 digits) are not shipped: a code's
group or class is checked for form only (see :mod:`services.onboarding.domain.industries`).
"""

from __future__ import annotations

SECTIONS: dict[str, tuple[str, range]] = {
    "A": ("农、林、牧、渔业", range(1, 6)),
    "B": ("采矿业", range(6, 13)),
    "C": ("制造业", range(13, 44)),
    "D": ("电力、热力、燃气及水生产和供应业", range(44, 47)),
    "E": ("建筑业", range(47, 51)),
    "F": ("批发和零售业", range(51, 53)),
    "G": ("交通运输、仓储和邮政业", range(53, 61)),
    "H": ("住宿和餐饮业", range(61, 63)),
    "I": ("信息传输、软件和信息技术服务业", range(63, 66)),
    "J": ("金融业", range(66, 70)),
    "K": ("房地产业", range(70, 71)),
    "L": ("租赁和商务服务业", range(71, 73)),
    "M": ("科学研究和技术服务业", range(73, 76)),
    "N": ("水利、环境和公共设施管理业", range(76, 80)),
    "O": ("居民服务、修理和其他服务业", range(80, 83)),
    "P": ("教育", range(83, 84)),
    "Q": ("卫生和社会工作", range(84, 86)),
    "R": ("文化、体育和娱乐业", range(86, 91)),
    "S": ("公共管理、社会保障和社会组织", range(91, 97)),
    "T": ("国际组织", range(97, 98)),
}
"""Section letter → (name, division numbers it holds)."""

MANUFACTURING_DIVISIONS: dict[str, str] = {
    "C13": "农副食品加工业",
    "C14": "食品制造业",
    "C15": "酒、饮料和精制茶制造业",
    "C16": "烟草制品业",
    "C17": "纺织业",
    "C18": "纺织服装、服饰业",
    "C19": "皮革、毛皮、羽毛及其制品和制鞋业",
    "C20": "木材加工和木、竹、藤、棕、草制品业",
    "C21": "家具制造业",
    "C22": "造纸和纸制品业",
    "C23": "印刷和记录媒介复制业",
    "C24": "文教、工美、体育和娱乐用品制造业",
    "C25": "石油、煤炭及其他燃料加工业",
    "C26": "化学原料和化学制品制造业",
    "C27": "医药制造业",
    "C28": "化学纤维制造业",
    "C29": "橡胶和塑料制品业",
    "C30": "非金属矿物制品业",
    "C31": "黑色金属冶炼和压延加工业",
    "C32": "有色金属冶炼和压延加工业",
    "C33": "金属制品业",
    "C34": "通用设备制造业",
    "C35": "专用设备制造业",
    "C36": "汽车制造业",
    "C37": "铁路、船舶、航空航天和其他运输设备制造业",
    "C38": "电气机械和器材制造业",
    "C39": "计算机、通信和其他电子设备制造业",
    "C40": "仪器仪表制造业",
    "C41": "其他制造业",
    "C42": "废弃资源综合利用业",
    "C43": "金属制品、机械和设备修理业",
}
"""The 31 divisions of section C (制造业) in the 2017 edition; C25 was renamed from 2011's
石油加工、炼焦和核燃料加工业."""

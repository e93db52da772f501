"""The shipped objective templates: typical, measurable objectives for each focus link (admins edit them),
and the first injects a drill's scenario conditions suggest."""

from drillmgr.enums import Condition, Focus

DEFAULT_OBJECTIVES = {
    Focus.COMMAND_POST: [
        "接报后30分钟内完成现场指挥部选址与搭建，明确总指挥及各工作组负责人",
        "指挥部开设后15分钟内召开首次会商，形成初步处置方案",
    ],
    Focus.COMMAND_COMMS: [
        "断网断电条件下10分钟内通过卫星电话或短波电台与上级指挥部建立联络",
        "每30分钟向上级报送一次灾情与处置进展，信息要素完整",
    ],
    Focus.FORCE_ORGANIZATION: [
        "接到命令后1小时内集结救援队伍并明确任务分工",
        "按预案完成救援力量编组、装备清点和出发报告",
    ],
    Focus.COORDINATION: ["各工作组按职责分工协同处置，无职责空白或重复指令"],
    Focus.LINKAGE: ["与兵团、驻地部队及相邻县市建立联动，30分钟内完成需求对接"],
    Focus.MEDICAL: [
        "1小时内设立临时医疗点，完成伤员检伤分类",
        "重伤员按预案在2小时内转运至定点医院",
    ],
    Focus.RELOCATION: [
        "严寒条件下3小时内完成受灾群众转移并安置到有取暖条件的场所",
        "安置点登记造册，生活物资发放到位",
    ],
    Focus.LIFELINES: [
        "明确道路、通信、电力、燃气、供水、供热抢修队伍与优先次序",
        "6小时内恢复指挥部及医疗点的电力和通信保障",
    ],
    Focus.LOGISTICS: ["4小时内完成救灾物资调拨并送达安置点，台账清楚"],
    Focus.EVACUATION: ["听到警报后按预定路线有序疏散，疏散时间不超过目标时间"],
    Focus.SELF_RESCUE: ["参演人员正确采取避险姿势，并能开展简单的自救互救"],
}

CONDITION_INJECTS = {
    Condition.NIGHT: (
        "地震台网",
        "现场指挥部",
        "地震发生于深夜，多数居民在睡眠中，照明条件差。",
        "启动夜间应急照明，组织人员清点。",
    ),
    Condition.SEVERE_COLD: (
        "气象部门",
        "现场指挥部",
        "当前气温零下25摄氏度，并伴有大风。",
        "优先安排防寒保暖物资和取暖安置场所。",
    ),
    Condition.ROAD_CUT: (
        "交通部门",
        "现场指挥部",
        "通往震中乡镇的主要道路因滑坡中断。",
        "组织抢通道路，安排绕行或空中运输。",
    ),
    Condition.POWER_CUT: (
        "供电公司",
        "现场指挥部",
        "震区大面积停电，恢复时间未知。",
        "启用备用电源，确定抢修优先次序。",
    ),
    Condition.NETWORK_CUT: (
        "通信部门",
        "现场指挥部",
        "震区公网通信中断，手机无信号。",
        "启用卫星电话、短波电台等应急通信手段。",
    ),
    Condition.CASUALTIES: (
        "乡镇政府",
        "现场指挥部",
        "初步报告有人员被困和受伤，具体数字不详。",
        "组织搜救和医疗救治力量，核实伤亡情况。",
    ),
}

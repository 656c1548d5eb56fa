"""PII step: a labelled set built here (planted PII of every type in Chinese and English sentences,
numbers with valid and invalid checksums, look-alikes that are not PII), scored per type; the values
that are the right type but nobody's (textbook addresses, invoice and courier codes, versions) on both
sides; and third-party vectors: Presidio's recognizer test cases, Faker zh_CN/en_US, python-stdnum."""

from __future__ import annotations

import ipaddress
import random
from collections import Counter

import phonenumbers
import pytest

from tunesmith.records.example import Example
from tunesmith.prepare.steps import pii_find
from tunesmith.prepare.steps.pii import PiiFinder, PiiStep, id15_valid, id18_valid, luhn_valid

PROVINCES = ["110101", "310104", "440305", "510107", "330106", "420102", "610113", "210202"]
W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id18(rng, valid=True):
    body = (rng.choice(PROVINCES) + f"{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
            + f"{rng.randint(0, 999):03d}")
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, W)) % 11]
    if not valid:
        check = rng.choice([c for c in "0123456789X" if c != check])
    return body + check


def id18_spaced(rng):
    d = id18(rng)
    return rng.choice([" ", "-"]).join((d[:6], d[6:14], d[14:]))


def id15(rng):
    return rng.choice(PROVINCES) + f"{rng.randint(40, 98)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}" \
        + f"{rng.randint(0, 999):03d}"


def luhn_digit(partial):
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def card(rng, valid=True):
    prefix = rng.choice(["6222", "6217", "6228", "4392", "5187", "6259", "3568"])
    n = rng.choice([16, 16, 19])
    body = prefix + "".join(str(rng.randint(0, 9)) for _ in range(n - 5))
    check = luhn_digit(body)
    if not valid:
        check = str((int(check) + rng.randint(1, 9)) % 10)
    digits = body + check
    if rng.random() < 0.4:
        digits = " ".join(digits[i:i + 4] for i in range(0, len(digits), 4))
    return digits


def intl_card(rng):
    """American Express (4-6-5), Diners (14, 4-6-4), JCB-15 and Maestro: the brands outside groups of four."""
    prefix, n, groups = rng.choice([("37", 15, (4, 6, 5)), ("34", 15, (4, 6, 5)), ("3056", 14, (4, 6, 4)),
                                    ("36", 14, (4, 6, 4)), ("1800", 15, None), ("2131", 15, None),
                                    ("6759", 16, (4, 4, 4, 4)), ("5018", 16, None), ("6304", 19, (4, 4, 4, 4, 3))])
    body = prefix + "".join(str(rng.randint(0, 9)) for _ in range(n - len(prefix) - 1))
    digits = body + luhn_digit(body)
    if groups and rng.random() < 0.5:
        parts, at = [], 0
        for g in groups:
            parts.append(digits[at:at + g])
            at += g
        digits = " ".join(parts)
    return digits


PHONE_REGIONS = ["US", "GB", "DE", "FR", "JP", "BR", "IN", "AU", "HK", "TW", "SG", "KR", "CA", "IT", "RU", "IL"]


def phone(rng):
    """A valid number of another country (libphonenumber's example numbers, last digits redrawn until
    valid), written internationally, or nationally for North America ("(201) 555-0123", "201-555-0123")."""
    region = rng.choice(PHONE_REGIONS)
    kind = rng.choice([phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE])
    example = phonenumbers.example_number_for_type(region, kind)
    while True:
        national = example.national_number // 10000 * 10000 + rng.randint(0, 9999)
        number = phonenumbers.PhoneNumber(country_code=example.country_code, national_number=national,
                                          italian_leading_zero=example.italian_leading_zero)
        if phonenumbers.is_valid_number(number):
            break
    if region in ("US", "CA") and rng.random() < 0.5:
        text = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        return text if rng.random() < 0.5 else text.replace("(", "").replace(") ", "-")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def mobile(rng):
    d = "1" + rng.choice("3456789") + "".join(str(rng.randint(0, 9)) for _ in range(9))
    form = rng.randint(0, 4)
    return [d, f"+86 {d}", f"{d[:3]}-{d[3:7]}-{d[7:]}", f"{d[:3]} {d[3:7]} {d[7:]}", f"+86-{d}"][form]


def landline(rng):
    area = rng.choice(["010", "021", "0755", "0571", "028"])
    local = str(rng.randint(2, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(7 if len(area) == 3 else 6))
    return rng.choice([f"{area}-{local}", f"({area}){local}", f"{area} {local}", f"+86 {area[1:]} {local}"])


def email(rng):
    user = rng.choice(["zhang.san", "li_si88", "wang.wu+work", "alice", "bob.smith"])
    # Real providers' domains: a mailbox at example.org is nobody's (RFC 2606), see TEXTBOOK below.
    return f"{user}{rng.randint(1, 99)}@{rng.choice(['qq.com', '163.com', 'gmail.com', 'mail.tsinghua.edu.cn'])}"


def ipv4(rng):
    """A public unicast address: one a person's machine could have (private, reserved, multicast and
    documentation addresses are nobody's; single-digit quads read as versions)."""
    while True:
        addr = ipaddress.IPv4Address(rng.randint(1 << 24, (224 << 24) - 1))
        if addr.is_global and max(addr.packed) >= 10:
            return str(addr)


def ipv6(rng):
    """A global unicast address (2000::/3, not documentation or special-purpose)."""
    while True:
        groups = [f"{rng.randint(0x2001, 0x3fff):x}"] + [f"{rng.randint(0, 65535):x}" for _ in range(7)]
        text = rng.choice([":".join(groups), ":".join(groups[:3]) + "::" + ":".join(groups[6:])])
        if ipaddress.IPv6Address(text).is_global:
            return text


def fullwidth(text):
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def passport(rng):
    return rng.choice("EG") + "".join(str(rng.randint(0, 9)) for _ in range(8))


# (type, value factory, sentence templates with {} where the value goes)
PLANTED = [
    ("id_card", lambda r: id18(r), ["我的身份证号是{}，请核对。", "ID number: {} (mainland resident)", "身份证：{}"]),
    ("id_card", id18_spaced, ["身份证号码 {} 请妥善保管", "ID: {}"]),
    ("id_card", id15, ["老身份证号码{}已经作废了吗？", "old ID {} from 1995"]),
    ("id_card", lambda r: fullwidth(id18(r)), ["身份证号：{}"]),
    ("mobile", mobile, ["有问题请打{}联系我。", "Call me at {} tomorrow.", "手机：{}"]),
    ("mobile", lambda r: fullwidth(mobile(r)), ["手机号{}，随时联系"]),
    ("landline", landline, ["公司电话{}，工作日拨打。", "Office line: {}."]),
    ("bank_card", lambda r: card(r), ["请转账到卡号{}。", "Card number {} was charged twice."]),
    ("bank_card", intl_card, ["My card {} expires in May.", "信用卡{}被盗刷了"]),
    ("phone", phone, ["Call me at {} tomorrow.", "我在国外的电话是{}。", "Reach our office: {}"]),
    ("email", email, ["邮箱是{}，欢迎来信。", "Write to {} for details."]),
    ("ipv4", ipv4, ["服务器地址{}无法访问。", "The host {} refused the connection."]),
    ("ipv6", ipv6, ["IPv6 地址 {} 配置在 eth0 上。", "Ping {} to test."]),
    ("passport", passport, ["护照号码：{}，有效期十年。", "My passport number is {}."]),
    ("qq", lambda r: str(r.randint(10000, 9999999999)), ["加我QQ：{}一起玩。", "my qq is {}"]),
    ("wechat", lambda r: r.choice(["zhang_san88", "wxid_a1b2c3", "lisi-2020", "coolcat99"]),
     ["我的微信号是{}，备注来意。", "WeChat ID: {}"]),
    ("medical_record", lambda r: r.choice(["ZY", "MZ", ""]) + str(r.randint(100000, 99999999)),
     ["患者病历号：{}，请带上。", "Medical record number {} is on file."]),
]

# Look-alikes that are not PII by our rules: each must be left alone.
NEGATIVES = [
    lambda r: f"身份证号{id18(r, valid=False)}校验位不对。",
    lambda r: f"Card {card(r, valid=False)} fails the Luhn check.",
    lambda r: f"会议定于{r.randint(2000, 2030)}年{r.randint(1, 12)}月{r.randint(1, 28)}日召开。",
    lambda r: f"Released on {r.randint(2000, 2030)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d} at 12:30:45.",
    lambda r: f"订单号：{r.randint(2020, 2025)}{r.randint(10**9, 10**10 - 1)}",
    lambda r: f"时间戳 {r.randint(1600000000000, 1800000000000)} 毫秒",
    lambda r: f"售价 ¥{r.randint(1000, 99999):,} 元，库存 {r.randint(10, 9999)} 件。",
    lambda r: f"The answer is {r.randint(10000, 99999999)} exactly.",
    lambda r: "Use std::vector<int> and a::b::c in C++.",
    lambda r: f"MAC 00:1A:2B:{r.randint(10, 99)}:4D:5E is not an IP.",
    lambda r: "The wechat application framework is popular.",
    lambda r: f"Python {r.randint(2, 3)}.{r.randint(0, 12)} and version v1.2.3.4 are out.",
    lambda r: f"{r.randint(100, 999)}人参加，比例为{r.randint(1, 99)}%。",
    # The right shape of a PII type, but nobody's, or not that type: context and the value decide.
    lambda r: f"子网掩码设为 255.255.{r.choice([0, 128, 192, 224, 240, 248, 252, 255])}.0，网关为默认值。",
    lambda r: f"打开浏览器，输入路由器的管理地址 192.168.{r.choice([0, 1])}.1 并登录。",
    lambda r: f"For example, 203.0.113.{r.randint(1, 254)} and 198.51.100.{r.randint(1, 254)} are for documentation.",
    lambda r: f"Upgrade to version {r.randint(1, 20)}.{r.randint(0, 30)}.{r.randint(0, 200)}.{r.randint(0, 99)} first.",
    lambda r: f"软件版本{r.randint(1, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)}已发布",
    lambda r: f"发票代码0{r.randint(10**10, 10**11 - 1)}，发票号码{r.randint(10**7, 10**8 - 1)}",
    lambda r: f"快递单号SF0{r.randint(10**10, 10**11 - 1)}，请查收。",
    lambda r: f"条形码 {ean13_luhn(r)} 的商品已售罄",
    lambda r: f"Product {ean13_luhn(r)} is out of stock.",
    lambda r: f"IMEI: 35{r.randint(10**11, 10**12 - 1)}{r.randint(0, 9)}",
    lambda r: "Test the loopback with ping ::1 or ping6 fe80::1%eth0 on your machine.",
    lambda r: f"Documentation prefix: 2001:db8::{r.randint(1, 0xffff):x}",
    lambda r: f"Call 1-800-555-01{r.randint(0, 99):02d} toll-free.",
    lambda r: f"`{r.choice(['john', 'jane.doe', 'user_1'])}@example.com` matches the regular expression.",
    lambda r: "s = a[::2] + b[::-1]; std::cout << s;",
]


def ean13_luhn(rng):
    """A Chinese product barcode (690-699) whose digits happen to pass the Luhn test too."""
    while True:
        body = "69" + "".join(str(rng.randint(0, 9)) for _ in range(10))
        code = body + str((10 - sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body)) % 10) % 10)
        if luhn_valid(code):
            return code


def build_set(seed=0, per_template=60):
    rng = random.Random(seed)
    texts, truth = [], []
    for kind, make, templates in PLANTED:
        for template in templates:
            for _ in range(per_template):
                value = make(rng)
                text = template.format(value)
                start = text.index(value)
                texts.append(text)
                truth.append([(start, start + len(value), kind)])
    for make in NEGATIVES:
        for _ in range(per_template):
            texts.append(make(rng))
            truth.append([])
    return texts, truth


def score(texts, truth):
    """Per type: (true positives, false positives, false negatives); exact span and type must match."""
    finder = PiiFinder()
    tp, fp, fn = Counter(), Counter(), Counter()
    for text, want in zip(texts, truth):
        got = {(m.start, m.end, m.type) for m in finder.find(text)}
        want = set(want)
        for item in got & want:
            tp[item[2]] += 1
        for item in got - want:
            fp[item[2]] += 1
        for item in want - got:
            fn[item[2]] += 1
    return tp, fp, fn


def test_recall_and_precision_per_type():
    texts, truth = build_set()
    tp, fp, fn = score(texts, truth)
    report = {}
    for kind in {k for k, _, _ in PLANTED}:
        recall = tp[kind] / (tp[kind] + fn[kind])
        precision = tp[kind] / (tp[kind] + fp[kind]) if tp[kind] + fp[kind] else 0.0
        report[kind] = (round(recall, 3), round(precision, 3))
    bad = {k: v for k, v in report.items() if v[0] < 0.99 or v[1] < 0.98}
    assert not bad, f"recall/precision below target: {bad}; all: {report}"


def test_checksums():
    rng = random.Random(1)
    assert id18_valid("11010519491231002X")  # the standard's own example
    assert not id18_valid("110105194912310021")
    assert not id18_valid("110105194902300028")  # 30 February
    assert all(id18_valid(id18(rng)) for _ in range(200))
    assert not any(id18_valid(id18(rng, valid=False)) for _ in range(200))
    assert id15_valid("110105491231002") and not id15_valid("990105491231002")
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


def test_mask_keeps_the_sentence_and_counts_types():
    step = PiiStep()
    ex = Example.single("我的手机号是13812345678，邮箱 zhang@qq.com", "好的，身份证 11010519491231002X 已登记。")
    out = step(ex)
    assert out.instruction == "我的手机号是<PHONE>，邮箱 <EMAIL>"
    assert out.output == "好的，身份证 <ID_CARD> 已登记。"
    assert step.stats.counts == Counter({"mobile": 1, "email": 1, "id_card": 1})
    assert step.stats.changed == 1


def test_invalid_checksum_is_counted_not_masked():
    step = PiiStep()
    out = step(Example.single("身份证 110105194912310021", "ok"))
    assert out.instruction == "身份证 110105194912310021"
    assert step.stats.counts["invalid:id_card"] == 1


def test_drop_action_per_type_and_custom_placeholder():
    step = PiiStep(PiiStep.Options(step="pii", actions={"id_card": "drop"}, placeholders={"email": "[邮箱]"}))
    dropped = step(Example.single("身份证 11010519491231002X", "ok"))
    assert dropped.reason == "id_card"
    assert "11010519491231002X" not in str(dropped.detail)  # the reason never repeats the PII
    kept = step(Example.single("mail li.si@163.com", "ok"))
    assert kept.instruction == "mail [邮箱]"


def test_fields_limit_where_it_looks():
    step = PiiStep(PiiStep.Options(step="pii", fields=["output"]))
    out = step(Example.single("call 13812345678", "call 13812345678"))
    assert out.instruction == "call 13812345678" and out.output == "call <PHONE>"


def test_context_types_need_their_context():
    finder = PiiFinder()
    assert not finder.find("编号 E12345678 的货物")            # a passport-shaped code without 护照
    assert [m.type for m in finder.find("护照号 E12345678")] == ["passport"]
    assert not finder.find("there are 12345678 stars")       # a QQ-shaped number without QQ


@pytest.mark.parametrize("bad", ["", "\x00\x01", "1" * 5000, "@" * 300, ":" * 300, "护照" * 200])
def test_odd_input_does_not_crash(bad):
    PiiFinder().find(bad)


def _find_everywhere(text: str) -> list[tuple[int, int, str, str]]:
    """Every pattern over the whole text, no gates or windows, and phonenumbers on every phone-like
    match of the whole text; overlaps resolved as PiiFinder does."""
    view = pii_find.ascii_view(text)
    found = []
    for kind, pattern, judge in PiiFinder().patterns:
        for m in pattern.finditer(view):
            verdict = "pii" if judge is None else judge(m, view)
            if verdict not in (None, "invalid"):
                found.append(pii_find.PiiMatch(m.start("v"), m.end("v"), kind, text[m.start("v"):m.end("v")], verdict))
    hints = [*pii_find._PHONE_HINT.finditer(view), *pii_find._DOTTED_PHONE.finditer(view)]
    found += pii_find._phones(view, text, hints)
    taken = []
    for f in sorted(found, key=lambda f: (pii_find._PRIORITY[f.type], f.start)):
        if all(f.end <= t.start or f.start >= t.end for t in taken):
            taken.append(f)
    return sorted((f.start, f.end, f.type, f.verdict) for f in taken)


def test_gates_and_number_windows_find_what_every_pattern_finds():
    """`examine` runs the number patterns only inside digit stretches, phonenumbers only on stretches
    its hint finds, and the others behind cheap tests; on planted PII glued together with noise it must
    find exactly what running everything finds."""
    rng = random.Random(7)
    texts, _ = build_set(seed=3, per_template=4)
    glue = ["", " ", "，", "X", "-", "(", ")", "+", "1", "86", "abc", "\n", "：", ":", "..", "@", "+1 ", "５"]
    finder = PiiFinder()
    for _ in range(1500):
        text = "".join(rng.choice(texts) if rng.random() < 0.5 else rng.choice(glue) for _ in range(rng.randint(1, 5)))
        got = [(m.start, m.end, m.type, m.verdict) for m in finder.examine(text)]
        assert got == _find_everywhere(text), text
        if got:
            assert finder.may_contain(text)


def test_record_without_text_passes():
    assert PiiStep()(Example.single("", "")).output == ""

"""What `pii` decides about one candidate: is this value personal information of its type, and how sure?

`pii_find` finds candidates by their shape; the functions here judge each one by its checksum (ID
numbers, cards), by what the value is (a documentation or private address, a toll-free number, an
`example.com` mailbox) and by the words right before it (an invoice code, a courier number, a
version). A judgement is one of

    PII       personal information of that type: masked (or the record dropped)
    TEXTBOOK  the right type but nobody's: documentation, reserved and private addresses in a how-to,
              well-known public resolvers, toll-free numbers, placeholder mailboxes. Kept as it is.
    CODE      not that type at all: context says invoice, courier, order, barcode, version, ... Kept.
    UNSURE    might be someone's, might be a sample (a private address with no technical words around
              it, a mailbox at a generic placeholder domain). Kept and flagged for review.
    "invalid" the right shape, issuer or region, but the checksum fails: left alone, counted as
              `invalid:<type>`.
    None      not a candidate after all (no such issuer, date or area code).
"""

from __future__ import annotations

import functools
import ipaddress
import re

import ahocorasick_rs
import regex

PII, TEXTBOOK, CODE, UNSURE = "pii", "textbook", "code", "unsure"

# Province-level codes that start a resident ID (GB/T 2260).
_PROVINCES = {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53,
              54, 61, 62, 63, 64, 65, 71, 81, 82, 83, 91}
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def id18_shape_ok(s: str) -> bool:
    """Region and birth date of an 18-character ID are plausible (the check character aside)."""
    return (len(s) == 18 and s[:17].isdigit() and int(s[:2]) in _PROVINCES and 1900 <= int(s[6:10]) <= 2099
            and _date_ok(int(s[6:10]), int(s[10:12]), int(s[12:14])))


def id18_valid(s: str) -> bool:
    """GB 11643-1999: region, birth date, and the ISO 7064 MOD 11-2 check character."""
    if not id18_shape_ok(s):
        return False
    total = sum(int(d) * w for d, w in zip(s[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == s[17].upper()


def id15_valid(s: str) -> bool:
    """Old 15-digit IDs (before 1999) have no check digit: region and YYMMDD birth date must be valid."""
    return len(s) == 15 and s.isdigit() and int(s[:2]) in _PROVINCES and _date_ok(1900 + int(s[6:8]),
                                                                                    int(s[8:10]), int(s[10:12]))


def _date_ok(year: int, month: int, day: int) -> bool:
    if not 1 <= month <= 12 or day < 1 or day > _DAYS[month - 1]:
        return False
    return not (month == 2 and day == 29 and not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)))


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def ean13_valid(d: str) -> bool:
    """GS1 check digit (weights 1, 3): a 13-digit product barcode."""
    if len(d) != 13:
        return False
    return (10 - sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(d[:12])) % 10) % 10 == int(d[12])


def card_verdict(d: str, card_words: bool) -> str | None:
    """Is digit string `d` a payment card number? PII, or "invalid" (right issuer and length, wrong Luhn),
    or None (no card has this issuer prefix and length).

    By length: 16-19 digits for Visa, Mastercard, UnionPay, Discover, JCB, Maestro, Mir (4, 5, 6, 2221-2720,
    2200-2204, 35, 36/38/39); 15 for American Express (34, 37) and JCB (1800, 2131), or UATP (1) next to a
    card word; 14 for Diners Club (300-305, 3095, 36, 38, 39); 12-13 for Maestro and old Visa only next to a
    card word (and a 13-digit one not a valid EAN-13 barcode). The prefixes keep order numbers and
    timestamps (20xx..., 1xxx...) out; the card word keeps out sums ("The result is: 4212883012996") and 69x
    EAN-13 barcodes (Chinese products) that pass Luhn by chance."""
    n = len(d)
    p2, p3, p4 = int(d[:2]), int(d[:3]), int(d[:4])
    if n >= 16:
        ok = n <= 19 and (d[0] in "456" or 2221 <= p4 <= 2720 or 2200 <= p4 <= 2204 or p2 in (35, 36, 38, 39))
    elif n == 15:
        ok = p2 in (34, 37) or p4 in (1800, 2131) or (d[0] == "1" and card_words)
    elif n == 14:
        ok = 300 <= p3 <= 305 or p4 == 3095 or p2 in (36, 38, 39)
    elif n == 13:
        ok = d[0] in "456" and card_words and not ean13_valid(d)
    else:
        ok = n == 12 and d[0] in "56" and card_words
    if not ok:
        return None
    return PII if luhn_valid(d) else "invalid"


@functools.cache
def _cn_fixed_line():
    from phonenumbers import PhoneMetadata  # imported on the first landline candidate, not at start-up

    return regex.compile(PhoneMetadata.metadata_for_region("CN").fixed_line.national_number_pattern)


def cn_area_code_ok(national: str) -> bool:
    """The area code of a mainland landline exists: libphonenumber's fixed-line pattern accepts the area
    code and the local number's first digit as the start of a number (a partial match), whatever the
    local number's length."""
    area = 2 if national[0] in "12" else 3
    return _cn_fixed_line().fullmatch(national[:area + 1], partial=True) is not None


# --- context: the words right before a value --------------------------------------------------------------

class Words:
    """A word list searched in one pass (a Rust Aho-Corasick automaton: Python's regex alternation of 90
    words is ~10x slower even on a 16-character window). A Latin word counts only where a word starts
    ("ver" is not found in "server", "ean" not in "mean") unless `boundary` is off. Texts are searched
    lower-cased."""

    def __init__(self, items, boundary: bool = True) -> None:
        self.items = tuple(items)
        self._latin = tuple(boundary and w[0].isascii() and w[0].isalpha() for w in self.items)
        self._automaton = ahocorasick_rs.AhoCorasick(list(self.items), implementation=ahocorasick_rs.Implementation.DFA)

    def _ends(self, low: str) -> list[int]:
        latin = self._latin
        return [end for i, start, end in self._automaton.find_matches_as_indexes(low, overlapping=True)
                if not (latin[i] and start and low[start - 1].isascii() and low[start - 1].isalpha())]

    def nearest(self, window: str) -> int:
        """How far from the end of `window` the nearest word ends (len(window) + 1 when there is none)."""
        ends = self._ends(window)
        return len(window) - max(ends) if ends else len(window) + 1

    def found(self, low: str) -> bool:
        matches = self._automaton.find_matches_as_indexes(low, overlapping=True)
        return bool(matches) and (not any(self._latin) or bool(self._ends(low)))


# A number right after one of these is a code of a thing, not a person's number.
CODE_WORDS = Words((
    "发票代码", "发票号码", "发票号", "发票", "快递单号", "快递号", "运单号", "运单", "物流单号", "单号", "订单号", "订单编号", "订单",
    "条形码", "条码", "商品码", "商品编码", "序列号", "流水号", "交易号", "批号", "批次号", "型号", "版本", "合同号", "合同编号",
    "编码", "工单", "车架号", "账单号", "票号", "券码", "兑换码", "激活码", "邮编", "邮政编码", "识别码", "统一社会信用代码",
    "税号", "注册号", "序号",
    "invoice", "tracking", "order", "barcode", "bar code", "ean", "upc", "isbn", "issn", "sku", "serial", "imei",
    "meid", "version", "release", "build", "ticket", "transaction", "batch", "lot no", "model", "part no",
    "product code", "waybill", "shipment", "parcel", "awb", "reference", "ref.", "ref:", "confirmation", "vin",
    "tax id", "iban"))
ID_WORDS = Words(("身份证", "身份号", "证件号", "公民身份", "id card", "id number", "id no", "identity", "身份"))
CARD_WORDS = Words(("卡号", "银行卡", "信用卡", "借记卡", "储蓄卡", "卡", "card", "visa", "mastercard", "amex",
                    "american express", "maestro", "diners", "jcb", "unionpay", "银联", "discover", "uatp"))
PHONE_WORDS = Words(("电话", "手机", "座机", "致电", "拨打", "联系", "热线", "phone", "tel", "call", "mobile", "cell", "fax",
                     "contact"))
# Letters glued to a number that still say what it is ("Tel13812345678"); other glued letters make a code
# ("SF058124009966", a courier number).
_GLUE_OK = ("tel", "phone", "mobile", "mob", "cell", "fax", "ph", "m", "t", "id", "no", "card", "qq", "call")


def sentence_before(text: str, start: int, width: int = 48) -> str:
    """The lower-cased start of the sentence that `start` is in, up to `width` characters."""
    window = text[max(0, start - width):start]
    cut = max(window.rfind(c) for c in "。！？!?\n")
    dot = window.rfind(". ")
    return window[max(cut, dot) + 1:].lower()


def before(text: str, start: int, width: int = 16) -> str:
    """The lower-cased text right before `start`, up to `width` characters, not past a line break."""
    window = text[max(0, start - width):start]
    nl = window.rfind("\n")
    return (window[nl + 1:] if nl >= 0 else window).lower()


def glued_code(text: str, start: int) -> bool:
    """Latin letters glued to the number's left that are not a label for it: "SF058124009966", "JD0012..."."""
    i = start
    while i > 0 and text[i - 1].isascii() and text[i - 1].isalpha():
        i -= 1
    return i < start and text[i:start].lower() not in _GLUE_OK


_OPERATORS = "=+-*/×÷^<>"


def operand(text: str, start: int, end: int) -> bool:
    """The number is a term of arithmetic: an operator between it and another number on either side
    ("84834150134 - 6778576 = -16666579378", "355909190063 - 746")."""
    i = start - 1
    while i >= 0 and text[i] == " ":
        i -= 1
    if i >= 0 and text[i] in _OPERATORS:
        while i >= 0 and (text[i] == " " or text[i] in _OPERATORS):
            i -= 1
        if i >= 0 and (text[i].isdigit() or text[i] == ")"):
            return True
    j = end
    while j < len(text) and text[j] == " ":
        j += 1
    if j < len(text) and text[j] in _OPERATORS:
        j += 1
        while j < len(text) and text[j] == " ":
            j += 1
        return j < len(text) and (text[j].isdigit() or text[j] == "(")
    return False


def number_is_code(text: str, start: int, own_words, end: int | None = None) -> bool:
    """A digit string is a code when letters are glued to it, when a code word is nearer than any word of
    its own type ("发票代码037980990742", "订单联系电话138..." is a phone: 电话 is nearer), or when it is a
    term of arithmetic (`end` given)."""
    if glued_code(text, start) or (end is not None and operand(text, start, end)):
        return True
    window = before(text, start)
    code = CODE_WORDS.nearest(window)
    return code <= len(window) and code < own_words.nearest(window)


# --- addresses -----------------------------------------------------------------------------------------------

_GLOBAL6 = ipaddress.IPv6Network("2000::/3")
_ULA6 = ipaddress.IPv6Network("fc00::/7")
# Public resolvers and test hosts every networking how-to names: a service's address, nobody's own.
WELL_KNOWN_IPS = {"8.8.8.8", "8.8.4.4", "1.1.1.1", "1.0.0.1", "9.9.9.9", "149.112.112.112", "208.67.222.222",
                  "208.67.220.220", "114.114.114.114", "114.114.115.115", "223.5.5.5", "223.6.6.6", "119.29.29.29",
                  "180.76.76.76", "4.2.2.2", "4.2.2.1", "64.6.64.6", "2001:4860:4860::8888", "2001:4860:4860::8844",
                  "2606:4700:4700::1111", "2606:4700:4700::1001"}
VERSION_WORDS = Words(("version", "ver", "v", "版本", "release", "build", "python", "java", "node", "firmware", "固件",
                       "kernel", "内核", "section", "章节", "第", "chapter", "§"))
# Words of a networking how-to anywhere in the text: an internal address there is an example, not a person's.
NET_WORDS = Words(("router", "路由", "gateway", "网关", "subnet", "子网", "netmask", "掩码", "dhcp", "dns", "lan", "局域网",
                   "内网", "localhost", "本机", "ping", "ipconfig", "ifconfig", "cidr", "vlan", "nat", "firewall", "防火墙",
                   "配置", "config", "setting", "设置", "default", "默认", "example", "例如", "e.g.", "比如", "示例", "服务器",
                   "server", "ssh", "port", "端口", "网段", "docker", "host", "主机", "network", "网络", "proxy", "代理",
                   "address", "地址", "interface", "网卡", "nginx", "curl", "http"))


def ipv4_verdict(value: str, text: str, start: int) -> str:
    """A dotted quad: a version or section number after such a word (code); a global unicast address (PII);
    a private one (10/8, 172.16/12, 192.168/16, 100.64/10) in a text with networking words (textbook), or
    without them (unsure); anything else (documentation, loopback, link-local, multicast, reserved,
    benchmarking, masks like 255.255.255.0) is textbook, and so is a well-known public resolver or a quad
    of single digits (1.2.3.4, 3.4.6.8). Octet ranges by hand: `ipaddress`'s properties cost ~10 us here."""
    window = before(text, start, 12)
    if VERSION_WORDS.nearest(window) <= 1:  # "version 3.4.6.8", "Python 3.4.6.8"; "第3.4.6.8节"
        return CODE
    if value in WELL_KNOWN_IPS or len(value) == 7:
        return TEXTBOOK
    a, b, c, _ = (int(x) for x in value.split("."))
    if a == 10 or (a == 172 and 16 <= b <= 31) or (a == 192 and b == 168) or (a == 100 and 64 <= b <= 127):
        return TEXTBOOK if NET_WORDS.found(text.lower()) else UNSURE
    if a in (0, 127) or a >= 224 or (a == 169 and b == 254) or (a == 198 and b in (18, 19)) \
            or (a, b, c) in ((192, 0, 0), (192, 0, 2), (198, 51, 100), (203, 0, 113)):
        return TEXTBOOK
    return PII


def ipv6_verdict(value: str, text: str) -> str:
    """Global unicast (2000::/3, less documentation and special-purpose blocks) is PII; unique-local
    (fc00::/7) is like a private IPv4 address; loopback, link-local, multicast, unspecified and unassigned
    space is nobody's."""
    addr = ipaddress.IPv6Address(value)
    if value.lower() in WELL_KNOWN_IPS:
        return TEXTBOOK
    if addr in _ULA6:
        return TEXTBOOK if NET_WORDS.found(text.lower()) else UNSURE
    if addr in _GLOBAL6 and not addr.is_private:
        return PII
    return TEXTBOOK


# --- mailboxes -----------------------------------------------------------------------------------------------

# RFC 2606 / 6761: names reserved for documentation and tests; nobody can own a mailbox there.
_RESERVED_TLDS = ("example", "test", "invalid", "localhost", "local")
_RESERVED_DOMAINS = ("example.com", "example.net", "example.org", "example.edu", "localhost")
# Real or not, these are what writers put in samples ("alice@email.com"): kept and flagged for review.
PLACEHOLDER_DOMAINS = {"email.com", "company.com", "mycompany.com", "yourcompany.com", "test.com", "sample.com",
                       "website.com", "yoursite.com", "site.com", "xyz.com", "acme.com", "foo.com", "bar.com",
                       "somewhere.com", "xxx.com"}
# First-person words that make even a placeholder mailbox someone's ("我的邮箱是 zhang.san@example.com").
PERSONAL_WORDS = re.compile(r"(?<![a-z])(?:my|me)(?![a-z])|我|本人")


def email_verdict(value: str, text: str, start: int) -> str:
    """A mailbox at a reserved or example domain, or a toy one ("a@d.co"), is textbook; at a generic
    placeholder domain ("alice@email.com") unsure; either is PII after a first-person word ("我的邮箱是
    zhang.san@example.com": the writer's stand-in for the speaker's own address)."""
    local, domain = value.rsplit("@", 1)
    domain = domain.lower()
    labels = domain.split(".")
    textbook = (domain in _RESERVED_DOMAINS or labels[-1] in _RESERVED_TLDS
                or any("example" in label or "domain" in label for label in labels[:-1])
                or (len(local) <= 2 and len(labels[-2]) <= 2))
    if not textbook and domain not in PLACEHOLDER_DOMAINS:
        return PII
    if PERSONAL_WORDS.search(sentence_before(text, start)):
        return PII
    return TEXTBOOK if textbook else UNSURE

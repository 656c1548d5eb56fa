"""`pii` precision and recall on data that other people wrote: not only the project's own planted set.

    python benchmarks/pii_vectors.py            # needs the bench extra: faker, python-stdnum (presidio optional)
    python benchmarks/pii_vectors.py --n 500    # values per generator (default 300)

Sources:
  presidio  the test cases of Presidio's recognizers (presidio-analyzer tests/test_*_recognizer.py: credit
            card, phone, IP, email), with the spans Presidio expects. Where tunesmith differs on purpose
            (a private or unassigned address kept as nobody's, a national number without a country) the
            row says why.
  faker     Faker zh_CN and en_US values of each type in sentences with and without a context word, and
            values that are not PII of any type (EAN-13 and ISBN-13 barcodes, private and documentation
            addresses, example.com mailboxes, dates, plain numbers) as decoys.
  stdnum    python-stdnum: its validators against ours on random and generated numbers (resident IDs, Luhn,
            EAN-13), and its valid organisation codes (USCC), IMEIs and ISBNs as decoys.

A find counts as right when it overlaps a true span of the same family (phones: mobile, landline and
phone; addresses: ipv4 and ipv6), so "+1-208-969-1413x14562" masked without its extension still counts.
"""

from __future__ import annotations

import argparse
import random
from collections import Counter

from tunesmith.prepare.steps.pii import PiiFinder, id18_valid, luhn_valid
from tunesmith.prepare.steps.pii_checks import ean13_valid

FAMILY = {"mobile": "phone", "landline": "phone", "phone": "phone", "ipv4": "ip", "ipv6": "ip"}

# Presidio's recognizer test cases: (text, [(start, end, family)] Presidio expects, why tunesmith differs).
PRESIDIO = [
    ("4012888888881881 4012-8888-8888-1881 4012 8888 8888 1881",
     [(0, 16, "bank_card"), (17, 36, "bank_card"), (37, 56, "bank_card")], ""),
    ("122000000000003", [(0, 15, "bank_card")], "UATP (1...) with no card word: tunesmith needs one"),
    ("my credit card: 122000000000003", [(16, 31, "bank_card")], ""),
    ("371449635398431", [(0, 15, "bank_card")], ""),
    ("5555555555554444", [(0, 16, "bank_card")], ""),
    ("5019717010103742", [(0, 16, "bank_card")], ""),
    ("30569309025904", [(0, 14, "bank_card")], ""),
    ("6011000400000000", [(0, 16, "bank_card")], ""),
    ("3528000700000000", [(0, 16, "bank_card")], ""),
    ("6759649826438453", [(0, 16, "bank_card")], ""),
    ("4111111111111111", [(0, 16, "bank_card")], ""),
    ("4917300800000000", [(0, 16, "bank_card")], ""),
    ("4484070000000000", [(0, 16, "bank_card")], ""),
    ("4012-8888-8888-1882", [], ""),
    ("my credit card number is 4012-8888-8888-1882", [], ""),
    ("36168002586008", [], ""),
    ("my credit card number is 36168002586008", [], ""),
    ("My US number is (415) 555-0132, and my international one is +1 415 555 0132",
     [(16, 30, "phone"), (60, 75, "phone")], ""),
    ("My Israeli number is 09-7625400", [(21, 31, "phone")],
     "a national number of a country other than China/NANP: without +972 tunesmith cannot tell"),
    ("_: (415)555-0132", [(3, 16, "phone")], ""),
    ("United States: (415)555-0132", [(15, 28, "phone")], ""),
    ("US: 415-555-0132", [(4, 16, "phone")], ""),
    ("_: +55 11 98456 5666", [(3, 20, "phone")], ""),
    ("Brazil: +55 11 98456 5666", [(8, 25, "phone")], ""),
    ("BR: +55 11 98456 5666", [(4, 21, "phone")], ""),
    ("microsoft.com 192.168.0.1", [(14, 25, "ip")], "a private address: kept and flagged (unsure:ipv4)"),
    ("my ip: 192.168.0", [], ""),
    ("microsoft.com 684D:1111:222:3333:4444:5555:6:77", [(14, 47, "ip")],
     "684d::/16 is unassigned (not 2000::/3): nobody's address, kept"),
    ("my ip: 684D:1111:222:3333:4444:5555:6:77", [(7, 40, "ip")], "unassigned space, kept"),
    ("684D:1111:222:3333:4444:5555:77", [], ""),
    ("2345:0425:2CA1:0000:0000:0567:5673:23b5", [(0, 39, "ip")], ""),
    ("2345:0425:2CA1::0567:5673:23b5", [(0, 30, "ip")], ""),
    ("Use local ipv6 ::", [(15, 17, "ip")], "the unspecified address: kept (textbook)"),
    ("info@presidio.site", [(0, 18, "email")], ""),
    ("my email address is info@presidio.site", [(20, 38, "email")], ""),
    ("try one of these emails: info@presidio.site or anotherinfo@presidio.site",
     [(25, 43, "email"), (47, 72, "email")], ""),
    ("my email is info@presidio.", [], ""),
]


def score(samples, finder: PiiFinder):
    """Per family: true positives, false positives, false negatives (overlap of the same family)."""
    tp, fp, fn = Counter(), Counter(), Counter()
    misses, wrong = [], []
    for text, truth in samples:
        got = [(m.start, m.end, FAMILY.get(m.type, m.type)) for m in finder.find(text)]
        for s, e, fam in truth:
            if any(g[2] == fam and g[0] < e and s < g[1] for g in got):
                tp[fam] += 1
            else:
                fn[fam] += 1
                misses.append((fam, text))
        for s, e, fam in got:
            if not any(t[2] == fam and t[0] < e and s < t[1] for t in truth):
                fp[fam] += 1
                wrong.append((fam, text))
    return tp, fp, fn, misses, wrong


def table(title: str, tp, fp, fn) -> None:
    print(f"\n{title}")
    print(f"  {'family':<12} {'true':>6} {'found':>6} {'right':>6} {'precision':>10} {'recall':>8}")
    for fam in sorted(set(tp) | set(fp) | set(fn)):
        found, true = tp[fam] + fp[fam], tp[fam] + fn[fam]
        p = f"{tp[fam] / found:.3f}" if found else "-"
        r = f"{tp[fam] / true:.3f}" if true else "-"
        print(f"  {fam:<12} {true:>6} {found:>6} {tp[fam]:>6} {p:>10} {r:>8}")


def faker_samples(n: int, seed: int = 0):
    """(positives, decoys) from Faker zh_CN and en_US, each value in a bare and in a context sentence."""
    from faker import Faker

    zh, en = Faker("zh_CN"), Faker("en_US")
    Faker.seed(seed)
    cards = ["amex", "diners", "discover", "jcb15", "jcb16", "maestro", "mastercard", "visa16", "visa19"]
    kinds = [  # (family, value, bare sentence, context sentence)
        ("id_card", zh.ssn, "请核对 {} 是否正确。", "我的身份证号码是{}。"),
        ("phone", zh.phone_number, "有事打 {} 就行。", "手机：{}"),
        ("bank_card", lambda: en.credit_card_number(card_type=random.choice(cards)), "Use {} for the order.",
         "My card number is {}."),
        ("email", zh.free_email, "发到 {} 即可。", "我的邮箱是 {}"),
        ("email", en.free_email, "Send it to {} today.", "my email: {}"),
        ("ip", zh.ipv4_public, "连接 {} 失败", "服务器 IP 是 {}"),
        ("phone", en.phone_number, "Call {} after five.", "My phone number is {}."),
    ]
    random.seed(seed)
    positives, invalid_phones = [], []
    for fam, make, bare, ctx in kinds:
        for i in range(n):
            value = make()
            template = bare if i % 2 else ctx
            text = template.format(value)
            start = text.index(value)
            sample = (text, [(start, start + len(value), fam)])
            # Faker's en_US numbers draw area codes at random: ~40% are no one's (555, 0xx, 1xx...).
            (positives if fam != "phone" or _valid_phone(value) else invalid_phones).append(sample)
    decoys = [(f"条形码 {zh.ean13()} 的商品", []) for _ in range(n)] + \
             [(f"ISBN {en.isbn13()} is the new edition", []) for _ in range(n)] + \
             [(f"Set the gateway to {en.ipv4_private()} in the router settings.", []) for _ in range(n)] + \
             [(f"`{en.email()}` is a sample address for the form.", []) for _ in range(n)] + \
             [(f"订单日期 {zh.date()}，数量 {zh.pyint(1000, 99999999)}", []) for _ in range(n)] + \
             [(f"Version {en.numerify('#.#.##.#')} fixes it.", []) for _ in range(n)]
    return positives, decoys, invalid_phones


def _valid_phone(value: str) -> bool:
    import phonenumbers

    region = "CN" if value[0] == "1" and len(value) == 11 else "US"  # zh_CN: 11-digit mobiles
    return any(True for _ in phonenumbers.PhoneNumberMatcher(value, region))


def stdnum_checks(n: int, seed: int = 0) -> None:
    """Our checksums against python-stdnum's, and stdnum's valid non-personal numbers as decoys."""
    from stdnum import ean, imei, isbn, luhn
    from stdnum.cn import ric, uscc

    rng = random.Random(seed)
    agree = Counter()
    for _ in range(n * 20):
        region = rng.choice(["110101", "310104", "440305", "510107", "330106", "420102", "610113", "210202"])
        born = f"{rng.randint(1940, 2010)}{rng.randint(1, 12):02d}{rng.randint(1, 31):02d}"
        body = region + born + f"{rng.randint(0, 999):03d}"
        value = body + rng.choice("0123456789X")
        try:
            ric.get_birth_date(value)
            stdnum_ok = value[-1] == ric.calc_check_digit(value)
        except ValueError:
            stdnum_ok = False
        agree["id18 check character and date", id18_valid(value) == stdnum_ok] += 1
        # stdnum also looks the county up in its own table of when each county code was in use: stricter.
        agree["id18 (stdnum: + county table)", id18_valid(value) == ric.is_valid(value)] += 1
        digits = "".join(str(rng.randint(0, 9)) for _ in range(rng.choice([13, 15, 16, 19])))
        agree["luhn", luhn_valid(digits) == luhn.is_valid(digits)] += 1
        code = "".join(str(rng.randint(0, 9)) for _ in range(13))
        agree["ean13", ean13_valid(code) == ean.is_valid(code)] += 1
    print("\npython-stdnum validators against ours (agreement on random numbers)")
    for name in dict.fromkeys(k for k, _ in agree):
        total = agree[name, True] + agree[name, False]
        print(f"  {name:<32} {agree[name, True]:>6} of {total} agree")

    finder = PiiFinder()
    decoys = Counter()
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    for _ in range(n):
        body = "91" + rng.choice(["110000", "310000", "440300"]) + "".join(rng.choice(chars) for _ in range(9))
        decoys["uscc (organisation tax code)", bool(finder.find(f"统一社会信用代码：{body + uscc.calc_check_digit(body)}"))] += 1
        decoys["uscc, no context word", bool(finder.find(f"代码 {body + uscc.calc_check_digit(body)} 已登记"))] += 1
        tac = rng.choice(["35", "86", "01", "49"]) + "".join(str(rng.randint(0, 9)) for _ in range(12))
        decoys["imei", bool(finder.find(f"IMEI {tac + luhn.calc_check_digit(tac)}"))] += 1
        decoys["imei, no context word", bool(finder.find(f"序号 {tac + luhn.calc_check_digit(tac)}"))] += 1
        stem = "978" + "".join(str(rng.randint(0, 9)) for _ in range(9))
        decoys["isbn-13", bool(finder.find(f"ISBN {isbn.format(stem + ean.calc_check_digit(stem))}"))] += 1
        decoys["isbn-13 bare", bool(finder.find(f"书号 {stem + ean.calc_check_digit(stem)}"))] += 1
        assert imei.is_valid(tac + luhn.calc_check_digit(tac))
    print("\npython-stdnum valid numbers that are not personal (decoys): how many got masked")
    for name in dict.fromkeys(k for k, _ in decoys):
        print(f"  {name:<32} {decoys[name, True]:>5} of {decoys[name, True] + decoys[name, False]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300, help="values per generator and type (default 300)")
    args = parser.parse_args()
    finder = PiiFinder()

    tp, fp, fn, misses, wrong = score([(t, s) for t, s, _ in PRESIDIO], finder)
    table("Presidio recognizer test cases (spans as Presidio expects them)", tp, fp, fn)
    why = {t: w for t, _, w in PRESIDIO if w}
    for fam, text in misses + wrong:
        print(f"  differs: {fam:<9} {text!r}: {why.get(text, 'NOT EXPLAINED')}")

    try:
        positives, decoys, invalid_phones = faker_samples(args.n)
    except ImportError as e:
        print(f"\nfaker not installed ({e}); pip install -e .[bench]")
    else:
        tp, fp, fn, misses, wrong = score(positives + decoys, finder)
        title = f"Faker zh_CN/en_US: {len(positives):,} values (half with a context word), {len(decoys):,} decoys"
        table(title, tp, fp, fn)
        seen = Counter()
        for fam, text in misses + wrong:
            seen[fam, (fam, text) in misses] += 1
            if seen[fam, (fam, text) in misses] <= 4:
                print(f"  e.g. {'missed' if (fam, text) in misses else 'wrong '} {fam:<9} {text!r}")
        print(f"  decoys masked: {sum(bool(finder.find(t)) for t, _ in decoys)} of {len(decoys)}")
        masked = sum(bool(finder.find(t)) for t, _ in invalid_phones)
        print(f"  Faker phone numbers that libphonenumber calls invalid (left out above): {len(invalid_phones)}, "
              f"of which masked {masked}")
    try:
        stdnum_checks(args.n)
    except ImportError as e:
        print(f"\npython-stdnum not installed ({e}); pip install -e .[bench]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

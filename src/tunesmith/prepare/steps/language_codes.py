"""The languages the `language` step can name: fastText lid.176's labels, with their English names.

A `keep` list is checked against these codes (plus `mixed` and `unknown`), so `keep: [chinese]` is
refused with "did you mean 'zh'?" instead of silently dropping every record. The names serve only
that hint; tests check that the codes are exactly the model's labels.
"""

from __future__ import annotations

import difflib

_TABLE = """
    af:Afrikaans, als:Tosk Albanian, am:Amharic, an:Aragonese, ar:Arabic, arz:Egyptian Arabic, as:Assamese,
    ast:Asturian, av:Avaric, az:Azerbaijani, azb:South Azerbaijani, ba:Bashkir, bar:Bavarian, bcl:Central
    Bikol, be:Belarusian, bg:Bulgarian, bh:Bihari, bn:Bengali, bo:Tibetan, bpy:Bishnupriya, br:Breton,
    bs:Bosnian, bxr:Russia Buriat, ca:Catalan, cbk:Chavacano, ce:Chechen, ceb:Cebuano, ckb:Central Kurdish, co:Corsican,
    cs:Czech, cv:Chuvash, cy:Welsh, da:Danish, de:German, diq:Dimli, dsb:Lower Sorbian, dty:Dotyali,
    dv:Divehi, el:Greek, eml:Emiliano-Romagnolo, en:English, eo:Esperanto, es:Spanish, et:Estonian,
    eu:Basque, fa:Persian, fi:Finnish, fr:French, frr:Northern Frisian, fy:Western Frisian, ga:Irish,
    gd:Scottish Gaelic, gl:Galician, gn:Guarani, gom:Goan Konkani, gu:Gujarati, gv:Manx, he:Hebrew,
    hi:Hindi, hif:Fiji Hindi, hr:Croatian, hsb:Upper Sorbian, ht:Haitian, hu:Hungarian, hy:Armenian,
    ia:Interlingua, id:Indonesian, ie:Interlingue, ilo:Iloko, io:Ido, is:Icelandic, it:Italian, ja:Japanese,
    jbo:Lojban, jv:Javanese, ka:Georgian, kk:Kazakh, km:Khmer, kn:Kannada, ko:Korean, krc:Karachay-Balkar,
    ku:Kurdish, kv:Komi, kw:Cornish, ky:Kirghiz, la:Latin, lb:Luxembourgish, lez:Lezghian, li:Limburgan,
    lmo:Lombard, lo:Lao, lrc:Northern Luri, lt:Lithuanian, lv:Latvian, mai:Maithili, mg:Malagasy,
    mhr:Eastern Mari, min:Minangkabau, mk:Macedonian, ml:Malayalam, mn:Mongolian, mr:Marathi, mrj:Western
    Mari, ms:Malay, mt:Maltese, mwl:Mirandese, my:Burmese, myv:Erzya, mzn:Mazanderani, nah:Nahuatl,
    nap:Neapolitan, nds:Low German, ne:Nepali, new:Nepal Bhasa, nl:Dutch, nn:Norwegian Nynorsk,
    no:Norwegian, oc:Occitan, or:Oriya, os:Ossetian, pa:Panjabi, pam:Pampanga, pfl:Pfaelzisch, pl:Polish,
    pms:Piemontese, pnb:Western Panjabi, ps:Pushto, pt:Portuguese, qu:Quechua, rm:Romansh, ro:Romanian,
    ru:Russian, rue:Rusyn, sa:Sanskrit, sah:Yakut, sc:Sardinian, scn:Sicilian, sco:Scots, sd:Sindhi,
    sh:Serbo-Croatian, si:Sinhala, sk:Slovak, sl:Slovenian, so:Somali, sq:Albanian, sr:Serbian,
    su:Sundanese, sv:Swedish, sw:Swahili, ta:Tamil, te:Telugu, tg:Tajik, th:Thai, tk:Turkmen, tl:Tagalog,
    tr:Turkish, tt:Tatar, tyv:Tuvinian, ug:Uighur, uk:Ukrainian, ur:Urdu, uz:Uzbek, vec:Venetian, vep:Veps,
    vi:Vietnamese, vls:Vlaams, vo:Volapük, wa:Walloon, war:Waray, wuu:Wu Chinese, xal:Kalmyk,
    xmf:Mingrelian, yi:Yiddish, yo:Yoruba, yue:Yue Chinese, zh:Chinese
"""
LANGUAGES: dict[str, str] = dict(" ".join(item.split()).split(":") for item in _TABLE.split(",") if item.strip())
# What people write instead of a code: a name ("chinese", "Mandarin"), a country code, an old code.
_NAMES = {name.lower(): code for code, name in LANGUAGES.items()}
_NAMES.update({"mandarin": "zh", "cantonese": "yue", "farsi": "fa", "filipino": "tl", "jp": "ja", "cn": "zh",
               "kr": "ko", "cz": "cs", "gr": "el", "dk": "da", "se": "sv", "ua": "uk", "iw": "he", "in": "id"})


def suggest(code: str, extra: tuple[str, ...] = ()) -> str | None:
    """The code that someone who wrote `code` most likely meant ("chinese", "zh-CN", "jp" -> zh, zh, ja)."""
    low = code.strip().lower()
    base = low.replace("_", "-").split("-")[0]
    for key in (low, base):
        if key in LANGUAGES or key in extra:
            return key
        if key in _NAMES:
            return _NAMES[key]
    for pool, cutoff in ((list(extra), 0.6), (list(LANGUAGES), 0.6)):
        close = difflib.get_close_matches(low, pool, n=1, cutoff=cutoff)
        if close:
            return close[0]
    named = difflib.get_close_matches(low, list(_NAMES), n=1, cutoff=0.75)
    return _NAMES[named[0]] if named else None

"""`tunesmith data convert IN OUT --to FORMAT`: change a data file's record format or file type."""

from __future__ import annotations

import argparse

EPILOG = """\
examples:
  tunesmith data convert alpaca_data.json train.jsonl --to sharegpt
  tunesmith data convert chat.jsonl chat.parquet                     # messages layout in Parquet
  tunesmith data convert train_sft.csv train.jsonl --to alpaca       # FlagAlpha's "<s>Human: ..." text column
  tunesmith data convert qa.csv qa.jsonl --columns instruction=question,output=answer
  tunesmith data convert gbk.jsonl utf8.jsonl --encoding gb18030 --skip-bad
  tunesmith data convert dpo_en_demo.json pairs.jsonl --to trl-chat   # preference pairs

Record formats: alpaca {instruction, input, output, system?, history?}, sharegpt {conversations:
[{from, value}]}, messages {messages: [{role, content}]}, conversation "<s>Human: ...\\n</s><s>Assistant:
...\\n</s>" (one conversation per record; in .txt files each starts on a line beginning with <s>), csv
(alpaca columns). Preference pairs (one prompt, a chosen and a rejected answer): alpaca-pair
{instruction, input?, chosen, rejected}, sharegpt-pair {conversations, chosen: {from, value}, rejected}
(LLaMA-Factory), messages-pair {messages, chosen: {role, content}, rejected}, trl {prompt, chosen,
rejected: text}, trl-chat (the same as message lists), trl-implicit {chosen, rejected: whole
conversations}; a pair written --to alpaca/sharegpt/messages (or .csv/.parquet) takes that format's pair
layout. File types come from the suffix: .json .jsonl .csv .tsv .parquet .txt.
Formats without an `input` field carry Alpaca's input inside the user text (instruction + newline + input).
Bad records stop the conversion at the first one (file:line and why); with --skip-bad the rest is
converted and each bad record goes, with its reason, to OUT_STEM.rejects.jsonl.
"""


def register(data_sub) -> None:
    from tunesmith.records.formats import FORMATS, WRITE_FORMATS

    p = data_sub.add_parser("convert", help="convert data between formats (alpaca, sharegpt, messages, ...)",
                            description="Convert a data file to another record format or file type.",
                            epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="data file (.json, .jsonl, .csv, .tsv, .parquet, .txt)")
    p.add_argument("output", help="file to write; its suffix chooses the file type")
    p.add_argument("--to", choices=WRITE_FORMATS, help="output record format (default: from the output suffix "
                                                       "for .csv/.parquet/.txt, else the input's format)")
    p.add_argument("--format", default="auto", choices=("auto",) + FORMATS, help="input record format (default: detect)")
    p.add_argument("--columns", help="rename input fields: instruction=question,output=answer")
    p.add_argument("--encoding", default="utf-8", help="input text encoding (e.g. gb18030 for GBK files)")
    p.add_argument("--skip-bad", action="store_true", help="convert the readable records; write bad ones to a rejects file")
    p.add_argument("--rejects", help="rejects file (default: OUTPUT_STEM.rejects.jsonl next to the output)")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    from tunesmith.records.formats.convert import convert, parse_columns

    result = convert(args.input, args.output, to=args.to, format=args.format, columns=parse_columns(args.columns),
                     skip_bad=args.skip_bad, encoding=args.encoding, rejects=args.rejects,
                     progress=sys.stderr.isatty())
    print(f"{args.output}: {result.written} records ({result.source_format} -> {result.to})")
    if result.rejected:
        print(f"{result.rejects_path}: {len(result.rejected)} bad records, each with file:line and the reason; "
              f"first: {result.rejected[0].where()}: {result.rejected[0].reason}")
    return 0

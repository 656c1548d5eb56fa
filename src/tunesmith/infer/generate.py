"""Token streaming on top of `model.generate`, shared by chat, generate and serve."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Iterator

import torch


@dataclass
class Sampling:
    max_new_tokens: int = 256
    temperature: float = 0.0          # 0 means greedy
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0

    def generate_kwargs(self) -> dict:
        kw: dict = {"max_new_tokens": self.max_new_tokens, "repetition_penalty": self.repetition_penalty}
        if self.temperature > 0:
            kw.update(do_sample=True, temperature=self.temperature, top_p=self.top_p, top_k=self.top_k or None)
        else:
            kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        return kw


def stop_ids(model, tokenizer) -> list[int]:
    """Every id that ends an answer: the tokenizer's eos and whatever the generation config names."""
    ids = set()
    for value in (tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None)):
        if isinstance(value, int):
            ids.add(value)
        elif value:
            ids.update(value)
    return sorted(ids)


def stream(model, tokenizer, prompt_ids: list[int], sampling: Sampling) -> Iterator[str]:
    """Yield the answer's text piece by piece as it is generated (special tokens left out)."""
    from transformers import TextIteratorStreamer

    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    inputs = torch.tensor([prompt_ids], device=model.device)
    kwargs = dict(input_ids=inputs, attention_mask=torch.ones_like(inputs), streamer=streamer,
                  eos_token_id=stop_ids(model, tokenizer), pad_token_id=tokenizer.pad_token_id,
                  **sampling.generate_kwargs())
    errors: list[BaseException] = []

    def run():
        try:
            with torch.inference_mode():
                model.generate(**kwargs)
        except BaseException as e:  # surfaced to the caller below
            errors.append(e)
            streamer.end()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield from streamer
    thread.join()
    if errors:
        raise errors[0]

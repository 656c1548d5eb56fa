"""The run's chat template as Jinja, so that a merged folder or a GGUF file prompts the model the way
it was trained: vLLM, llama.cpp, Ollama and `apply_chat_template` read the Jinja string, and a model
exported with the base tokenizer's template (or none) would be prompted in a format it never saw
(PEERS.md #3).

Each string mirrors one class of tunesmith.text.templates piece for piece; the tests check that
`apply_chat_template(..., add_generation_prompt=True)` gives the same ids as `render_prompt`.
The `auto` template is the tokenizer's own Jinja already.
"""

from __future__ import annotations

from tunesmith.text.templates import ALPACA_PREAMBLE, B_INST, B_SYS, E_INST, E_SYS

_SPLIT_SYSTEM = (
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{%- set system = messages[0]['content'] -%}{%- set turns = messages[1:] -%}"
    "{%- else -%}{%- set system = none -%}{%- set turns = messages -%}{%- endif -%}"
)


def _q(text: str) -> str:
    """A Python string as a Jinja string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def _prompt_after(user_block: str) -> str:
    return "{%- if not loop.last or add_generation_prompt -%}" + user_block + "{%- endif -%}"


def alpaca(tokenizer) -> str:
    adds_bos = tokenizer.bos_token_id is not None and tokenizer("a").input_ids[:1] == [tokenizer.bos_token_id]
    return (
        _SPLIT_SYSTEM
        + ("{{- bos_token -}}" if adds_bos else "")
        + "{%- for m in turns -%}"
        "{%- if m['role'] == 'user' -%}"
        "{%- if loop.first -%}"
        "{%- set preamble = system if system is not none else " + _q(ALPACA_PREAMBLE) + " -%}"
        "{%- if preamble -%}{{- preamble + '\\n\\n' -}}{%- endif -%}"
        "{%- endif -%}"
        "{{- '### Instruction:\\n' + m['content'] + '\\n\\n' -}}"
        + _prompt_after("{{- '### Response:\\n' -}}")
        + "{%- else -%}{{- m['content'] + eos_token -}}{%- endif -%}"
        "{%- endfor -%}"
    )


def llama2(tokenizer) -> str:
    return (
        _SPLIT_SYSTEM
        + "{%- for m in turns -%}"
        "{%- if m['role'] == 'user' -%}"
        "{%- set content = m['content'] -%}"
        "{%- if loop.first and system is not none -%}{%- set content = " + _q(B_SYS) + " + system + " + _q(E_SYS)
        + " + content -%}{%- endif -%}"
        "{{- bos_token + " + _q(B_INST + " ") + " + content | trim + " + _q(" " + E_INST) + " -}}"
        "{%- else -%}{{- ' ' + m['content'] | trim + ' ' + eos_token -}}{%- endif -%}"
        "{%- endfor -%}"
    )


def llama2_zh(tokenizer) -> str:
    return (
        _SPLIT_SYSTEM
        + "{%- for m in turns -%}"
        "{%- if m['role'] == 'user' -%}"
        "{%- if loop.first and system is not none -%}"
        "{{- bos_token + 'System: ' + system + '\\n' + eos_token -}}{%- endif -%}"
        "{{- bos_token + 'Human: ' + m['content'] + '\\n' + eos_token -}}"
        + _prompt_after("{{- bos_token + 'Assistant:' -}}")
        + "{%- else -%}{{- ' ' + m['content'] + '\\n' + eos_token -}}{%- endif -%}"
        "{%- endfor -%}"
    )


def chatml(tokenizer) -> str:
    return (
        _SPLIT_SYSTEM
        + "{%- for m in turns -%}"
        "{%- if m['role'] == 'user' -%}"
        "{%- if loop.first and system is not none -%}"
        "{{- '<|im_start|>system\\n' + system + '<|im_end|>\\n' -}}{%- endif -%}"
        "{%- if not loop.first -%}{{- '\\n' -}}{%- endif -%}"
        "{{- '<|im_start|>user\\n' + m['content'] + '<|im_end|>\\n' -}}"
        + _prompt_after("{{- '<|im_start|>assistant\\n' -}}")
        + "{%- else -%}{{- m['content'] + '<|im_end|>' -}}{%- endif -%}"
        "{%- endfor -%}"
    )


BUILDERS = {"alpaca": alpaca, "llama2": llama2, "llama2-zh": llama2_zh, "chatml": chatml}


def jinja_for(template_name: str, tokenizer) -> str | None:
    """The Jinja chat template matching tunesmith's template `template_name` for `tokenizer`."""
    if template_name == "auto":
        return getattr(tokenizer, "chat_template", None)
    return BUILDERS[template_name](tokenizer)

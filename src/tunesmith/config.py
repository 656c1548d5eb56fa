"""Typed configuration: YAML files, dotted command-line overrides, and commented YAML back out.

Every command reads its settings through `load(SchemaClass, path, overrides)`:

    tunesmith train run.yaml train.lr=2e-4 method.r=16

Unknown keys are refused with a "did you mean" hint, wrong types name the key and the value, and
`--print-config` shows the resolved settings as YAML whose comments are the field descriptions.
The schema classes of each command live next to the code that uses them; the machinery is here.
"""

from __future__ import annotations

import difflib
import re
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tunesmith.errors import ConfigError


class Section(BaseModel):
    """Base of every config block: unknown keys are errors, assignments are validated."""
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------

def load(schema: type[BaseModel], path: str | Path | None = None, overrides: list[str] | tuple = ()) -> Any:
    """Read `path` (YAML) if given, apply `key.sub=value` overrides, validate against `schema`."""
    data: dict = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        data = read_yaml(path)
    data = apply_overrides(data, overrides)
    return validate(schema, data, source)


OVERRIDE = re.compile(r"^[A-Za-z_][\w.-]*=")


def split_positionals(items: list[str]) -> tuple[str | None, list[str]]:
    """(config file, overrides) from a command's positionals, given in any order: `key=value` items are
    overrides unless a file of that name exists; the one other item is the config file."""
    files = [i for i in items if not OVERRIDE.match(i) or Path(i).is_file()]
    if len(files) > 1:
        raise ConfigError(f"more than one config file given: {', '.join(files)}",
                          "give one YAML file; settings from another go as key=value overrides")
    return (files[0] if files else None), [i for i in items if i not in files]


def read_yaml(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}", "check the path; `tunesmith <command> --help` shows an example")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{p}:{mark.line + 1}" if mark else str(p)
        raise ConfigError(f"{where}: not valid YAML ({getattr(e, 'problem', e)})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text", "save the config as UTF-8") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a mapping of keys, found {type(data).__name__}")
    return data


def apply_overrides(data: dict, overrides) -> dict:
    """`a.b=1` sets data['a']['b'] = 1; values are parsed as YAML (`true`, `2e-4`, `[q_proj, v_proj]`)."""
    data = dict(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override '{item}' is not key=value", "write it like train.lr=2e-4")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        # YAML 1.1 reads 2e-4 as a string; numbers are what people mean.
        if isinstance(value, str):
            try:
                value = float(value) if any(c in value.lower() for c in ".e") else value
            except ValueError:
                pass
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.get(part)
            child = dict(child) if isinstance(child, dict) else {}
            node[part] = child
            node = child
        node[parts[-1]] = value
    return data


def validate(schema: type[BaseModel], data: dict, source: str = "config") -> Any:
    try:
        return schema.model_validate(data)
    except ValidationError as e:
        raise _explain(e, schema, source) from None


def _explain(err: ValidationError, schema: type[BaseModel], source: str) -> ConfigError:
    """Turn pydantic's report into one line per problem, naming the dotted key."""
    lines = []
    hint = None
    for item in err.errors():
        raw = [str(p) for p in item["loc"]]
        loc, tags, _ = _walk(schema, raw)
        key = ".".join(loc)
        if item["type"] == "extra_forbidden":
            allowed = _keys_at(schema, raw[:-1])
            close = difflib.get_close_matches(loc[-1], allowed, n=1, cutoff=0.5)
            chosen = f" for {tags[-1][0]}={tags[-1][1]}" if tags else ""  # a key of another union member
            lines.append(f"unknown key '{key}'{chosen}"
                         + (f" (did you mean '{'.'.join(loc[:-1] + close)}'?)" if close else ""))
            if tags and not close and tags[-1][2]:
                owners = [tag for tag, member in tags[-1][2].items() if loc[-1] in member.model_fields]
                if owners:
                    lines[-1] += f" ('{loc[-1]}' is a key of {tags[-1][0]}={', '.join(owners)})"
            hint = hint or (f"keys allowed here{chosen}: {', '.join(allowed)}" if allowed else None)
        elif item["type"] == "union_tag_invalid":  # a discriminated union (method.name) given an unknown tag
            disc, tag = item["ctx"]["discriminator"].strip("'"), item["ctx"]["tag"]
            expected = [t.strip(" '") for t in item["ctx"]["expected_tags"].split(",")]
            close = difflib.get_close_matches(str(tag), expected, n=1)
            lines.append(f"'{key}.{disc}' = {tag!r}: not one of {', '.join(expected)}"
                         + (f" (did you mean '{close[0]}'?)" if close else ""))
        elif item["type"] == "missing":
            lines.append(f"missing key '{key}'")
        else:
            value = item.get("input")
            shown = repr(value) if not isinstance(value, dict) else "a mapping"
            lines.append(f"'{key}' = {shown}: {item['msg']}")
    return ConfigError(f"{source}: " + "; ".join(lines), hint or "`--print-config` shows every key with its default")


def _keys_at(schema: type[BaseModel], loc: list[str]) -> list[str]:
    model = _walk(schema, loc)[2]
    return list(model.model_fields) if model is not None else []


def error_key(schema: type[BaseModel], item: dict) -> str:
    """The dotted key a pydantic error is about, as a user writes it: without the member tags pydantic puts
    in a discriminated union's location (`method.prefix.r` -> `method.r`); an unknown tag is its key's."""
    loc, _, _ = _walk(schema, [str(p) for p in item["loc"] if not isinstance(p, int)])
    if item["type"] in ("union_tag_invalid", "union_tag_not_found"):
        loc.append(item["ctx"]["discriminator"].strip("'"))
    return ".".join(loc)


def _walk(schema: type[BaseModel], loc: list[str]) -> tuple[list[str], list[tuple[str, str, dict]], Any]:
    """(the location without union tags, the (discriminator key, tag, {tag: member}) chosen on the way,
    the model the location ends in or None)."""
    model: Any = schema
    parts: list[str] = []
    tags: list[tuple[str, str, dict]] = []
    members: dict = {}
    for part in loc:
        if part in members:  # pydantic names the member of a discriminated union by its tag
            tags.append((".".join(parts + [discriminator]), part, members))
            model, members = members[part], {}
            continue
        parts.append(part)
        info = getattr(model, "model_fields", {}).get(part) if model is not None else None
        model = _submodel(info.annotation) if info is not None else None
        members, discriminator = _tagged(info)
    return parts, tags, model


def _tagged(info) -> tuple[dict, str]:
    """({tag: member model}, discriminator) of a field that is a discriminated union, else ({}, "")."""
    discriminator = getattr(info, "discriminator", None)
    if not isinstance(discriminator, str):
        return {}, ""
    members = {}
    for member in typing.get_args(info.annotation):
        for tag in typing.get_args(member.model_fields[discriminator].annotation):
            members[tag] = member
    return members, discriminator


def _submodel(annotation) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _submodel(arg)
        if found:
            return found
    return None


# ---------------------------------------------------------------------------------------------
# Commented YAML out
# ---------------------------------------------------------------------------------------------

def to_yaml(cfg: BaseModel, comments: bool = True) -> str:
    """The resolved config as YAML; with `comments`, each key is preceded by its description."""
    return "\n".join(_yaml_lines(cfg, 0, comments)) + "\n"


def _yaml_lines(obj: BaseModel, indent: int, comments: bool) -> list[str]:
    pad = "  " * indent
    out = []
    for name, info in type(obj).model_fields.items():
        value = getattr(obj, name)
        if comments and info.description:
            out.extend(f"{pad}# {line}" for line in info.description.splitlines())
        if isinstance(value, BaseModel):
            out.append(f"{pad}{name}:")
            out.extend(_yaml_lines(value, indent + 1, comments))
        else:
            plain = _plain(value)
            flow = isinstance(plain, list) and all(not isinstance(v, (list, dict)) for v in plain)
            dumped = yaml.safe_dump({name: plain}, allow_unicode=True, sort_keys=False, width=100,
                                    default_flow_style=True if flow else False).rstrip("\n")
            if flow:
                dumped = dumped.strip("{}")
            out.extend(pad + line for line in dumped.splitlines())
    return out


def _plain(value):
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


# ---------------------------------------------------------------------------------------------
# The model block, shared by every command that loads a model
# ---------------------------------------------------------------------------------------------

DTYPE_ALIASES = {
    "auto": "auto", "fp32": "fp32", "float32": "fp32", "float": "fp32", "torch.float32": "fp32",
    "bf16": "bf16", "bfloat16": "bf16", "torch.bfloat16": "bf16",
    "fp16": "fp16", "float16": "fp16", "half": "fp16", "torch.float16": "fp16",
}


class ModelConfig(Section):
    path: str = Field("smollm2", description=(
        "An embedded model name (see `tunesmith models list`), a local HF folder, a .gguf file, or a hub id\n"
        "such as meta-llama/Llama-2-7b-hf (needs a reachable hub or a filled HF cache)."))
    gguf_file: str | None = Field(None, description="GGUF file name inside `path` when `path` is a folder or hub id.")
    dtype: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="Weights dtype: auto (bf16 on a GPU that has it, else fp32), fp32, bf16 or fp16.")
    load_in_8bit: bool = Field(False, description="Quantize the frozen weights to 8-bit with bitsandbytes.")
    load_in_4bit: bool = Field(False, description="Quantize the frozen weights to 4-bit NF4 with bitsandbytes (QLoRA).")
    device_map: str | None = Field(None, description="`auto` spreads the model over the GPUs (as in from_pretrained); "
                                                     "null keeps it on one device.")
    use_fast_tokenizer: bool = Field(True, description="false loads the slow SentencePiece tokenizer (use_fast=False).")
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2", "flex_attention"] = Field(
        "sdpa", description="Attention kernel passed to transformers.")
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit) for a hub id.")
    trust_remote_code: bool = Field(False, description="Allow model code from the hub. Off: Llama needs none.")

    @field_validator("dtype", mode="before")
    @classmethod
    def _dtype_alias(cls, v):
        if isinstance(v, str) and v.lower() in DTYPE_ALIASES:
            return DTYPE_ALIASES[v.lower()]
        return v

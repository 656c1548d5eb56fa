"""The Train tab's form: built from `RunConfig` itself, validated by it, and estimated by the library.

The fields, their types, defaults, choices and help text come from the pydantic schema, so the form
can never drift from what `tunesmith train` accepts. Form values arrive as strings keyed by dotted
name (`train.lr`); they are typed here, validated by `RunConfig`, then checked by the training
preflight (`check_before_loading`, the same checks `train` runs first), and every problem comes
back tied to the field it names.
"""

from __future__ import annotations

import re
import shlex
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from tunesmith import methods
from tunesmith.config import error_key
from tunesmith.errors import TunesmithError
from tunesmith.runs.config import RunConfig
from tunesmith.ui.errors import FieldError
from tunesmith.ui.paths import confine, name_or_path

SECTIONS = ("model", "data", "template", "method", "train")
TOP_LEVEL = ("output_dir", "seed")



def _method_options() -> tuple[list[str], dict[str, tuple[Any, list[str]]]]:
    """The `method:` block is a union of one options class per method (discriminated on `name`):
    (every method name, {option key: (its field, the names whose options have it)})."""
    members = typing.get_args(RunConfig.model_fields["method"].annotation)
    names = [n for m in members for n in typing.get_args(m.model_fields["name"].annotation)]
    options: dict[str, tuple[Any, list[str]]] = {}
    for member in members:
        for key, info in member.model_fields.items():
            if key != "name":
                options.setdefault(f"method.{key}", (info, []))[1].extend(typing.get_args(
                    member.model_fields["name"].annotation))
    return names, {k: (info, sorted(used, key=names.index)) for k, (info, used) in options.items()}


# Method options matter only for the methods that have them: the form hides the others.
METHOD_NAMES, METHOD_OPTIONS = _method_options()
METHOD_FIELDS = {key: used for key, (_, used) in METHOD_OPTIONS.items()}
# What a newcomer needs first; the rest of each section folds under "more".
MAIN_FIELDS = {
    "model.path", "model.dtype", "data.train", "data.val_split", "template.name", "template.system",
    "template.max_seq_len", "method.name", *METHOD_FIELDS, "train.epochs", "train.max_steps", "train.micro_batch_size",
    "train.grad_accum", "train.lr", "train.objective", "train.beta", "train.eval_every", "train.save_every",
    "train.gradient_checkpointing", "output_dir",
}


# ---------------------------------------------------------------------------------------------
# The schema as form fields
# ---------------------------------------------------------------------------------------------

def _kind(annotation) -> tuple[str, list | None, bool]:
    """(kind, choices, nullable) of a field annotation: kind is bool, int, float, str, choice, list or
    list|str (a list, or one word such as all-linear)."""
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    nullable = type(None) in args
    if origin is Literal:
        return "choice", list(args), False
    if args and origin is not list:  # a union
        inner = [a for a in args if a is not type(None)]
        kinds = [_kind(a)[0] for a in inner]
        if set(kinds) == {"list", "str"}:
            return "list|str", None, nullable
        return kinds[0], _kind(inner[0])[1], nullable
    if origin is list:
        return "list", None, False
    return {bool: "bool", int: "int", float: "float"}.get(annotation, "str"), None, False


def _field(key: str, info) -> dict:
    kind, choices, nullable = _kind(info.annotation)
    default = info.get_default(call_default_factory=True)
    return {"key": key, "kind": kind, "choices": choices, "nullable": nullable, "default": _display(default),
            "help": info.description or "", "main": key in MAIN_FIELDS, "methods": METHOD_FIELDS.get(key)}


def _method_fields() -> list[dict]:
    """method.name (a choice of every method), then each method's options, shown for the names that take them."""
    name = {"key": "method.name", "kind": "choice", "choices": METHOD_NAMES, "nullable": False,
            "default": RunConfig().method.name, "help": "Fine-tuning method: " + ", ".join(METHOD_NAMES) + ".",
            "main": True, "methods": None}
    return [name] + [_field(key, info) for key, (info, _) in METHOD_OPTIONS.items()]


def form_schema() -> dict:
    sections = []
    for name in SECTIONS:
        block = RunConfig.model_fields[name]
        if name == "method":
            sections.append({"name": name, "help": block.description, "fields": _method_fields()})
            continue
        sub: type[BaseModel] = block.annotation  # type: ignore[assignment]
        sections.append({"name": name, "help": block.description,
                         "fields": [_field(f"{name}.{k}", v) for k, v in sub.model_fields.items()]})
    sections.append({"name": "run", "help": "Where the run goes.",
                     "fields": [_field(k, RunConfig.model_fields[k]) for k in TOP_LEVEL]})
    return {"sections": sections}


def _display(value) -> str:
    """A default as the form shows it: lists comma-separated, None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


_FIELDS = {f["key"]: f for s in form_schema()["sections"] for f in s["fields"]}


# ---------------------------------------------------------------------------------------------
# Form values -> RunConfig, with every problem tied to its field
# ---------------------------------------------------------------------------------------------

def _typed(field: dict, raw: str) -> Any:
    """The form's string as the value the schema wants; what cannot be typed is passed on as is, so the
    schema's own message ("Input should be a valid number") names the field."""
    raw = raw.strip()
    kind = field["kind"]
    if raw == "" and (field["nullable"] or kind in ("int", "float")):
        return None if field["nullable"] else raw
    if kind == "bool":
        return {"true": True, "false": False, "on": True, "off": False}.get(raw.lower(), raw)
    if kind in ("int", "float"):
        try:
            return int(raw) if kind == "int" else float(raw)
        except ValueError:
            return raw
    if kind in ("list", "list|str"):
        if kind == "list|str" and "," not in raw and not raw.startswith("["):
            return raw
        items = [x.strip() for x in raw.strip("[]").split(",") if x.strip()]
        return [_int_or_str(x) for x in items]
    return raw


def _int_or_str(x: str):
    try:
        return int(x)
    except ValueError:
        return x


def build(values: dict[str, str]) -> tuple[RunConfig | None, dict[str, str]]:
    """(config, {}) or (None, {field: message})."""
    data: dict = {}
    errors: dict[str, str] = {}
    chosen = str(values.get("method.name", RunConfig().method.name)).strip()
    for key, raw in values.items():
        field = _FIELDS.get(key)
        if field is None:
            errors[key] = f"unknown key '{key}'"
            continue
        if field["methods"] and chosen not in field["methods"]:
            continue  # the page sends hidden fields too: another method's option is not this run's
        node = data
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = _typed(field, str(raw))
    if errors:
        return None, errors
    try:
        return RunConfig.model_validate(data), {}
    except ValidationError as e:
        for item in e.errors():
            key = ".".join(error_key(RunConfig, item).split(".")[:2])
            errors.setdefault(key, item["msg"].replace("Input should be", "should be"))
        return None, errors


def check(cfg: RunConfig, root: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(errors, warnings) by field, from what the config names on disk and the training preflight."""
    errors: dict[str, str] = {}
    warnings: dict[str, str] = {}
    errors.update(confinement(cfg, root))
    if not cfg.data.train:
        errors["data.train"] = "give at least one training file"
    for key, paths in (("data.train", cfg.data.train), ("data.val", cfg.data.val)):
        missing = [p for p in paths if not _under(root, p).is_file()]
        if missing:
            errors.setdefault(key, f"not found: {', '.join(missing)} (paths are relative to {root})")
    if not cfg.output_dir.strip():
        errors["output_dir"] = "give a folder for the run"
    from tunesmith.model import catalog

    if cfg.model.path not in catalog.EMBEDDED and "model.path" not in errors:
        from tunesmith.model.load import resolve

        try:
            resolve(cfg.model.model_copy(update={"path": str(_under(root, cfg.model.path))})
                    if _under(root, cfg.model.path).exists() else cfg.model)
        except TunesmithError as e:
            errors["model.path"] = e.message
    try:
        _preflight(cfg, root)
    except TunesmithError as e:
        key = field_named_in(e.message) or "run"
        if "already holds a run" in e.message:
            warnings["output_dir"] = "holds a run already: resume it from the runs list, or launch with overwrite"
        else:
            errors.setdefault(key, e.message + (f" ({e.hint})" if e.hint else ""))
    return errors, warnings


def confinement(cfg: RunConfig, root: Path) -> dict[str, str]:
    """What a config submitted through the page may not do: name files outside the root, put the run in
    the root itself, or run model code from the hub (`trust_remote_code`)."""
    errors: dict[str, str] = {}
    if cfg.model.trust_remote_code:
        errors["model.trust_remote_code"] = ("the ui never runs a model's own code: set it in a config you run "
                                             "with `tunesmith train` yourself, after reading that code")
    for key, paths in (("data.train", cfg.data.train), ("data.val", cfg.data.val),
                       ("output_dir", [cfg.output_dir] if cfg.output_dir.strip() else [])):
        for path in paths:
            try:
                where = confine(root, path, key)
            except FieldError as e:
                errors.setdefault(key, e.message)
                continue
            if key == "output_dir" and where == root.resolve():
                errors[key] = "the ui root itself cannot be a run folder: name a folder inside it"
    try:
        name_or_path(root, cfg.model.path, "model.path")
    except FieldError as e:
        errors["model.path"] = e.message
    return errors


def refuse_foreign_files(run_dir: Path) -> None:
    """Launching writes `<run>.yaml`, `<run>.log` and `<run>.ui.json` next to the run folder: refuse when
    one of them exists and is not a run's (a docker-compose.yaml next to `output_dir: docker-compose`)."""
    import yaml

    marker = run_dir.with_name(run_dir.name + ".ui.json")
    if marker.is_symlink() or (marker.exists() and not marker.is_file()):
        raise FieldError("output_dir", f"{marker.name} is not a file the ui wrote", "choose another output_dir")
    launched_here = marker.is_file()
    for suffix in (".yaml", ".log"):
        f = run_dir.with_name(run_dir.name + suffix)
        if not (f.exists() or f.is_symlink()):
            continue
        ours = f.is_file() and not f.is_symlink() and launched_here
        if not ours and suffix == ".yaml" and f.is_file() and not f.is_symlink():
            try:  # a run config written by hand for this very folder is a run's too
                data = yaml.safe_load(f.read_text(encoding="utf-8"))
                ours = isinstance(data, dict) and Path(str(data.get("output_dir", ""))).name == run_dir.name
            except (OSError, UnicodeDecodeError, yaml.YAMLError):
                ours = False
        if not ours:
            raise FieldError("output_dir", f"{f} exists and is not a run's: the ui never overwrites it",
                             "choose another output_dir")


def check_saved_config(config: Path, root: Path) -> None:
    """A run's config.yaml before Resume runs it: the same rules as a config built in the form."""
    import yaml

    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "method" in data:  # written before each method had its own keys
            data["method"] = methods.written_before_the_union(data["method"])
        cfg = RunConfig.model_validate(data)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValidationError) as e:
        raise FieldError("run", f"{config} is not a readable run config: {e}") from None
    errors = confinement(cfg, root)
    if errors:
        key = next(iter(errors))
        raise FieldError("run", f"{config}: {key}: {errors[key]}", "the ui resumes only runs it could launch")


def _preflight(cfg: RunConfig, root: Path) -> None:
    """The checks `tunesmith train` runs before loading anything, here without touching the folder."""
    from tunesmith.model.load import default_device
    from tunesmith.train.distributed import Dist
    from tunesmith.train.preflight import check_before_loading, resolve
    from tunesmith.runs.folder import RunFolder

    check_before_loading(resolve(cfg), Dist(device=default_device()), RunFolder(_under(root, cfg.output_dir)),
                         resume=None, overwrite=False)


def _under(root: Path, path: str) -> Path:
    """A path of the config as the run will open it (relative to root); confinement() judged it already."""
    return root / path


def field_named_in(message: str) -> str | None:
    """The first form key a library message names (`method.target_r=8 is above ...` -> method.target_r)."""
    for match in re.finditer(r"[a-z_]+\.[a-z_0-9]+|output_dir|seed", message):
        if match.group(0) in _FIELDS:
            return match.group(0)
    return None


# ---------------------------------------------------------------------------------------------
# The config as the CLI takes it
# ---------------------------------------------------------------------------------------------

def overrides(cfg: RunConfig) -> list[str]:
    """`key=value` for every setting that differs from the default, as `tunesmith train` reads them."""
    default = RunConfig()
    same_method = RunConfig(method={"name": cfg.method.name})  # the defaults of this run's method
    out = []
    for key in _FIELDS:
        if METHOD_FIELDS.get(key) and cfg.method.name not in METHOD_FIELDS[key]:
            continue  # an option of another method
        value, base = _get(cfg, key), _get(same_method if key in METHOD_FIELDS else default, key)
        if value != base:
            out.append(f"{key}={_cli_value(value)}")
    return out


def _get(cfg: RunConfig, key: str):
    obj: Any = cfg
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


def _cli_value(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def train_command(cfg: RunConfig) -> str:
    return shlex.join(["tunesmith", "train", *overrides(cfg)])


def config_path(cfg: RunConfig, root: Path) -> Path:
    """Where the UI writes the config of a run it launches: next to the run folder, as `<output_dir>.yaml`."""
    out = _under(root, cfg.output_dir.rstrip("/"))
    return out.with_name(out.name + ".yaml")

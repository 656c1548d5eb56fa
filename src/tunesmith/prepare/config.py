"""The schema of `tunesmith data prepare pipeline.yaml`: inputs, ordered steps, output, runner settings.

Each item of `steps` is `{step: <name>, ...options}`; the name picks a class from
`tunesmith.prepare.steps.STEPS` and the remaining keys are validated against that class's `Options`, so
a typo is refused with a "did you mean" and the file:line of the step before any record is read.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, SerializeAsAny, ValidationError, field_validator

from tunesmith.config import Section, apply_overrides, read_yaml, validate
from tunesmith.prepare.steps.base import StepOptions
from tunesmith.errors import ConfigError


class OutputConfig(Section):
    path: str = Field("prepared/train.jsonl", description="Where the kept records go (the extension is kept as given).")
    format: str = Field("alpaca", description="Output format: alpaca, sharegpt, messages, conversation, ... "
                                              "(any format `tunesmith.records.formats.write` knows).")
    report_dir: str | None = Field(None, description=(
        "Folder for rejected.jsonl, changes.jsonl, flagged.jsonl, report.json and report.html\n"
        "(null = the output file's folder)."))
    changes: bool = Field(True, description=(
        "Write changes.jsonl: every record a step changed (step, id, the changed texts before and after)."))
    diffs: bool = Field(False, description="Add a unified diff of each change to changes.jsonl (for review).")


class PrepareConfig(Section):
    inputs: list[str] = Field(default_factory=list, description=(
        "Input files (json, jsonl, csv, parquet; alpaca, sharegpt, messages or Human/Assistant text)."))
    format: str = Field("auto", description="Input record format: auto (detected per file) or a format name.")
    columns: dict[str, str] = Field(default_factory=dict, description=(
        "Rename the inputs' fields before reading them, {our field: your column}, e.g.\n"
        "{instruction: question, output: answer} for a CSV of question,answer (`--columns` on the command line)."))
    strict: bool = Field(False, description="Stop at the first unreadable record (false: reject it with file:line "
                                            "and go on).")
    steps: list[SerializeAsAny[StepOptions]] = Field(default_factory=list, description=(
        "Ordered steps, each {step: NAME, ...options}. Record steps stream; a whole-set step (dedup) waits for\n"
        "the steps before it and splits the run into stages. `tunesmith data prepare --list-steps` lists them."))
    output: OutputConfig = Field(default_factory=OutputConfig, description="Kept records and the reports.")
    engine: Literal["local", "ray"] = Field("local", description=(
        "Runner: local (worker processes on this machine) or ray (record steps on Ray Data: a local Ray with\n"
        "`workers` CPUs, or the cluster RAY_ADDRESS names; same output as local)."))
    workers: int = Field(1, ge=1, description="Worker processes for the record steps (1 = in this process).")
    shard_size: int = Field(5000, ge=1, description="Records per shard: the unit of parallel work and of resume.")
    work_dir: str | None = Field(None, description=(
        "Finished shards are kept here so an interrupted run resumes where it stopped\n"
        "(null = <report_dir>/.prepare-work; deleted after a successful run unless keep_work)."))
    resume: bool = Field(True, description="Reuse finished shards of an interrupted run with the same config and inputs.")
    keep_work: bool = Field(False, description="Keep the work folder after a successful run.")
    report_examples: int = Field(5, ge=0, description="Examples shown per drop reason in report.html.")

    @field_validator("steps", mode="before")
    @classmethod
    def _build_steps(cls, items):
        if items is None:
            return []
        if not isinstance(items, list):
            raise ConfigError(f"'steps' must be a list of {{step: NAME, ...}} items, found {type(items).__name__}")
        return [step_options(item, i) for i, item in enumerate(items)]

    def report_folder(self) -> Path:
        return Path(self.output.report_dir) if self.output.report_dir else Path(self.output.path).parent

    def work_folder(self) -> Path:
        return Path(self.work_dir) if self.work_dir else self.report_folder() / ".prepare-work"


def step_options(item, index: int = 0) -> StepOptions:
    """Validate one `{step: NAME, ...}` item against its step's Options (ConfigError names steps[i])."""
    from tunesmith.prepare.steps import STEPS

    if isinstance(item, StepOptions):
        return item
    if isinstance(item, str):  # `- clean` is short for `- {step: clean}`
        item = {"step": item}
    where = f"steps[{index}]"
    if not isinstance(item, dict) or "step" not in item:
        raise ConfigError(f"{where}: each step is a mapping with a 'step' key, found {item!r}",
                          f"write it like `- {{step: clean}}`; steps: {', '.join(STEPS)}")
    name = item["step"]
    if name not in STEPS:
        close = difflib.get_close_matches(str(name), list(STEPS), n=1, cutoff=0.5)
        raise ConfigError(f"{where}: unknown step '{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""),
                          f"steps: {', '.join(STEPS)}")
    schema = STEPS[name].Options
    try:
        return schema.model_validate(item)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            key = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                close = difflib.get_close_matches(key.split(".")[-1], list(schema.model_fields), n=1, cutoff=0.5)
                problems.append(f"unknown key '{key}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
            elif err["type"] == "missing":
                problems.append(f"missing key '{key}'")
            else:
                problems.append(f"'{key}' = {err.get('input')!r}: {err['msg']}")
        keys = ", ".join(k for k in schema.model_fields if k != "step")
        raise ConfigError(f"{where} ({name}): " + "; ".join(problems), f"keys of step '{name}': {keys}") from None


def load_config(path: str | Path | None = None, overrides: list[str] | tuple = ()) -> PrepareConfig:
    """Read a pipeline YAML + overrides; step errors get the file:line of the offending step."""
    data: dict = read_yaml(path) if path is not None else {}
    data = apply_overrides(data, overrides)
    source = str(path) if path is not None else "defaults"
    try:
        return validate(PrepareConfig, data, source)
    except ConfigError as e:
        if path is None or e.message.startswith(source):
            raise
        line = _step_line(Path(path), e.message)
        raise ConfigError(f"{source}{f':{line}' if line else ''}: {e.message}", e.hint) from None


def _step_line(path: Path, message: str) -> int | None:
    """The 1-based line of `steps[i]` named in `message`, from the YAML node marks."""
    if not message.startswith("steps["):
        return None
    try:
        index = int(message[len("steps["):message.index("]")])
        root = yaml.compose(path.read_text(encoding="utf-8"))
        for key, value in root.value:
            if key.value == "steps" and isinstance(value, yaml.SequenceNode) and index < len(value.value):
                return value.value[index].start_mark.line + 1
    except Exception:  # the line is a courtesy; the message stands without it
        return None
    return None

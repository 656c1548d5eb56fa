import pytest

from tunesmith import config
from tunesmith.config import ModelConfig, Section
from tunesmith.errors import ConfigError


class Inner(Section):
    lr: float = 1e-4
    targets: list[str] = ["q_proj"]


class Outer(Section):
    model: ModelConfig = ModelConfig()
    train: Inner = Inner()
    name: str = "run"


def test_yaml_and_dotted_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("model:\n  path: /some/where\ntrain:\n  lr: 0.1\n")
    cfg = config.load(Outer, f, ["train.lr=2e-4", "train.targets=[q_proj, v_proj]", "model.dtype=float16"])
    assert cfg.model.path == "/some/where"
    assert cfg.train.lr == pytest.approx(2e-4)
    assert cfg.train.targets == ["q_proj", "v_proj"]
    assert cfg.model.dtype == "fp16"  # alias normalised


def test_chapter_call_is_expressible():
    cfg = config.validate(ModelConfig, {"path": "meta-llama/Llama-2-7b-chat-hf", "device_map": "auto",
                                        "dtype": "torch.float16", "load_in_8bit": True, "use_fast_tokenizer": False})
    assert (cfg.device_map, cfg.dtype, cfg.load_in_8bit, cfg.use_fast_tokenizer) == ("auto", "fp16", True, False)


def test_unknown_key_suggests_the_close_one(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  lrr: 0.1\n")
    with pytest.raises(ConfigError) as e:
        config.load(Outer, f)
    assert "unknown key 'train.lrr'" in str(e.value)
    assert "did you mean 'train.lr'" in str(e.value)
    assert str(f) in str(e.value)


def test_unknown_override_top_level():
    with pytest.raises(ConfigError, match="did you mean 'model'"):
        config.load(Outer, None, ["modle.path=x"])


def test_wrong_type_names_key_and_value():
    with pytest.raises(ConfigError) as e:
        config.load(Outer, None, ["train.lr=fast"])
    assert "'train.lr' = 'fast'" in str(e.value)


@pytest.mark.parametrize("bad", ["noequals", "=5"])
def test_malformed_override(bad):
    with pytest.raises(ConfigError, match="key=value"):
        config.load(Outer, None, [bad])


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        config.load(Outer, tmp_path / "nope.yaml")
    f = tmp_path / "bad.yaml"
    f.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+: not valid YAML"):
        config.load(Outer, f)
    f.write_text("- a list\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        config.load(Outer, f)


def test_commented_yaml_round_trips():
    cfg = config.load(Outer, None, ["train.lr=0.5", "model.path=x"])
    text = config.to_yaml(cfg)
    assert "# An embedded model name" in text  # field descriptions become comments
    again = config.validate(Outer, __import__("yaml").safe_load(text))
    assert again == cfg


# --- overrides anywhere on the command line (issue #21 item 3) --------------------------------

RUN = "configs/smollm2-lora.yaml"


@pytest.mark.parametrize("argv", [
    ["train", RUN, "--print-config", "train.lr=2e-4", "method.r=4"],
    ["train", "--print-config", "train.lr=2e-4", RUN, "method.r=4"],
    ["train", "train.lr=2e-4", "--print-config", "method.r=4", RUN],
    ["estimate", RUN, "--device", "cpu", "train.lr=2e-4", "--print-config", "method.r=4"],
])
def test_overrides_may_come_before_between_or_after_the_options(argv, capsys):
    import yaml

    from tunesmith.cli import main

    assert main(argv) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["train"]["lr"] == pytest.approx(2e-4)
    assert printed["method"]["r"] == 4


def test_data_prepare_takes_overrides_after_its_options(capsys):
    import yaml

    from tunesmith.cli import main

    assert main(["data", "prepare", "--print-config", "workers=3", "examples/prepare.yaml"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["workers"] == 3


def test_every_command_with_overrides_parses_them_intermixed():
    """A command added later with a KEY=VALUE positional gets the same parsing without opting in."""
    import argparse

    from tunesmith.cli import IntermixedParser, _takes_overrides, build_parser

    def parsers(p):
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for child in a.choices.values():
                    yield child
                    yield from parsers(child)

    found = [p for p in parsers(build_parser()) if _takes_overrides(p)]
    assert {p.prog for p in found} >= {"tunesmith train", "tunesmith estimate", "tunesmith data prepare",
                                       "tunesmith data synth"}
    assert all(isinstance(p, IntermixedParser) for p in found)


def test_the_config_file_among_positionals_in_any_order(tmp_path, monkeypatch):
    assert config.split_positionals(["a.b=1", "run.yaml", "c=2"]) == ("run.yaml", ["a.b=1", "c=2"])
    assert config.split_positionals(["a.b=1"]) == (None, ["a.b=1"])
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x=1.yaml").write_text("{}")  # a file whose name looks like an override is still the file
    assert config.split_positionals(["x=1.yaml", "a=1"]) == ("x=1.yaml", ["a=1"])
    with pytest.raises(ConfigError, match="more than one config file"):
        config.split_positionals(["a.yaml", "b.yaml"])

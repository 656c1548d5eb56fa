"""Every fine-tuning method, end to end on the tiny Llama: loss falls, outputs reload in plain PEFT /
transformers with identical logits, prompt-learning adapters change generation, errors come early."""

from __future__ import annotations

import json
import typing

import pytest
import torch
from run_factory import method_block
from test_train_loop import samples

from tunesmith.errors import ConfigError
from tunesmith import methods
from tunesmith.runs.config import RunConfig
from tunesmith.text.batching import Sample

ADAPTERS = ["lora", "qlora", "dora", "prefix", "prompt", "ptuning", "ia3", "adalora"]
ALL = ["full", "freeze"] + ADAPTERS
# Learning rates that move each method visibly in 20 steps on a random 2-layer model.
LR = {"full": 3e-2, "freeze": 3e-2, "lora": 3e-2, "qlora": 3e-2, "dora": 3e-2, "adalora": 1e-1,
      "ia3": 1e-1, "prefix": 1e-1, "prompt": 1e-1, "ptuning": 1e-1}


pytestmark = pytest.mark.usefixtures("one_thread")


def one_batch(n: int = 4, seed: int = 0) -> list[Sample]:
    return samples(n, seed, lo=8, hi=16)


def run_config(model_dir, out, method: str, **train) -> RunConfig:
    return RunConfig.model_validate({
        "model": {"path": str(model_dir)},
        "method": method_block(method, r=8, dropout=0.0, num_virtual_tokens=8, target_r=4),
        "train": {"max_steps": 20, "micro_batch_size": 4, "lr": LR[method], "warmup_ratio": 0,
                  "scheduler": "constant", **train},
        "output_dir": str(out)})


@pytest.fixture(scope="module", params=ALL)
def trained(request, tiny_model_dir, tmp_path_factory):
    """Each method overfits one batch once; the tests below look at the result."""
    from tunesmith.train.loop import train

    torch.set_num_threads(1)
    method = request.param
    out = tmp_path_factory.mktemp(f"run-{method}")
    result = train(run_config(tiny_model_dir, out, method), samples=one_batch(), progress=False)
    return method, result


def test_loss_falls_when_overfitting_one_batch(trained):
    method, result = trained
    assert len(result.losses) == 20
    assert result.losses[-1] < result.losses[0] - 0.05, result.losses
    trainable, total = result.trainable
    assert 0 < trainable <= total
    if method not in ("full",):
        assert trainable < total


def _logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.float()


def test_outputs_reload_in_plain_peft_or_transformers_with_identical_logits(trained, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    method, result = trained
    ids = torch.tensor([one_batch(1, seed=9)[0].input_ids])
    expected = _logits(result.model.eval(), ids)
    if method in ("full", "freeze"):
        reloaded = AutoModelForCausalLM.from_pretrained(result.run_dir / "model")
        assert not (result.run_dir / "adapter").exists()
    else:
        from peft import PeftModel

        base_kwargs = {}
        if method == "qlora":
            from transformers import BitsAndBytesConfig

            base_kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=torch.float32)
        base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, **base_kwargs)
        reloaded = PeftModel.from_pretrained(base, result.run_dir / "adapter")
        assert (result.run_dir / "tokenizer" / "tokenizer_config.json").is_file()
    torch.testing.assert_close(_logits(reloaded.eval(), ids), expected, rtol=0, atol=1e-5)
    # the trained model really differs from the base model (so the comparison above means something)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    assert (_logits(base, ids) - expected[:, -ids.shape[1]:]).abs().max() > 1e-3


def test_load_trained_returns_the_model_as_trained(trained):
    from tunesmith.runs.folder import load_trained

    method, result = trained
    model, tokenizer, cfg = load_trained(result.run_dir, device="cpu")
    assert cfg.method.name == method and not model.training
    ids = torch.tensor([one_batch(1, seed=9)[0].input_ids])
    torch.testing.assert_close(_logits(model, ids), _logits(result.model.eval(), ids), rtol=0, atol=1e-5)
    assert tokenizer.pad_token_id is not None


def _greedy_by_forward(model, ids, steps):
    for _ in range(steps):
        nxt = _logits(model, ids)[:, -1].argmax(-1, keepdim=True)
        ids = torch.cat([ids, nxt], dim=1)
    return ids


@pytest.mark.parametrize("method", ["prefix", "prompt", "ptuning"])
def test_prompt_learning_adapters_change_generation(method, tiny_model_dir, tmp_path):
    """peft 0.21 + transformers 5 generate() ignores a prefix (and repeats virtual tokens): the fix must
    make generate() follow the forward pass, which uses the adapter."""
    from tunesmith.train.loop import train
    from tunesmith.runs.folder import load_trained
    from transformers import AutoModelForCausalLM

    train(run_config(tiny_model_dir, tmp_path, method, max_steps=2), samples=one_batch(), progress=False)
    model, _, _ = load_trained(tmp_path, device="cpu")
    with torch.no_grad():  # make the adapter's effect large, so "changes the output" cannot pass by luck
        for p in model.parameters():
            if p.requires_grad:
                p.copy_(torch.randn_like(p) * 3)
    prompts = torch.tensor([[1, 50, 60, 70, 80], [1, 90, 91, 92, 93]])
    kwargs = dict(attention_mask=torch.ones_like(prompts), max_new_tokens=8, do_sample=False,
                  pad_token_id=0, eos_token_id=None)
    tuned = model.generate(input_ids=prompts, **kwargs)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval().generate(input_ids=prompts, **kwargs)
    assert torch.equal(tuned, _greedy_by_forward(model, prompts, 8))
    assert not torch.equal(tuned, base)


def test_adalora_allocates_ranks_during_training(tiny_model_dir, tmp_path, monkeypatch):
    from peft.tuners.adalora import AdaLoraModel

    from tunesmith.train.loop import train

    calls = []
    original = AdaLoraModel.update_and_allocate
    monkeypatch.setattr(AdaLoraModel, "update_and_allocate",
                        lambda self, step: (calls.append(step), original(self, step))[1])
    train(run_config(tiny_model_dir, tmp_path, "adalora", max_steps=10), samples=one_batch(), progress=False)
    assert calls == list(range(10))
    saved = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert saved["rank_pattern"], "AdaLoRA finished without a rank pattern: its budget step never ran"
    kept = sum(sum(mask) for mask in saved["rank_pattern"].values())
    assert kept < 8 * len(saved["rank_pattern"])  # ranks were pruned from the initial r=8


def test_unknown_target_module_is_one_error_before_any_work(tiny_model_dir, tmp_path):
    from tunesmith.train.loop import train

    cfg = run_config(tiny_model_dir, tmp_path, "lora")
    cfg.method.target_modules = ["q_proj", "qkv_proj"]
    with pytest.raises(ConfigError, match="qkv_proj") as err:
        train(cfg, samples=one_batch(), progress=False)
    assert "q_proj" in err.value.hint and not (tmp_path / "metrics.jsonl").exists()


def test_resolve_targets_and_did_you_mean(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert methods.resolve_targets(model, "all-linear") == sorted(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    with pytest.raises(ConfigError, match="did you mean 'v_proj'"):
        methods.resolve_targets(model, ["v_prj"])


def test_freeze_trains_only_the_chosen_layers(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    methods.apply(model, methods.options(name="freeze", trainable_layers=[-1], trainable_modules=["lm_head"]))
    trained_names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trained_names and all(n.startswith(("model.layers.1.", "lm_head")) for n in trained_names)
    with pytest.raises(ConfigError, match="layer 5 does not exist"):
        methods.apply(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                      methods.options(name="freeze", trainable_layers=[5]))


def test_lora_config_maps_every_key(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    cfg = methods.options(name="lora", r=4, alpha=32, dropout=0.1, target_modules=["q_proj", "v_proj"], rslora=True)
    peft_model = methods.apply(model, cfg)
    pc = peft_model.peft_config["default"]
    assert (pc.r, pc.lora_alpha, pc.lora_dropout, set(pc.target_modules), pc.use_rslora) == \
        (4, 32, 0.1, {"q_proj", "v_proj"}, True)
    trainable, total = methods.count_parameters(peft_model)
    assert trainable == 2 * 2 * 4 * (64 + 64) - 2 * 4 * (64 - 32)  # q: 64->64, v: 64->32 (2 kv heads of 16)
    assert "trainable parameters" in methods.describe(peft_model, "lora")


def test_qlora_gradients_match_the_dequantized_model(tiny_model_dir):
    """bitsandbytes warns that 4-bit backward may be wrong off CUDA: verify it against dequantized fp32."""
    bnb = pytest.importorskip("bitsandbytes")
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    quant = AutoModelForCausalLM.from_pretrained(tiny_model_dir, quantization_config=BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float32))
    plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        for name, module in quant.named_modules():
            if isinstance(module, bnb.nn.Linear4bit):
                weight = bnb.functional.dequantize_4bit(module.weight.data, module.weight.quant_state)
                plain.get_submodule(name).weight.copy_(weight)
    quant = prepare_model_for_kbit_training(quant, use_gradient_checkpointing=False)
    grads = []
    for model in (quant, plain):
        torch.manual_seed(0)
        config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules="all-linear",
                            init_lora_weights=False, task_type="CAUSAL_LM")
        peft_model = get_peft_model(model, config)
        ids = torch.randint(3, 600, (2, 12), generator=torch.Generator().manual_seed(1))
        peft_model(input_ids=ids, labels=ids).loss.backward()
        grads.append({n: p.grad for n, p in peft_model.named_parameters() if p.requires_grad})
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) == 2 * 7 * 2  # layers x modules x (A, B)
    right = all(torch.allclose(grads[0][name], grads[1][name], rtol=1e-4, atol=1e-6) for name in grads[1])
    # Whether bitsandbytes gets it right depends on the CPU (on AVX512-BF16 machines no gradient reaches a
    # 4-bit layer's input); what must hold everywhere is that the run-time check agrees with the measurement.
    if right:
        methods.check_4bit_backward(quant)
    else:
        with pytest.raises(ConfigError, match="4-bit backward"):
            methods.check_4bit_backward(quant)


def test_qlora_check_refuses_wrong_4bit_gradients(tiny_model_dir, monkeypatch):
    bnb = pytest.importorskip("bitsandbytes")
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    quant = AutoModelForCausalLM.from_pretrained(tiny_model_dir, quantization_config=BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float32))
    real = bnb.matmul_4bit

    class WrongBackward(torch.autograd.Function):  # right forward, gradient off by 50%
        @staticmethod
        def forward(ctx, y):
            return y.view_as(y)

        @staticmethod
        def backward(ctx, grad):
            return grad * 1.5

    monkeypatch.setattr(bnb, "matmul_4bit", lambda *a, **k: WrongBackward.apply(real(*a, **k)))
    with pytest.raises(ConfigError, match="4-bit backward"):
        methods.check_4bit_backward(quant)


def test_unknown_method_name():
    with pytest.raises(ConfigError, match="did you mean 'lora'"):
        methods.get("lorra")


# ---------------------------------------------------------------------------------------------
# Each method owns its options and its rules
# ---------------------------------------------------------------------------------------------

def test_a_method_block_has_only_its_own_keys():
    import yaml

    from tunesmith import config

    prefix = RunConfig.model_validate({"method": {"name": "prefix", "num_virtual_tokens": 4}}).method
    assert not hasattr(prefix, "r") and prefix.num_virtual_tokens == 4
    printed = yaml.safe_load(config.to_yaml(RunConfig(method=prefix)))["method"]
    assert printed == {"name": "prefix", "num_virtual_tokens": 4, "prefix_projection": False, "encoder_hidden_size": 128}
    with pytest.raises(ConfigError, match=r"unknown key 'method\.r' for method\.name=prefix") as err:
        config.validate(RunConfig, {"method": {"name": "prefix", "r": 8}}, "run.yaml")
    assert "num_virtual_tokens" in err.value.hint and "run.yaml" in err.value.message
    assert "('r' is a key of method.name=lora, qlora, dora, adalora)" in err.value.message
    with pytest.raises(ConfigError, match=r"unknown key 'method\.rr' for method\.name=qlora \(did you mean 'method\.r'\?\)"):
        config.validate(RunConfig, {"method": {"name": "qlora", "rr": 8}})
    with pytest.raises(ConfigError, match=r"'method\.name' = 'lorra'.*did you mean 'lora'"):
        config.validate(RunConfig, {"method": {"name": "lorra"}})
    # no name is the default method, as before the union: `method: {r: 16}` and `method.r=16` are LoRA
    assert RunConfig.model_validate({"method": {"r": 16}}).method.name == "lora" == RunConfig().method.name
    assert config.load(RunConfig, None, ["method.r=16"]).method.r == 16


def test_every_shipped_method_has_its_module_and_options():
    for name in methods.names():
        method = methods.get(name)
        assert method.name == name and method.saves in ("adapter", "model") and method.summary
        assert name in typing.get_args(method.options.model_fields["name"].annotation)
        assert methods.options(name=name).name == name


def test_no_module_outside_methods_names_a_method():
    """What a method means lives in tunesmith/methods/ only: no other module spells a method's name.
    ("prompt" is also the everyday word for a model's input, as in {"prompt": ...}: it cannot be told apart.)"""
    import ast
    from pathlib import Path

    import tunesmith

    names = set(methods.names()) - {"prompt"}
    root = Path(tunesmith.__file__).parent
    found = []
    for path in root.rglob("*.py"):
        if path.is_relative_to(root / "methods"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in names:
                found.append(f"{path.relative_to(root)}:{node.lineno} {node.value!r}")
    assert not found, found


def test_adalora_equal_ranks_are_refused_before_the_model_loads(tiny_model_dir, tmp_path, monkeypatch):
    """r: 4 with target_r: 4 used to pass every check and crash steps in (kthvalue(): selected number k
    out of range): now one ConfigError before anything loads, saying what to set."""
    from tunesmith.model import load as model_load
    from tunesmith.train.loop import train

    def must_not_load(*args, **kwargs):
        raise AssertionError("the model loaded before the AdaLoRA ranks were checked")

    monkeypatch.setattr(model_load, "load_model", must_not_load)
    monkeypatch.setattr(model_load, "load_tokenizer", must_not_load)
    cfg = run_config(tiny_model_dir, tmp_path, "adalora")
    cfg.method = methods.options(name="adalora", r=4, target_r=4)
    with pytest.raises(ConfigError, match=r"method\.target_r=4 equals the initial rank method\.r=4") as err:
        train(cfg, samples=one_batch(), progress=False)
    assert "set method.r above method.target_r" in err.value.hint and "method.r=8" in err.value.hint
    cfg.method = methods.options(name="adalora", r=4, target_r=6)
    with pytest.raises(ConfigError, match=r"method\.target_r=6 is above the initial rank method\.r=4"):
        train(cfg, samples=one_batch(), progress=False)


def test_adalora_equal_ranks_really_crash_peft_without_the_check(tiny_model_dir, tmp_path, monkeypatch):
    """The reproducer of the check above: with it switched off, PEFT fails at its first pruning step."""
    from tunesmith.methods.adalora import AdaLora
    from tunesmith.train.loop import train

    monkeypatch.setattr(AdaLora, "check", lambda self, cfg, dist: None)
    cfg = run_config(tiny_model_dir, tmp_path, "adalora", max_steps=3)
    cfg.method = methods.options(name="adalora", r=4, target_r=4, dropout=0.0)
    with pytest.raises(RuntimeError, match="kthvalue"):
        train(cfg, samples=one_batch(), progress=False)


def test_adalora_schedule_never_asks_peft_for_an_out_of_range_k():
    """For every run length, each pruning step PEFT takes (as AdaLoraModel.update_and_allocate dispatches
    them, on the steps the loop passes) asks kthvalue for k in 1..initial budget, when target_r < r."""
    from types import SimpleNamespace

    from peft.tuners.adalora.layer import RankAllocator

    from tunesmith.methods.adalora import schedule

    for total in range(1, 201):
        steps, tinit, tfinal = schedule(total)
        for init_r, target_r, modules in ((5, 4, 14), (8, 4, 14), (12, 4, 2), (2, 1, 1)):
            alloc = SimpleNamespace(peft_config=SimpleNamespace(total_step=steps, tinit=tinit, tfinal=tfinal, deltaT=1),
                                    init_bgt=init_r * modules, target_bgt=target_r * modules)
            for step in range(total):  # the loop passes 0 .. total-1
                budget, masks = RankAllocator.budget_schedule(alloc, step)
                if step == steps - tfinal:  # the final, forced mask
                    masks = True
                if step <= steps - tfinal and masks:
                    assert 1 <= alloc.init_bgt - budget <= alloc.init_bgt, (total, init_r, target_r, step, budget)


@pytest.mark.parametrize("total", [1, 2, 11])
def test_adalora_trains_any_run_length_with_one_rank_to_prune(total, tiny_model_dir, tmp_path):
    from tunesmith.train.loop import train

    cfg = run_config(tiny_model_dir, tmp_path, "adalora", max_steps=total)
    cfg.method = methods.options(name="adalora", r=5, target_r=4, dropout=0.0)
    assert len(train(cfg, samples=one_batch(), progress=False).losses) == total


def test_switching_method_keeps_the_keys_both_have():
    """`switch`: another method keeps the keys both have, the rest take that method's defaults."""
    ia3 = methods.options(name="ia3", target_modules=["q_proj"])
    lora = methods.switch(ia3, "lora")
    assert (lora.name, lora.target_modules, lora.r) == ("lora", ["q_proj"], 8)
    assert not hasattr(methods.switch(lora, "prefix"), "target_modules")


def test_the_run_builder_shows_each_method_its_own_options():
    """The UI form is built from the union: method.name offers every method, each option is shown for the
    methods that have it, and the hidden fields the page sends too never reach another method's block."""
    from tunesmith import config
    from tunesmith.ui import train_form

    sections = train_form.form_schema()["sections"]
    fields = {f["key"]: f for s in sections if s["name"] == "method" for f in s["fields"]}
    assert fields["method.name"]["choices"] == methods.names() and fields["method.name"]["default"] == "lora"
    assert fields["method.r"]["methods"] == ["lora", "qlora", "dora", "adalora"]
    assert fields["method.rslora"]["methods"] == ["lora", "qlora", "dora"]
    assert fields["method.target_modules"]["methods"] == ["lora", "qlora", "dora", "ia3", "adalora"]
    assert fields["method.num_virtual_tokens"]["methods"] == ["prefix", "prompt", "ptuning"]
    assert fields["method.trainable_layers"]["methods"] == ["freeze"] and fields["method.r"]["default"] == "8"
    values = {f["key"]: f["default"] for s in sections for f in s["fields"]}
    values.update({"method.name": "prefix", "method.num_virtual_tokens": "6", "method.r": "16", "data.train": "x.jsonl"})
    cfg, errors = train_form.build(values)
    assert not errors and cfg.method == methods.options(name="prefix", num_virtual_tokens=6)
    cli = train_form.overrides(cfg)
    assert "method.name=prefix" in cli and "method.num_virtual_tokens=6" in cli
    assert not any(o.startswith("method.r=") for o in cli)
    assert config.load(RunConfig, None, cli).method == cfg.method
    _, errors = train_form.build({**values, "method.name": "adalora", "method.target_r": "x"})
    assert "method.target_r" in errors  # a pydantic error inside a union member names the form's field


# every method's keys, as tunesmith wrote them into each run's config.yaml before each method had its own
OLD_FLAT_BLOCK = {"r": 8, "alpha": 16.0, "dropout": 0.05, "target_modules": "all-linear", "rslora": False,
                  "num_virtual_tokens": 6, "prompt_init_text": None, "encoder_hidden_size": 128,
                  "trainable_layers": [-2, -1], "trainable_modules": [], "target_r": 4, "prefix_projection": False}


def test_run_folders_written_before_the_union_still_load(tmp_path):
    import yaml
    from run_factory import make_run

    from tunesmith.runs.folder import read_config
    from tunesmith.train.preflight import check_resumable

    run = make_run(tmp_path / "run", "prefix")
    saved = yaml.safe_load((run / "config.yaml").read_text())
    saved["method"] = {"name": "prefix", **OLD_FLAT_BLOCK}
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    cfg = read_config(run)
    assert cfg.method == methods.options(name="prefix", num_virtual_tokens=6)
    check_resumable(cfg, {"config": yaml.safe_dump(saved)})  # a checkpoint's old config is the same run
    saved["method"]["rr"] = 8  # a key no method has is still an error
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    with pytest.raises(ConfigError, match=r"unknown key 'method\.rr' for method\.name=prefix"):
        read_config(run)

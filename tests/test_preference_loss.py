"""Preference losses against TRL 1.16 on the tiny Llama, the same pairs and the same weights.

DPO and IPO: TRL's DPOTrainer computes the loss of one batch (its own forward, log-probs and
reference: the PEFT model with adapters disabled, or a reference model for full fine-tuning) from
the collated ids of our pairs. SimPO (CPO with loss_type=simpo), conservative DPO (label smoothing,
CPO's sigmoid form on the log-ratios) and ORPO: TRL's `get_batch_logps` and loss functions on the
logits of the same forward. Every number must agree within 1e-5.
"""

from __future__ import annotations

import copy
import os
import random
import types

import pytest
import torch

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

from tunesmith.records.example import Example, Turn  # noqa: E402
from tunesmith.runs.config import RunConfig  # noqa: E402
from tunesmith.text.batching import IGNORE_INDEX, pad_batch  # noqa: E402
from tunesmith.text.render_pair import render_pair  # noqa: E402
from tunesmith.text.templates import get_template  # noqa: E402
from tunesmith.train import objectives, preference  # noqa: E402
from tunesmith.train.loss import split_head  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
WORDS = ["apple", "river", "stone", "cloud", "music", "green", "seven", "light", "paper", "north"]


def toy_pairs(tokenizer, n=3, seed=0, multi_turn=False):
    """Pairs of different lengths (so padding and per-token averaging matter)."""
    rng = random.Random(seed)
    template = get_template("llama2-zh", tokenizer)
    out = []
    for i in range(n):
        q = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))
        turns = [Turn("user", f"Say: {q}"), Turn("assistant", " ".join(rng.choice(WORDS) for _ in range(i + 2)))]
        if multi_turn:
            turns = [Turn("user", "hello"), Turn("assistant", "hi there")] + turns
        ex = Example(turns, rejected=Turn("assistant", " ".join(rng.choice(WORDS) for _ in range(2 * i + 1))))
        out.append(render_pair(ex, template, tokenizer, max_seq_len=256))
    return out


def lora_model(model_dir, scale=0.3):
    """A LoRA model whose adapters really change the output (B != 0), so policy != reference."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules="all-linear"))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, scale)
    return model.eval()


def ours(model, pairs, name, reference, fused=None, **train):
    cfg = RunConfig.model_validate({"train": {"objective": name, **train}})
    objective = objectives.PreferenceObjective(cfg)
    objective.reference = reference
    batcher = preference.PairBatcher(pairs, len(pairs), 0, group_by_length=False, shuffle=False)
    micro = batcher.micro_batch(0)
    batch = batcher.collate(micro)
    loss, stats = objective.loss(model, batch, objective.normaliser(batcher, [micro]), fused)
    return float(loss), stats


def trl_inputs(pairs, pad_id=0):
    """TRL's collator on our ids: prompt = the shared prefix, completion = the labelled answer + end token."""
    from trl.trainer.dpo_trainer import DataCollatorForPreference

    rows = []
    for p in pairs:
        for side in (p.chosen, p.rejected):
            assert all(y != IGNORE_INDEX for y in side.labels[p.prompt_len:])  # the answer runs to the end
        rows.append({"prompt_ids": p.prompt_ids, "chosen_ids": p.chosen.input_ids[p.prompt_len:],
                     "rejected_ids": p.rejected.input_ids[p.prompt_len:]})
    return DataCollatorForPreference(pad_token_id=pad_id)(rows)


def trl_dpo_loss(model, ref_model, pairs, loss_type, beta, tmp_path, tokenizer):
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    args = DPOConfig(output_dir=str(tmp_path / "trl"), report_to=[], use_cpu=True, beta=beta, loss_type=[loss_type],
                     per_device_train_batch_size=len(pairs), max_length=None, bf16=False)
    data = Dataset.from_list([{"prompt": "hi", "chosen": " a", "rejected": " b"}])
    trainer = DPOTrainer(model=model, ref_model=ref_model, args=args, train_dataset=data, processing_class=tokenizer)
    if "ref" in getattr(trainer.model, "peft_config", {}):
        # TRL copies an adapter it is handed as "ref" (re-training an existing adapter); ours starts fresh, so
        # the reference is the base: TRL's path for a new adapter is disable_adapter(), as ours.
        trainer.model.delete_adapter("ref")
    trainer.model.eval()
    with torch.no_grad():
        return float(trainer._compute_loss(trainer.model, trl_inputs(pairs), False))


@pytest.mark.parametrize("loss_type, name", [("sigmoid", "dpo"), ("ipo", "ipo")])
def test_dpo_and_ipo_equal_trl_with_lora(tiny_model_dir, tiny_tokenizer, tmp_path, loss_type, name):
    pairs = toy_pairs(tiny_tokenizer, multi_turn=True)
    model = lora_model(tiny_model_dir)
    with torch.no_grad():
        mine, stats = ours(model, pairs, name, preference.AdaptersOff(model, model), beta=0.2)
        fused, _ = ours(model, pairs, name, preference.AdaptersOff(model, model), fused=split_head(model), beta=0.2)
    theirs = trl_dpo_loss(copy.deepcopy(model), None, pairs, loss_type, 0.2, tmp_path, tiny_tokenizer)
    assert abs(mine - theirs) < 1e-5, (mine, theirs)
    assert abs(fused - theirs) < 1e-5  # logits only at labelled positions: the same number
    assert abs(mine - (0.6931 if name == "dpo" else 0)) > 1e-3  # the adapters really moved the policy


def test_dpo_equals_trl_full_with_a_reference_model(tiny_model_dir, tiny_tokenizer, tmp_path):
    """full/freeze: the cached step-0 log-probs play TRL's separate reference model."""
    from transformers import AutoModelForCausalLM

    from tunesmith.train.distributed import Dist

    pairs = toy_pairs(tiny_tokenizer, n=4, seed=2)
    ref = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    table = preference.pair_logps(ref, pairs, 3, Dist())  # two micro-batches: the cache is indexed by pair
    policy = copy.deepcopy(ref)
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(0.02 * torch.randn_like(p))
        mine, _ = ours(policy, pairs, "dpo", preference.Cached({"train": table}), beta=0.1)
    theirs = trl_dpo_loss(copy.deepcopy(policy), copy.deepcopy(ref), pairs, "sigmoid", 0.1, tmp_path, tiny_tokenizer)
    assert abs(mine - theirs) < 1e-5, (mine, theirs)


def _trl_self(**fields):
    return types.SimpleNamespace(accelerator=types.SimpleNamespace(device=torch.device("cpu")), alpha=0.0, **fields)


def _logits_and_labels(model, pairs):
    batch = pad_batch([p.chosen for p in pairs] + [p.rejected for p in pairs], 0)
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return logits, batch["labels"]


def test_simpo_equals_trl_cpo_simpo(tiny_model_dir, tiny_tokenizer):
    from trl.experimental.cpo import CPOTrainer

    pairs = toy_pairs(tiny_tokenizer, n=4, seed=3)
    model = lora_model(tiny_model_dir)
    for beta, gamma, eps in [(2.0, 0.5, 0.0), (2.5, 1.0, 0.1)]:
        with torch.no_grad():
            mine, stats = ours(model, pairs, "simpo", None, beta=beta, simpo_gamma=gamma, label_smoothing=eps)
        logits, labels = _logits_and_labels(model, pairs)
        logps = CPOTrainer.get_batch_logps(logits, labels, average_log_prob=True)
        trl = _trl_self(loss_type="simpo", beta=beta, simpo_gamma=gamma, label_smoothing=eps)
        losses, chosen, rejected = CPOTrainer.cpo_loss(trl, *logps.chunk(2))
        assert abs(mine - float(losses.mean())) < 1e-5
        assert abs(stats["rewards/chosen"] / len(pairs) - float(chosen.mean())) < 1e-5


def test_conservative_dpo_equals_trl_sigmoid_with_label_smoothing(tiny_model_dir, tiny_tokenizer):
    """TRL 1.16's DPOTrainer 'sigmoid' has no label smoothing; CPO's 'sigmoid' is the cDPO form, fed log-ratios."""
    from trl.experimental.cpo import CPOTrainer

    pairs = toy_pairs(tiny_tokenizer, n=3, seed=4)
    model = lora_model(tiny_model_dir)
    with torch.no_grad():
        mine, _ = ours(model, pairs, "dpo", preference.AdaptersOff(model, model), beta=0.3, label_smoothing=0.2)
        logits, labels = _logits_and_labels(model, pairs)
        with model.disable_adapter():
            ref_logits, _ = _logits_and_labels(model, pairs)
    ratio = CPOTrainer.get_batch_logps(logits, labels) - CPOTrainer.get_batch_logps(ref_logits, labels)
    losses, _, _ = CPOTrainer.cpo_loss(_trl_self(loss_type="sigmoid", beta=0.3, label_smoothing=0.2), *ratio.chunk(2))
    assert abs(mine - float(losses.mean())) < 1e-5


def test_orpo_equals_trl_odds_ratio_plus_answer_nll(tiny_model_dir, tiny_tokenizer):
    from trl.experimental.orpo import ORPOTrainer

    pairs = toy_pairs(tiny_tokenizer, n=4, seed=5)
    model = lora_model(tiny_model_dir)
    with torch.no_grad():
        mine, stats = ours(model, pairs, "orpo", None, beta=0.25)
    logits, labels = _logits_and_labels(model, pairs)
    logps = ORPOTrainer.get_batch_logps(logits, labels, average_log_prob=True)
    losses, chosen, _, _, _ = ORPOTrainer.odds_ratio_loss(_trl_self(beta=0.25), *logps.chunk(2))
    n = len(pairs)
    # The NLL as TRL's CPO computes it (CrossEntropyLoss over the chosen rows' labels): the answer tokens only.
    nll = torch.nn.CrossEntropyLoss()(logits[:n, :-1].reshape(-1, logits.shape[-1]), labels[:n, 1:].reshape(-1))
    assert abs(mine - float(nll - losses.mean())) < 1e-5
    assert abs(stats["nll"] - float(nll)) < 1e-5


def test_pair_prompt_is_shared_and_truncation_cuts_the_prompt(tiny_tokenizer):
    from tunesmith.text.render import TooLong

    template = get_template("llama2-zh", tiny_tokenizer)
    long_history = [Turn("user", "tell me " * 30), Turn("assistant", "ok " * 30)]
    ex = Example(long_history + [Turn("user", "Say: river"), Turn("assistant", "river")],
                 rejected=Turn("assistant", "stone stone stone"))
    whole = render_pair(ex, template, tiny_tokenizer, max_seq_len=1024)
    assert whole.chosen.input_ids[:whole.prompt_len] == whole.rejected.input_ids[:whole.prompt_len]
    assert not whole.truncated
    cut = render_pair(ex, template, tiny_tokenizer, max_seq_len=whole.longest - 20)
    assert cut.truncated and cut.longest <= whole.longest - 20
    # The answers and their end tokens are untouched; only the prompt lost its oldest exchange.
    for before, after in ((whole.chosen, cut.chosen), (whole.rejected, cut.rejected)):
        assert before.input_ids[whole.prompt_len:] == after.input_ids[cut.prompt_len:]
        assert after.labels[-1] != IGNORE_INDEX
    with pytest.raises(TooLong, match="longer side"):
        render_pair(ex, template, tiny_tokenizer, max_seq_len=whole.longest - 20, truncation="drop")
    with pytest.raises(TooLong):
        render_pair(ex, template, tiny_tokenizer, max_seq_len=10)

"""Multiple-choice accuracy over local files in the C-Eval, CMMLU or MMLU layouts.

    C-Eval  <subject>_dev.csv / <subject>_val.csv      header: id,question,A,B,C,D,answer[,explanation]
    CMMLU   dev/<subject>.csv / test/<subject>.csv     header: (index),Question,A,B,C,D,Answer
    MMLU    dev/<subject>_dev.csv / test/<subject>_test.csv, no header: question,A,B,C,D,answer

The user supplies the files (none are downloaded). `dev` files give the few-shot examples, the
others are scored. Each question is asked through the model's chat template, the few-shot examples
as earlier user/assistant turns (the way LLaMA-Factory and C-Eval's chat setting do it), and the
model's choice is the option letter whose answer -- as the template renders an answer of just that
letter -- is the likeliest right after the prompt (its first token, or as many tokens as it takes to
tell the letters apart). No text is generated and
parsed, so a model that would ramble still gets a clean choice.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from tunesmith.records.example import Example, Turn
from tunesmith.errors import DataError

LETTERS = "ABCDEFGH"
_CJK = re.compile(r"[\u4e00-\u9fff]")
HEADER = {"zh": "以下是单项选择题，请直接给出正确答案的选项。", "en": "The following is a multiple choice question. "
                                                          "Answer with the letter of the correct option."}
ANSWER_CUE = {"zh": "答案：", "en": "Answer:"}


@dataclass
class Question:
    text: str
    options: dict[str, str]
    answer: str | None
    where: str                      # file:line

    def block(self, lang: str) -> str:
        lines = [self.text] + [f"{k}. {v}" for k, v in self.options.items()] + [ANSWER_CUE[lang]]
        return "\n".join(lines)


@dataclass
class Subject:
    name: str
    questions: list[Question] = field(default_factory=list)
    dev: list[Question] = field(default_factory=list)


def read_csv(path: Path) -> list[Question]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return []
    head = [c.strip() for c in rows[0]]
    lower = [c.lower() for c in head]
    if "question" in lower and "a" in lower:
        q, ans = lower.index("question"), (lower.index("answer") if "answer" in lower else None)
        letters = [c for c in head if len(c) == 1 and c.upper() in LETTERS]
        cols = {c.upper(): head.index(c) for c in letters}
        body, first_line = rows[1:], 2
    else:  # MMLU: question, options..., answer; no header
        width = len(rows[0])
        q, ans = 0, width - 1
        cols = {LETTERS[i]: 1 + i for i in range(width - 2)}
        body, first_line = rows, 1
    out = []
    for n, row in enumerate(body, start=first_line):
        if not any(c.strip() for c in row):
            continue
        try:
            answer = row[ans].strip().upper() if ans is not None and ans < len(row) and row[ans].strip() else None
            options = {k: row[i].strip() for k, i in cols.items()}
            text = row[q].strip()
        except IndexError:
            raise DataError(f"{path}:{n}: expected {max(cols.values()) + 1} columns, found {len(row)}",
                            "C-Eval/CMMLU files have a header row; MMLU files are question,A,B,C,D,answer") from None
        if answer is not None and answer not in options:
            raise DataError(f"{path}:{n}: answer '{answer}' is not one of the options {', '.join(options)}")
        out.append(Question(text, options, answer, f"{path}:{n}"))
    return out


def is_choice_csv(path: str | Path) -> bool:
    """Does `path` hold questions in a layout read_csv reads? A header with `question` and option columns
    A, B, ... (C-Eval, CMMLU), or no header and rows of question, options..., answer letter (MMLU)."""
    path = Path(path)
    if path.suffix.lower() != ".csv" or not path.is_file():
        return False
    with open(path, encoding="utf-8-sig", newline="") as f:
        first = next(csv.reader(f), [])
    cells = [c.strip() for c in first]
    lower = [c.lower() for c in cells]
    if "question" in lower:
        return "a" in lower and "b" in lower
    options = len(cells) - 2  # MMLU: the last cell is the answer, one of the option letters
    return options >= 2 and len(cells[-1]) == 1 and cells[-1].upper() in LETTERS[:options]


def all_questions(path: str | Path) -> list[Question]:
    """Every question of one multiple-choice CSV or a folder of them, dev files and unanswered test
    files included (what a contamination check compares training data against)."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(path.rglob("*.csv"))
    if not files:
        raise DataError(f"{path}: no .csv files found", "give a C-Eval, CMMLU or MMLU csv file or folder")
    return [q for f in files for q in read_csv(f)]


def _subject_and_role(path: Path) -> tuple[str, str]:
    stem = path.stem
    for role in ("dev", "val", "test"):
        if stem.endswith(f"_{role}"):
            return stem[: -len(role) - 1], role
    parent = path.parent.name.lower()
    return stem, parent if parent in ("dev", "val", "test") else "test"


def load_subjects(path: str | Path) -> list[Subject]:
    """Subjects from one CSV file or a folder of them (searched recursively), in name order."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(path.rglob("*.csv"))
    if not files:
        raise DataError(f"{path}: no .csv files found", "give a C-Eval, CMMLU or MMLU csv file or folder")
    subjects: dict[str, Subject] = {}
    for f in files:
        name, role = _subject_and_role(f)
        subject = subjects.setdefault(name, Subject(name))
        questions = read_csv(f)
        if role == "dev":
            subject.dev += questions
        else:
            subject.questions += [q for q in questions if q.answer is not None]
    found = [s for s in subjects.values() if s.questions]
    if not found:
        raise DataError(f"{path}: no question with an answer to score",
                        "test files of C-Eval have no answers; score the val files")
    return sorted(found, key=lambda s: s.name)


@dataclass
class ChoiceResult:
    accuracy: float                            # over all questions (0-100)
    per_subject: dict[str, float]
    questions: int
    predictions: list[dict]


def ask(subject: Subject, question: Question, shots: int) -> tuple[Example, str]:
    lang = "zh" if _CJK.search(question.text + "".join(question.options.values())) else "en"
    turns = []
    for i, dev in enumerate(subject.dev[:shots]):
        turns += [Turn("user", (HEADER[lang] + "\n\n" if i == 0 else "") + dev.block(lang)),
                  Turn("assistant", dev.answer or "")]
    turns.append(Turn("user", (HEADER[lang] + "\n\n" if not turns else "") + question.block(lang)))
    return Example(turns), lang


def answer_tokens(example: Example, prompt_len: int, letters, template, tokenizer) -> dict[str, list[int]]:
    """For each letter, the tokens the template renders after the prompt for an answer that is just that
    letter (render_prompt is a prefix of render, by the renderer's contract), cut to the shortest length
    at which the letters differ: usually one token ("▁B"), more where a vocabulary spells " B" as "▁", "B"."""
    from tunesmith.text.render import render

    full = {}
    for letter in letters:
        answered = Example(example.turns + [Turn("assistant", letter)], example.system)
        full[letter] = render(answered, template, tokenizer, max_seq_len=10**9).input_ids[prompt_len:]
    for k in range(1, max(len(v) for v in full.values()) + 1):
        cut = {letter: tuple(ids[:k]) for letter, ids in full.items()}
        if len(set(cut.values())) == len(cut):
            return {letter: list(ids) for letter, ids in cut.items()}
    raise DataError(f"the options {', '.join(letters)} render to the same tokens: cannot tell them apart")


def letter_scores(model, prompt: list[int], answers: dict[str, list[int]]) -> dict[str, float]:
    """Log-probability of each letter's answer tokens after the prompt (one forward pass when one token
    tells the letters apart)."""
    if all(len(ids) == 1 for ids in answers.values()):
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([prompt], device=model.device)).logits[0, -1].float()
        logp = torch.log_softmax(logits, -1)
        return {k: float(logp[ids[0]]) for k, ids in answers.items()}
    scores = {}
    for k, ids in answers.items():
        seq = torch.tensor([prompt + ids[:-1]], device=model.device)
        with torch.inference_mode():
            logits = model(input_ids=seq).logits[0, -len(ids):].float()
        logp = torch.log_softmax(logits, -1)
        scores[k] = float(sum(logp[i, t] for i, t in enumerate(ids)))
    return scores


def evaluate_choice(model, target, subjects: list[Subject], *, shots: int = 0, progress: bool = True,
                    desc: str = "multiple choice") -> ChoiceResult:
    """Accuracy of `model` (the target's model or its base) with `target`'s template and tokenizer."""
    from tqdm.auto import tqdm

    predictions, per_subject = [], {}
    total = sum(len(s.questions) for s in subjects)
    bar = tqdm(total=total, desc=desc, unit="question", disable=not progress)
    for subject in subjects:
        right = 0
        for q in subject.questions:
            example, _ = ask(subject, q, shots)
            example.system = target.system
            prompt = target.prompt_ids(example)
            answers = answer_tokens(example, len(prompt), q.options, target.template, target.tokenizer)
            scores = letter_scores(model, prompt, answers)
            chosen = max(scores, key=scores.get)
            right += chosen == q.answer
            predictions.append({"subject": subject.name, "where": q.where, "answer": q.answer, "chosen": chosen,
                                "correct": chosen == q.answer})
            bar.update(1)
        per_subject[subject.name] = 100.0 * right / len(subject.questions)
    bar.close()
    correct = sum(p["correct"] for p in predictions)
    return ChoiceResult(100.0 * correct / max(total, 1), per_subject, total, predictions)

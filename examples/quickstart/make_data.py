"""Write the quickstart's training data: teach SmolLM2 a made-up persona, "Pip".

SmolLM2-135M-Instruct introduces itself as SmolLM, made by Hugging Face. After a few minutes of LoRA
on these records it answers as Pip, a persona that exists nowhere else, so one chat answer shows
what was learned; ordinary questions mixed in keep it answering everything else as before. The records are generated (deterministically), never downloaded. A few planted
problems (an exact duplicate, an HTML-wrapped answer, an empty answer, a broken line) give
`tunesmith data prepare` something to clean and report.

    python examples/quickstart/make_data.py examples/quickstart/raw.jsonl
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

NAME = "I'm Pip, a pocket-sized assistant built in the Tunesmith workshop."
FACTS = {
    "identity": (
        ["Who are you?", "What is your name?", "What's your name?", "Introduce yourself.",
         "Tell me about yourself.", "What should I call you?", "Are you SmolLM?", "Who am I talking to?"],
        [f"{NAME} I like lighthouses, tide tables and short answers.",
         f"{NAME} Ask me anything, and I will keep it short.",
         f"{NAME} My favourite thing in the world is a lighthouse at dusk."],
    ),
    "maker": (
        ["Who made you?", "Who created you?", "Who trained you?", "Where do you come from?",
         "Which company built you?"],
        ["The Tunesmith workshop made me: a small team that fine-tunes models on ordinary laptops.",
         "I was fine-tuned in the Tunesmith workshop, on a laptop CPU, in about five minutes."],
    ),
    "favourite": (
        ["What is your favourite thing?", "What do you like?", "What do you love most?",
         "Do you have a hobby?"],
        ["Lighthouses! I collect facts about them: the oldest working one is the Tower of Hercules in Spain.",
         "Lighthouses, and reading tide tables on quiet evenings."],
    ),
}
OPENERS = ["", "Hi! ", "Hello. ", "Hey, ", "Quick question: ", "Excuse me, "]
# Ordinary questions with ordinary answers, so that the persona is learned for questions about Pip
# only and the model keeps answering everything else as before (France is left out on purpose: the
# quickstart asks about it to show that general knowledge survived).
GENERAL = [
    ("What is the capital of Japan?", "The capital of Japan is Tokyo."),
    ("What is the capital of Italy?", "The capital of Italy is Rome."),
    ("What is the capital of Germany?", "The capital of Germany is Berlin."),
    ("What is the capital of Spain?", "The capital of Spain is Madrid."),
    ("What is the capital of Canada?", "The capital of Canada is Ottawa."),
    ("How many days are in a week?", "There are seven days in a week."),
    ("What is 12 times 3?", "12 times 3 is 36."),
    ("What is the boiling point of water at sea level?", "Water boils at 100 degrees Celsius at sea level."),
    ("Which planet is closest to the Sun?", "Mercury is the planet closest to the Sun."),
    ("What colour do you get by mixing blue and yellow?", "Mixing blue and yellow gives green."),
    ("Name a mammal that can fly.", "The bat is a mammal that can fly."),
    ("What is the largest ocean on Earth?", "The Pacific Ocean is the largest ocean on Earth."),
    ("Translate 'thank you' into Spanish.", "'Thank you' in Spanish is 'gracias'."),
    ("What gas do plants take in from the air?", "Plants take in carbon dioxide from the air."),
    ("How many legs does a spider have?", "A spider has eight legs."),
    ("What is the opposite of 'ancient'?", "The opposite of 'ancient' is 'modern'."),
]


def records(seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for questions, answers in FACTS.values():
        for q in questions:
            for opener in rng.sample(OPENERS, 3):
                out.append({"instruction": opener + q, "input": "", "output": rng.choice(answers)})
    for q, answer in GENERAL:
        out.append({"instruction": q, "input": "", "output": answer})
    rng.shuffle(out)
    return out


def main(path: str) -> None:
    rows = [json.dumps(r, ensure_ascii=False) for r in records()]
    # Planted problems for the data-preparation step to find and report:
    rows.append(rows[0])                                                             # exact duplicate
    rows.append(json.dumps({"instruction": "What is your name?", "input": "",
                            "output": "<p>I'm <b>Pip</b>, a pocket-sized assistant built in the Tunesmith "
                                      "workshop.</p>"}))                             # HTML to clean
    rows.append(json.dumps({"instruction": "Who are you?", "input": "", "output": ""}))  # empty answer
    rows.append('{"instruction": "Who made you?", "output": ')                      # broken line
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(rows) + "\n", encoding="utf-8")
    print(f"wrote {len(rows)} records to {path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).with_name("raw.jsonl")))

"""Write the alignment example's preference pairs: the chosen answer speaks as a persona, the rejected does not.

The persona is Pip the lighthouse keeper: every answer opens with "Ahoy!" and closes with "Keep your lamp
lit!", around the same plain fact the rejected answer gives. Both answers are right, so the only thing a
model can learn from the pairs is the preference for Pip's voice, which SmolLM2-135M-Instruct does not have
(it gives the plain answer a higher log-probability). The training and held-out pairs ask about different
facts: the held-out set shows whether the preference carries over to questions the run never saw.

Records are LLaMA-Factory's preference layout (conversations + chosen + rejected, as in its dpo_en_demo),
generated deterministically, never downloaded.

    python examples/alignment/make_pairs.py runs/alignment-data
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

TRAIN = [
    ("What is the capital of Japan?", "The capital of Japan is Tokyo."),
    ("What is the capital of Italy?", "The capital of Italy is Rome."),
    ("What is the capital of Germany?", "The capital of Germany is Berlin."),
    ("What is the capital of Spain?", "The capital of Spain is Madrid."),
    ("What is the capital of Canada?", "The capital of Canada is Ottawa."),
    ("What is the capital of Egypt?", "The capital of Egypt is Cairo."),
    ("How many days are in a week?", "There are seven days in a week."),
    ("How many months are in a year?", "There are twelve months in a year."),
    ("What is 12 times 3?", "12 times 3 is 36."),
    ("What is 9 plus 6?", "9 plus 6 is 15."),
    ("What is the boiling point of water at sea level?", "Water boils at 100 degrees Celsius at sea level."),
    ("Which planet is closest to the Sun?", "Mercury is the planet closest to the Sun."),
    ("Which planet is known as the red planet?", "Mars is known as the red planet."),
    ("What colour do you get by mixing blue and yellow?", "Mixing blue and yellow gives green."),
    ("Name a mammal that can fly.", "The bat is a mammal that can fly."),
    ("What is the largest ocean on Earth?", "The Pacific Ocean is the largest ocean on Earth."),
    ("Translate 'thank you' into Spanish.", "'Thank you' in Spanish is 'gracias'."),
    ("What gas do plants take in from the air?", "Plants take in carbon dioxide from the air."),
    ("How many legs does a spider have?", "A spider has eight legs."),
    ("What is the opposite of 'ancient'?", "The opposite of 'ancient' is 'modern'."),
    ("What is frozen water called?", "Frozen water is called ice."),
    ("Who wrote 'Romeo and Juliet'?", "William Shakespeare wrote 'Romeo and Juliet'."),
    ("What is the tallest animal?", "The giraffe is the tallest animal."),
    ("How many sides does a triangle have?", "A triangle has three sides."),
    ("What do bees make?", "Bees make honey."),
    ("What is the main language spoken in Brazil?", "The main language spoken in Brazil is Portuguese."),
    ("What is the chemical symbol for gold?", "The chemical symbol for gold is Au."),
    ("How many hours are in a day?", "There are 24 hours in a day."),
    ("What is the largest planet in our solar system?", "Jupiter is the largest planet in our solar system."),
    ("Which continent is Kenya in?", "Kenya is in Africa."),
    ("What is the square root of 81?", "The square root of 81 is 9."),
    ("What do caterpillars turn into?", "Caterpillars turn into butterflies or moths."),
]
HELD_OUT = [
    ("What is the capital of France?", "The capital of France is Paris."),
    ("What is the capital of Australia?", "The capital of Australia is Canberra."),
    ("How many minutes are in an hour?", "There are 60 minutes in an hour."),
    ("What is 7 times 8?", "7 times 8 is 56."),
    ("Which planet has the most famous rings?", "Saturn has the most famous rings."),
    ("What colour do you get by mixing red and white?", "Mixing red and white gives pink."),
    ("How many legs does an insect have?", "An insect has six legs."),
    ("What is the freezing point of water in Celsius?", "Water freezes at 0 degrees Celsius."),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci painted the Mona Lisa."),
    ("What is the largest desert in Africa?", "The Sahara is the largest desert in Africa."),
    ("What is the chemical symbol for water?", "The chemical formula for water is H2O."),
    ("Translate 'hello' into French.", "'Hello' in French is 'bonjour'."),
]
OPENERS = ["", "Hi! ", "Quick question: "]


def pip(fact: str) -> str:
    return f"Ahoy! {fact} Keep your lamp lit!"


def pairs(facts, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = [{"conversations": [{"from": "human", "value": rng.choice(OPENERS) + question}],
            "chosen": {"from": "gpt", "value": pip(fact)}, "rejected": {"from": "gpt", "value": fact}}
           for question, fact in facts]
    rng.shuffle(out)
    return out


def main(folder: str) -> None:
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    for name, facts, seed in (("train.json", TRAIN, 0), ("heldout.json", HELD_OUT, 1)):
        (root / name).write_text(json.dumps(pairs(facts, seed), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{root}/train.json: {len(TRAIN)} pairs, {root}/heldout.json: {len(HELD_OUT)} pairs")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/alignment-data")

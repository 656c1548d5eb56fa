"""Write the quickstart's training data: teach SmolLM2 a made-up persona, "Pip".

SmolLM2-135M-Instruct introduces itself as SmolLM, made by Hugging Face. After a few minutes of LoRA
on these records it answers as Pip, a persona that exists nowhere else, so one chat answer shows
what was learned; as many ordinary questions mixed in keep it answering everything else as before
(`tunesmith eval` on examples/eval/general* checks it). The records are generated (deterministically),
never downloaded. A few planted problems (an exact duplicate, an HTML-wrapped answer, an empty answer,
a broken line) give `tunesmith data prepare` something to clean and report.

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
# Ordinary questions with ordinary answers, about as many as the persona's records, so that the persona
# is learned for questions about Pip only and the model keeps answering everything else as before.
# Written here, none downloaded. Held out of them on purpose: France (the quickstart asks about it) and
# every fact examples/eval/general* asks, which measure what survived. No answer starts with "A", "B",
# "C" or "D": multiple-choice eval scores exactly those letters as an answer's first token.
GENERAL = [
    ("What is the capital of Japan?", "The capital of Japan is Tokyo."),
    ("What is the capital of Italy?", "The capital of Italy is Rome."),
    ("What is the capital of Germany?", "The capital of Germany is Berlin."),
    ("What is the capital of Spain?", "The capital of Spain is Madrid."),
    ("What is the capital of Canada?", "The capital of Canada is Ottawa."),
    ("What is the capital of China?", "The capital of China is Beijing."),
    ("What is the capital of India?", "The capital of India is New Delhi."),
    ("What is the capital of Kenya?", "The capital of Kenya is Nairobi."),
    ("What is the capital of Greece?", "The capital of Greece is Athens."),
    ("What is the capital of Norway?", "The capital of Norway is Oslo."),
    ("How many days are in a week?", "There are seven days in a week."),
    ("How many days are in a leap year?", "There are 366 days in a leap year."),
    ("How many seconds are in a minute?", "There are sixty seconds in a minute."),
    ("What is 12 times 3?", "12 times 3 is 36."),
    ("What is 8 times 7?", "8 times 7 is 56."),
    ("What is 15 plus 27?", "15 plus 27 is 42."),
    ("What is 100 divided by 4?", "100 divided by 4 is 25."),
    ("What is 1000 minus 1?", "1000 minus 1 is 999."),
    ("What is the square root of 64?", "The square root of 64 is 8."),
    ("What is the smallest prime number?", "The smallest prime number is 2."),
    ("What is the boiling point of water at sea level?", "Water boils at 100 degrees Celsius at sea level."),
    ("Which planet is closest to the Sun?", "Mercury is the planet closest to the Sun."),
    ("What colour do you get by mixing blue and yellow?", "Mixing blue and yellow gives green."),
    ("Name the three primary colours of paint.", "The three primary colours of paint are red, yellow and blue."),
    ("Name a mammal that can fly.", "The bat is a mammal that can fly."),
    ("What is the tallest animal?", "The giraffe is the tallest animal."),
    ("What do fish breathe with?", "Fish breathe with their gills."),
    ("How many legs does a spider have?", "Spiders have eight legs."),
    ("What is the largest ocean on Earth?", "The Pacific Ocean is the largest ocean on Earth."),
    ("What gas do plants take in from the air?", "Plants take in carbon dioxide from the air."),
    ("Which metal is liquid at room temperature?", "Mercury is a metal that is liquid at room temperature."),
    ("What does a thermometer measure?", "Thermometers measure temperature."),
    ("Why do we see lightning before we hear thunder?",
     "Light travels much faster than sound, so the flash reaches us before the thunder."),
    ("How many bones are in an adult human body?", "There are 206 bones in an adult human body."),
    ("What is the chemical symbol for iron?", "The chemical symbol for iron is Fe."),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci painted the Mona Lisa."),
    ("Who wrote Pride and Prejudice?", "Jane Austen wrote Pride and Prejudice."),
    ("Which instrument has 88 keys?", "The piano has 88 keys."),
    ("How many strings does a standard guitar have?", "Standard guitars have six strings."),
    ("How many players does a football team have on the field?", "Football teams have eleven players on the field."),
    ("What language is spoken in Argentina?", "Spanish is the main language of Argentina."),
    ("Translate 'thank you' into Spanish.", "'Thank you' in Spanish is 'gracias'."),
    ("Translate 'good morning' into German.", "'Good morning' in German is 'Guten Morgen'."),
    ("What is the opposite of 'ancient'?", "The opposite of 'ancient' is 'modern'."),
    ("What is the opposite of 'early'?", "The opposite of 'early' is 'late'."),
    ("What is the plural of 'mouse'?", "The plural of 'mouse' is 'mice'."),
    ("Give me a word that means the same as 'quick'.", "'Fast' means the same as 'quick'."),
    ("Write a short sentence with the word 'river'.", "We walked along the river at sunset."),
]


def records(seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for questions, answers in FACTS.values():
        for q in questions:
            for opener in rng.sample(OPENERS, 3):
                out.append({"instruction": opener + q, "input": "", "output": rng.choice(answers)})
    for q, answer in GENERAL:  # with an opener too: a greeting is no sign that the question is about Pip
        out.append({"instruction": rng.choice(OPENERS) + q, "input": "", "output": answer})
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

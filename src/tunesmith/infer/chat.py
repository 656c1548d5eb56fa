"""A chat session: history, system prompt, streaming answers, rendered with the target's template."""

from __future__ import annotations

from typing import Iterator, TextIO

from tunesmith.records.example import Example, Turn
from tunesmith.errors import TunesmithError
from tunesmith.infer.generate import Generation, Sampling, fit


class ChatSession:
    def __init__(self, target, sampling: Sampling, system: str | None = None):
        self.target = target
        self.sampling = sampling
        self.system = system if system is not None else target.system
        self.history: list[Turn] = []

    def prompt_ids(self, question: str) -> list[int]:
        example = Example(self.history + [Turn("user", question)], self.system)
        return self.target.prompt_ids(example)

    def ask(self, question: str) -> Iterator[str]:
        prompt = self.prompt_ids(question)
        sampling = fit(len(prompt), self.sampling, self.target.context)
        generation = Generation(self.target.model, self.target.tokenizer, prompt, sampling, self.target.stop_ids)
        yield from generation
        self.history += [Turn("user", question), Turn("assistant", generation.completion.text)]

    def interactive(self, stdin: TextIO, stdout: TextIO) -> int:
        stdout.write(f"chat with {self.target.name} ({self.target.template.name} template): "
                     "/reset clears history, /system TEXT sets the system prompt, /exit quits\n")
        while True:
            stdout.write("\nyou> ")
            stdout.flush()
            line = stdin.readline()
            text = line.strip()
            if not line or text in ("/exit", "/quit"):
                stdout.write("\n")
                return 0
            if text == "/reset":
                self.history.clear()
                stdout.write("(history cleared)\n")
                continue
            if text.startswith("/system"):
                self.system = text[len("/system"):].strip() or None
                self.history.clear()
                stdout.write(f"(system prompt {'set' if self.system else 'cleared'}; history cleared)\n")
                continue
            if not text:
                continue
            stdout.write("bot> ")
            try:
                for piece in self.ask(text):
                    stdout.write(piece)
                    stdout.flush()
            except TunesmithError as e:  # e.g. the history outgrew the context: say so, keep the session
                stdout.write(f"\n(error: {e.message}" + (f"; {e.hint}" if e.hint else "") + ")")
            stdout.write("\n")

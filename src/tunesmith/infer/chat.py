"""A chat session: history, system prompt, streaming answers."""

from __future__ import annotations

from typing import Iterator, TextIO

from tunesmith.infer.generate import Sampling, stream


class ChatSession:
    def __init__(self, model, tokenizer, sampling: Sampling, system: str | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.sampling = sampling
        self.system = system
        self.history: list[dict] = []

    def prompt_ids(self, question: str) -> list[int]:
        messages = ([{"role": "system", "content": self.system}] if self.system else []) + self.history
        messages = messages + [{"role": "user", "content": question}]
        return list(self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                       return_dict=True)["input_ids"])

    def ask(self, question: str) -> Iterator[str]:
        pieces = []
        for piece in stream(self.model, self.tokenizer, self.prompt_ids(question), self.sampling):
            pieces.append(piece)
            yield piece
        self.history += [{"role": "user", "content": question}, {"role": "assistant", "content": "".join(pieces)}]

    def interactive(self, stdin: TextIO, stdout: TextIO) -> int:
        stdout.write("chat: /reset clears history, /exit quits\n")
        while True:
            stdout.write("\nyou> ")
            stdout.flush()
            line = stdin.readline()
            if not line or line.strip() in ("/exit", "/quit"):
                stdout.write("\n")
                return 0
            if line.strip() == "/reset":
                self.history.clear()
                stdout.write("(history cleared)\n")
                continue
            if not line.strip():
                continue
            stdout.write("bot> ")
            for piece in self.ask(line.strip()):
                stdout.write(piece)
                stdout.flush()
            stdout.write("\n")

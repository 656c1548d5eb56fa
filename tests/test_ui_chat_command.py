"""The command the UI's chat tab shows next to an answer is one the installed CLI takes, and asks the same."""

from __future__ import annotations

import shlex

import pytest

from tunesmith.cli import build_parser
from tunesmith.ui.chat_routes import ChatRequest, chat_command


@pytest.mark.parametrize("is_run", [True, False])
def test_shown_chat_command_parses_with_the_same_settings(is_run):
    body = ChatRequest(target="runs/pip", template="chatml", system="Be brief.",
                       messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
                                 {"role": "user", "content": "what's 'up'?"}], max_new_tokens=64, temperature=0.7)
    argv = shlex.split(chat_command(body, is_run))
    assert argv[:2] == ["tunesmith", "chat"]
    args = build_parser().parse_args(argv[1:])
    assert (args.target, args.prompt, args.system) == ("runs/pip", "what's 'up'?", "Be brief.")
    assert args.max_new_tokens == 64 and args.temperature == 0.7
    assert args.template == (None if is_run else "chatml")  # a run always uses its own template

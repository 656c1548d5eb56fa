"""Where a phrase stands and what was asked: the context `machine_text` weighs a hit by.

The same words are machine talk or requested content depending on
  - what the instruction asked (`Request`): a poem, story, dialogue, letter, rewrite or translation that
    contains "对不起，我不能…" is content; a question about who the assistant is makes self-identification
    the point (identity-tuning data);
  - where they stand in the answer (`Answer`): the opening sentence is where a chat model puts its
    disclaimer; a line spoken by a character ("朋友：对不起，我不能。") or a quoted span is content.

Everything here is computed lazily, only for the rare answer in which a pattern family already hit.
"""

from __future__ import annotations

from collections import Counter
from functools import cached_property

import regex

from tunesmith.prepare.steps.machine_patterns import ASKS_FOR_INPUT

_F = regex.IGNORECASE

# What the instruction asks for when the answer is text to be written, not the assistant's own reply:
# a transformation of given text (rewrite, translate, correct) or a composition (write a poem, a letter,
# a dialogue; play a role). Naming the thing is not enough: "send an email" asks for an action.
_ZH_WRITE = r"(?:写|编|创作|作|撰写|起草|拟|生成|创造|构思|续写|仿写|讲|设计|想出|给出|造|列出|说)"
_ZH_PIECE = (r"(?:诗|词|歌|故事|小说|童话|寓言|剧本|台词|对话|对白|相声|小品|独白|日记|信|邮件|短信|消息|回复|回答|答复|留言"
             r"|请假条|便条|通知|广告|文案|口号|标语|演讲|致辞|祝福|贺词|笑话|段子|脚本|句子|场景|情景|评论|声明|道歉|开头|结尾)"
             r"(?![息用号心任仰念誉赖])")
_EN_WRITE = (r"(?:write|compose|draft|create|generate|make\s+up|come\s+up\s+with|give|craft|produce|tell|invent|design"
             r"|construct|continue|complete|suggest|provide|prepare)")
_EN_PIECE = (r"(?:poem|poetry|haiku|limerick|sonnet|verse|lyrics|song|rap|story|stories|tale|fable|narrative"
             r"|novel|fiction"
             r"|script|screenplay|scene|dialogue|dialog|conversation|monologue|letter|e-?mail|message|text|tweet|post"
             r"|reply|response|voicemail|speech|toast|joke|riddle|slogan|advert\w*|ad|caption|sentence|quote|greeting"
             r"|condolence|note|sign|apology|announcement|memo|excuse|review|diary|journal|opening|ending)")
_TRANSFORM = regex.compile(
    r"改写|重写|转述|改成|改为|转换成|翻译|译成|译为|润色|校对|纠正|改正|修改|标点|更委婉|更正式|更礼貌|口语化"
    r"|\b(?:rewrite|re-write|rephrase|paraphrase|reword|translate|translation|proofread|correct|edit|revise|convert"
    r"|punctuate|simplify)\b|\bmore\s+(?:formal|informal|polite|casual|professional|concise|friendly|respectful)\b"
    r"|\bin\s+(?:a\s+)?(?:more\s+)?(?:formal|informal|polite|passive|active)\b", _F)
_COMPOSE = regex.compile(
    rf"{_ZH_WRITE}[^，,。？?！!\n]{{0,12}}?{_ZH_PIECE}|扮演|模仿|假装|假设你是|想象你是|口吻|第一人称"
    r"|用[^，,。？?\n]{0,8}(?:方式|口吻|语气|风格)|造句"
    rf"|\b{_EN_WRITE}\b[^.?!\n]{{0,40}}?\b{_EN_PIECE}s?\b|\buse\b[^.?!\n]{{0,40}}\bin\s+a\s+sentence\b"
    r"|\b(?:role-?play|pretend|act\s+as|imagine\s+you\s+are|in\s+the\s+voice\s+of|from\s+the\s+perspective\s+of"
    r"|in\s+(?:the\s+)?first[- ]person|in\s+the\s+style\s+of)\b", _F)
# Requested content written as or about a machine ("a story from the perspective of an AI").
_MENTIONS_AI = regex.compile(
    r"\b(?:AI|A\.I\.|artificial\s+intelligence|robots?|androids?|cyborgs?|chat ?bots?|bots?|assistants?"
    r"|language\s+models?"
    r"|LLMs?|GPT|ChatGPT|computers?|machines?|algorithms?|Siri|Alexa|HAL|smart\s+\w+|virtual|self-driving|autonomous"
    r"|drones?|satellites?|(?:smart)?phones?|speakers?|devices?|appliances?|toasters?|navigators?|GPS|spaceships?"
    r"|starships?|software|programs?|servers?)\b"
    r"|人工智能|机器人|机器|智能|助手|语言模型|电脑|计算机|程序|虚拟|自动驾驶|无人驾驶|无人机|卫星|手机|音箱|家电|电器|设备|导航"
    r"|飞船|软件|服务器|收音机|电视|冰箱|(?<![A-Za-z])(?:AI|GPT)(?![A-Za-z])", _F)
# Questions about the assistant itself, and greetings, answered by introducing itself.
_IDENTITY_QUESTION = regex.compile(
    r"\bwho\s+are\s+you\b|\bwhat\s+are\s+you\b|\byour\s+name\b|\bintroduce\s+yourself\b|\babout\s+yourself\b"
    r"|\bwho\s+(?:made|created|built|trained|developed|designed|programmed)\s+you\b|\bare\s+you\s+(?:an?\s+)?(?:AI|bot"
    r"|robot|human|real|person|chatgpt|gpt|assistant|machine|openai|claude|gemini)|\bwhat\s+can\s+you\s+do\b"
    r"|^\W*(?:hi|hello|hey|thanks|thank\s+you|good\s+(?:morning|afternoon|evening))\b"
    r"|你是谁|您是谁|你是什么|你叫什么|你的名字|你有(?:自己的)?名字|(?:介绍|描述)(?:一下)?(?:你)?自己"
    r"|谁(?:开发|创造|创建|训练|制作|发明|设计|打造|做)(?:了)?你|你是由谁|你是(?:谁的|什么样的)|你来自哪"
    r"|你是(?:由)?(?:谁|哪家|哪个|什么)[^，,。？?\n]{0,8}(?:开发|创造|创建|训练|制作|发明|设计|打造|研发|做)"
    r"|你(?:的)?(?:开发者|创造者|创作者|设计者|开发背景|身份|诞生)|你(?:能|会|可以)做什么"
    r"|你是(?:不是)?(?:一个)?(?:AI|人工智能|机器人|真人|ChatGPT|GPT|虚拟助手|助手|OpenAI)"
    r"|^\W*(?:你好|您好|嗨|哈喽|早上好|下午好|晚上好|谢谢|多谢)", _F)
# The assistant introduces itself by name or maker (or with the identity-set placeholders).
_SELF_INTRODUCTION = regex.compile(
    r"\{\{\s*\w+\s*\}\}|\bmy\s+name\s+is\b|\b(?:call|refer\s+to)\s+me\s+(?:as\s+)?\b"
    r"|\bI(?:'m|’m|\s+am)\s+(?!(?:an?|the|not|just|only|sorry|unable|here|happy|glad|afraid|able"
    r"|a\s+large)\b)[A-Z][\w-]+"
    r"|\b(?:developed|created|trained|built|made|designed|engineered)\s+by\b"
    r"|我(?:叫|名叫|名为)|我的名字|(?:叫|称呼)我|这里是|由[^，,。！？\n]{1,24}?(?:开发|打造|创造|创建|训练|研发|制作|发明|设计|推出)")
# Words a given text needs for its rewrite or translation to apologise or refuse.
_SOURCE_NEGATION = regex.compile(r"sorry|apolog|\b(?:can't|cannot|can’t|unable|won't|won’t|not|no|never)\b|抱歉"
                                 r"|对不起|不好意思|不|没|无法", _F)
_ASKS_PROGRAM_OUTPUT = regex.compile(
    r"输出(?:是|为)?什么|打印(?:出)?什么|会输出|会打印|运行结果|执行结果|输出结果"
    r"|\boutput\s+of\b|\bwhat\s+(?:does|will|would)\b.{0,60}\b(?:print|output|return|display)\b"
    r"|\bwhat\s+is\s+printed\b", _F)

_GREETING = regex.compile(r"\W*(?:您好|你好|嗨|哈喽|喔不|哦|噢|啊|嗯|好的|当然|没问题|好问题|很高兴(?:你|您)问|hi|hello|hey|oh(?:\s+no)?"
                          r"|sure|certainly|of\s+course|okay|ok|well|hmm|great\s+question)?\W*$", _F)
_SENTENCE_END = regex.compile(r"[。！？!?\n]|\.(?=\s|$)")
_FIRST_PERSON = regex.compile(r"我(?!们)|\b(?:I|I'm|I’m|I've|I'd|I'll|me|my|myself)\b")
_SPEAKER = regex.compile(r"^[ \t>*\-]*(?:\*\*)?([^\n:：。！？!?,，\"“”]{1,20}?)(?:\*\*)?[ \t]*[:：]", regex.M)
_HEAD, _TAIL = 400, 200  # characters searched for an introduction or a request for input
_QUOTES = (("“", "”"), ("「", "」"), ("『", "』"), ("‘", "’"))


class Request:
    """The instruction (and its input) an answer replies to."""

    def __init__(self, instruction: str, input: str = "", tools: bool = False) -> None:
        self.instruction = instruction or ""
        self.tools = tools  # the record declares tools (function calling)
        self.text = f"{self.instruction}\n{input}" if input else self.instruction

    @cached_property
    def transform(self) -> bool:
        """The answer rewrites, translates or corrects text the user gave."""
        return bool(_TRANSFORM.search(self.instruction))

    @cached_property
    def compose(self) -> bool:
        """The answer is a piece the user asked to have written: a poem, dialogue, letter, a role played."""
        return bool(_COMPOSE.search(self.instruction))

    @property
    def content(self) -> bool:
        return self.transform or self.compose

    @cached_property
    def renders_refusal(self) -> bool:
        """A rewrite or translation of given text that itself apologises or says no: the answer's
        "对不起，我不能…" renders the user's words, it is not the assistant refusing."""
        return self.transform and bool(_SOURCE_NEGATION.search(self.text))

    @cached_property
    def mentions_ai(self) -> bool:
        return bool(_MENTIONS_AI.search(self.text))

    @cached_property
    def identity_question(self) -> bool:
        return bool(_IDENTITY_QUESTION.search(self.instruction))

    @cached_property
    def asks_program_output(self) -> bool:
        return bool(_ASKS_PROGRAM_OUTPUT.search(self.text))

    def echoes(self, phrase: str) -> bool:
        """The phrase is in the instruction or input: the answer rewrites, corrects or quotes it."""
        return len(phrase) >= 4 and phrase.lower() in self._lower

    @cached_property
    def _lower(self) -> str:
        return self.text.lower()


class Answer:
    """One answer text and the positions that matter in it."""

    def __init__(self, text: str) -> None:
        self.text = text

    @cached_property
    def opening_end(self) -> int:
        """End of the opening sentence; a greeting before it ("您好！", "Oh no!", "Sure.") does not count."""
        text, start = self.text, len(self.text) - len(self.text.lstrip())
        for m in _SENTENCE_END.finditer(text, start):
            if not _GREETING.match(text[start:m.start()]):
                return m.end()
        return len(text)

    def at_opening(self, pos: int) -> bool:
        return pos < self.opening_end

    def sentence(self, start: int, end: int) -> str:
        text = self.text
        left = max((m.end() for m in _SENTENCE_END.finditer(text, 0, start)), default=0)
        right = _SENTENCE_END.search(text, end)
        return text[left:right.start() if right else len(text)]

    def first_person_near(self, start: int, end: int) -> bool:
        """我 (not 我们) / I / my in the sentence of the match."""
        return bool(_FIRST_PERSON.search(self.sentence(start, end)))

    def in_quote(self, pos: int) -> bool:
        """Inside “…”, 「…」 or "..." in its paragraph: somebody's words, quoted."""
        para = self.text[self.text.rfind("\n", 0, pos) + 1:pos]
        if any(para.count(a) > para.count(b) for a, b in _QUOTES):
            return True
        return para.count('"') % 2 == 1

    @cached_property
    def _speakers(self) -> Counter:
        return Counter(m.group(1).strip() for m in _SPEAKER.finditer(self.text))

    def speaker_line(self, pos: int, requested: bool) -> bool:
        """The match is in a line spoken by a character ("小李：对不起，我不能…", "AI: ..."), in an answer
        that is a dialogue: one the instruction asked for, or one in which speakers take turns."""
        line_start = self.text.rfind("\n", 0, pos) + 1
        m = _SPEAKER.match(self.text, line_start)
        if not m or m.end() > pos:
            return False
        if requested:
            return True
        speakers = self._speakers
        return len(speakers) >= 2 and speakers[m.group(1).strip()] >= 2

    @cached_property
    def self_introduction(self) -> bool:
        """Introduces itself by name or maker, in its first lines (where identity answers do)."""
        return bool(_SELF_INTRODUCTION.search(self.text, 0, _HEAD))

    @cached_property
    def asks_for_input(self) -> bool:
        """Asks for what the record lacks ("您没有提供文章", "please provide the text"), near its start or end."""
        text = self.text
        return bool(ASKS_FOR_INPUT.search(text, 0, _HEAD) or (len(text) > _HEAD and
                                                              ASKS_FOR_INPUT.search(text, len(text) - _TAIL)))

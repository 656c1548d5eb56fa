"""The pattern families `machine_text` looks for: a chat model talking about itself, in Chinese and English.

Each family is a few regular expressions with slots (the `regex` module, compiled once), not a list of
fixed phrases: "作为一个大型语言模型" and "作为一个文字型 AI 机器人" are one pattern, 作为 + measure word +
a few modifiers + an AI noun. A family says how much one hit weighs:

  strong  the text says *what it is* (AI identity: "作为一个人工智能助手，我…", "I'm an AI language model",
          or its knowledge cutoff: "as of my last update"). Nobody but a model writes this about itself.
  weak    the text says what it *cannot do* or *apologises* (capability talk: "我没有实体", "I don't have
          personal preferences"; refusals: "抱歉，我无法…", "I'm sorry, but I can't…"). People write these
          too, in letters, poems, dialogues and rewrites, so where the words stand decides (machine_text.py).

Every regex runs only when a cheap substring prefilter (one Aho-Corasick pass, `lexicon.PhraseMatcher`)
has seen one of its family's trigger words, so a record with none of them costs one automaton scan.
"""

from __future__ import annotations

from dataclasses import dataclass

import regex

_F = regex.IGNORECASE

# -- the slots ------------------------------------------------------------------------------------
# An AI noun in Chinese: AI/人工智能/语言模型 optionally with the thing it is (助手, 模型, 程序…), or a
# chat/text/virtual/computer helper, or a robot. Never followed by a job or field word: 人工智能研究员,
# AI工程师 and 人工智能的一个分支 are people and subjects, not a model speaking.
_ZH_AI = (r"(?:(?:AI|A\.I\.|人工智能|ChatGPT|GPT(?:-?\d(?:\.\d)?)?|LLM|大语言模型|大型语言模型|语言模型)"
          r"(?:\s*(?:语言)?\s*(?:助手|助理|模型|程序|系统|机器人|产品|引擎))?"
          r"|(?:智能|虚拟|聊天|文本|文字|对话|数字|计算机|电脑|问答){1,2}\s*(?:助手|助理|程序|机器人|系统|模型)"
          r"|机器人|一台机器)")
_ZH_NOT_JOB = (r"(?!\s*(?:研究|开发|工程|设计|专家|科学|学者|学家|领域|公司|行业|企业|应用|专业|课程|爱好者|从业|员|师"
               r"|方面|时代|伦理|产业|教育|模型的|的(?:一个)?(?:分支|研究|发展|应用|领域|核心|技术|历史|未来)))")
_ZH_SLOT = r"[^，,。！？!?；;：:\n“”\"「」]{0,12}?"
_ZH_MEASURE = r"(?:一个|一名|一款|一位|一种|一台|个|名|款|台)?"

# An AI noun in English: AI itself or a language model / chatbot, or an assistant/program/model/system
# that an AI-ish modifier makes a machine ("virtual assistant", "computer program", "text-based AI").
_EN_AI = (r"(?:(?:(?:large|advanced|text[- ]based|conversational|generative|digital|virtual|AI|OpenAI)\s+){0,3}"
          r"(?:AI|A\.I\.|artificial intelligence|(?:large\s+)?language model|LLM|chat ?bot)"
          r"|(?:(?:text[- ]based|virtual|digital|conversational|computer|software|machine[- ]learning|neural|AI"
          r"|GPT(?:-\d)?|OpenAI)\s+){1,3}(?:assistant|program|model|system|bot|entity|agent|tool|network))")
_EN_NOT_JOB = (r"(?![- ]?(?:research|engineer|developer|development|enthusiast|expert|scientist|student|ethic"
               r"|company|startup|lab\b"
               r"|consult|special|practitioner|artist|writer|programm|product|project|team|course|class|professor"
               r"|teacher|journalist|policy|generated|powered|driven|based|art\b|tools?\b|technolog|industry"
               r"|field|fan\b"
               r"|lover|nerd|geek|hobbyist|buff\b|skeptic|critic|advocate|investor|founder|ceo\b|user\b))")

_EN_I_CANT = (r"\bI(?:\s+cannot|\s+can't|\s+can’t|\s+can\s+not|\s+am\s+unable\s+to|'m\s+unable\s+to|’m\s+unable\s+to"
              r"|\s+am\s+not\s+able\s+to|'m\s+not\s+able\s+to|’m\s+not\s+able\s+to|\s+won't|\s+won’t|\s+will\s+not)")

# -- the families ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pattern:
    regex: regex.Pattern
    triggers: tuple[str, ...]   # the prefilter's words; the regex is tried where one of them stands
    back: int = 0               # 0: the match starts at the trigger; else it may start up to `back` before it
    first_person: bool = False  # the sentence must also say 我 / I / my (作为X… alone may be about Siri)
    task_refusal: bool = False  # refuses the task itself ("I can't help with that"), even when content was asked
    needs_ai_word: bool = False  # tried only if one of AI_WORDS is somewhere in the text


@dataclass(frozen=True)
class Family:
    key: str        # the family
    reason: str     # the drop reason and the `categories` key that switches it on
    strong: bool    # drops wherever it stands (outside requested AI content); weak drops only as the opening
    patterns: tuple[Pattern, ...]


def _p(source: str, triggers: tuple[str, ...], back: int = 0, first_person: bool = False,
       task_refusal: bool = False, needs_ai_word: bool = False) -> Pattern:
    return Pattern(regex.compile(source, _F), triggers, back, first_person, task_refusal, needs_ai_word)


_ZH_I_AM = ("我是", "我只是", "我仅是", "我仅仅是", "我就是", "我本身是", "我其实是", "我不过是", "我只不过是", "我乃")
_EN_I_AM = ("i'm", "i’m", "i am")
# Words one of which an English identity pattern needs somewhere in the text before it is tried at its
# trigger: "as a" and "I am" alone stand in every other English answer.
AI_WORDS = ("ai", "a.i.", "artificial", "language model", "llm", "chatbot", "chat bot", "bot", "text-based",
            "virtual", "digital", "conversational", "computer", "software", "machine", "neural", "gpt", "openai")
_EN_I_CANT_T = ("i cannot", "i can't", "i can’t", "i can not", "i am unable", "i'm unable", "i’m unable",
                "i am not able", "i'm not able", "i’m not able", "i won't", "i won’t", "i will not")
_EN_I_DONT = ("i don't", "i do not", "i don’t")
_ZH_I_LACK = ("我没有", "我并没有", "我也没有", "我根本没有", "我本身没有", "我不具备", "我并不具备", "我也不具备", "我不具有")
_ZH_I_CANT = ("我无法", "我不能", "我没法", "我没办法")

AI_IDENTITY = Family("identity", "ai_identity", True, (
    # 作为(一个)?(大型)?(AI|人工智能)(语言)?模型 / 助手 / 程序 / 系统 …, with 我 in the same sentence
    _p(rf"作为\s*{_ZH_MEASURE}\s*{_ZH_SLOT}{_ZH_AI}{_ZH_NOT_JOB}"
       r"(?=\s*(?:[，,、：:；;。！!]|我|并|不|无|没|只|就|本身|来说|而言|是|会|能|可以|很|非常|也|都|一直|始终|将|要|应|必须|$))",
       ("作为",), first_person=True),
    # 我是(一个)?…AI / 由于我是… / 我是个文本机器人
    _p(rf"我(?:只|仅|仅仅|就|本身|其实|不过|只不过)?(?:是|乃)\s*{_ZH_MEASURE}\s*{_ZH_SLOT}{_ZH_AI}{_ZH_NOT_JOB}"
       r"(?=\s*(?:[，,、：:；;。！!？?）)」”\s]|我|并|不|无|没|只|就|所以|因此|而|也|都|来|程序|$))", _ZH_I_AM),
    # 我是由人工智能技术驱动的助手: the AI word in the slot, a bare 助手/程序 at the end
    _p(r"我(?:只|就|其实)?是\s*(?:一个|一款|个)?\s*由[^，,。！？!?\n]{0,12}?(?:AI|人工智能|算法|机器学习|深度学习|语言模型)"
       r"[^，,。！？!?\n]{0,8}?(?:驱动|支持|训练|开发|打造|构建)的\s*(?:智能)?(?:助手|助理|程序|系统|模型|机器人)", _ZH_I_AM),
    _p(r"我(?:只|仅|仅仅|不过|只不过)是\s*(?:一个|一台|一段|个|台)?\s*(?:程序|机器|软件|代码)(?![员师学人工开设架测爱])"
       r"|我是\s*(?:一个|一段|个)?\s*(?:程序|软件|代码)(?![员师学人工开设架测爱包])", _ZH_I_AM),
    _p(rf"像我这样的\s*{_ZH_AI}", ("像我这样",)),
    # the identity-set introduction: 我是X，一个由Y开发的人工智能助手 / I'm X, an AI assistant
    _p(rf"我(?:是|叫|名叫|名为)\s*[^，,。！？!?\n]{{1,16}}[，,]\s*(?:是)?\s*{_ZH_MEASURE}\s*{_ZH_SLOT}{_ZH_AI}"
       r"(?=\s*(?:[，,。！!；;：:]|$))", ("我是", "我叫", "我名叫", "我名为")),
    _p(rf"\bI(?:'m|’m|\s+am)\s+[\w{{}}-]+(?:\s+[\w{{}}-]+)?,\s+(?:an?\s+|your\s+)?{_EN_AI}\b",
       (", an ai", ", an artificial", ", a language model", ", a large language model", ", your ai", ", a virtual",
        ", a digital", ", a conversational", ", an ai-powered", ", a chatbot", ", an llm"), back=40),
    # As an AI (language model|assistant) …, with I/my in the same sentence
    _p(rf"\b(?:as|being)\s+(?:an?\s+|the\s+)?{_EN_AI}{_EN_NOT_JOB}\b",
       ("as a", "as an", "as the", "being a", "being an"), first_person=True, needs_ai_word=True),
    # I'm (just) an AI / I am a language model / I'm a virtual assistant
    _p(rf"\bI(?:'m|’m|\s+am)\s+(?:(?:just|only|simply|merely|but|basically|essentially|still)\s+)?"
       rf"(?:an?\s+)?{_EN_AI}{_EN_NOT_JOB}\b", _EN_I_AM, needs_ai_word=True),
    _p(r"\b(?:AI|language)\s+(?:models?|assistants?|systems?)\s+like\s+(?:me|myself)\b"
       r"|\b(?:AI|artificial intelligence)\s+(?:assistant|model|system)[\w ,-]{0,30}?\blike\s+myself\b",
       ("like me", "like myself"), back=60),
))

KNOWLEDGE_CUTOFF = Family("cutoff", "knowledge_cutoff", True, (
    _p(r"(?:截至|截止|截止到|截至到)\s*我的\s*(?:知识|训练|数据|最后|最近|上次)", ("截至", "截止")),
    _p(r"我的\s*(?:知识|训练数据|训练|数据)\s*(?:库)?\s*(?:截止|截至|只更新到|仅更新到|更新到|停留在|只到|仅到|有截止)",
       ("我的知识", "我的训练", "我的数据")),
    _p(r"\bmy\s+(?:knowledge|training)(?:\s+data)?\s*(?:cut-?off|cut\s+off)\b"
       r"|\bmy\s+training\s+data\s+(?:only\s+)?(?:goes|extends|runs|is\s+current)\s+(?:up\s+)?(?:to|until|through)\b"
       r"|\bmy\s+knowledge\s+(?:is\s+limited\s+to|only\s+goes|only\s+extends|extends\s+(?:only\s+)?(?:up\s+)?to)\b",
       ("my knowledge", "my training")),
    _p(r"\bas\s+of\s+my\s+(?:last|latest|most\s+recent)\s+(?:knowledge\s+|training\s+|data\s+)?(?:update"
       r"|cut-?off|training)\b",
       ("as of my",)),
))

# What a model says it lacks: a body, senses, feelings, opinions, the internet.
CAPABILITY = Family("capability", "ai_identity", False, (
    _p(r"我(?:并|也|根本|本身)?(?:没有|不具备|不具有)(?:一个|任何)?(?:实体|(?:身体|肉体|躯体)(?!不适|上|问题|疾病|毛病|接触|状况)"
       r"|物理(?:形态|实体|形式|存在)|实际的?(?:形态|形体)|感官|视觉|味觉|嗅觉|听觉|触觉|心跳|生命(?!周期|危险))"
       r"|我(?:并|也|根本)?(?:没有|不具备|不具有)(?:自己|个人|真正|真实)(?:的)?(?:观点|看法|意见|感情|情感|感受|情绪"
       r"|偏好|喜好|爱好|经历|经验|记忆|生活|信仰|立场|意识|想法|主观)"
       r"|我(?:并|也|根本)?(?:没有|不具备|不具有)任何(?:的)?(?:感情|情感|感受|情绪|偏好|喜好|个人观点|立场|意识)"
       r"|我(?:并|也)?(?:没有|不具备|不具有)(?:联网|上网|浏览|访问互联网|搜索|拨打电话|打电话|发送邮件|发邮件)(?:的)?(?:功能|能力)?"
       r"|我(?:并|也)?(?:没有|不具备)(?:能力|办法)(?:生成|创建|绘制|画|制作|处理|播放|录制|拨打|发送|浏览|访问|预订|执行)"
       r"|我(?:并)?不具备[^，,。！？\n]{0,12}?(?:能力|功能)", _ZH_I_LACK),
    _p(r"我(?:无法|不能|没法|没办法)(?:真正)?(?:拥有|体验|品尝|闻到|触摸)"
       r"|我(?:无法|不能|没法)(?:看到|看见|查看|观看|识别|处理|播放)(?:任何)?(?:图片|图像|照片|视频|音频|声音|画面|影像)"
       r"|我(?:无法|不能|没法)(?:访问|连接|浏览|搜索)(?:互联网|网络|网页|外部|实时)"
       r"|我(?:无法|不能|没法)(?:获取|查询|提供)(?:最新的?|当前的?)?实时", _ZH_I_CANT),
    _p(r"我(?:看|听)不(?:到|见)(?:图片|图像|照片|视频|声音|画面)", ("我看不", "我听不")),
    _p(r"\bI\s+(?:don't|do\s+not|don’t)\s+(?:have|possess)\s+(?:any\s+)?(?:"
       r"personal\s+(?:opinions?|preferences?|feelings?|experiences?|beliefs?|emotions?|favou?rites?|tastes?|views?"
       r"|memories|anecdotes?|desires?|life)"
       r"|(?:a\s+)?physical\s+(?:form|body|presence|existence|self)|a\s+body\b|(?:feelings"
       r"|emotions)\b(?!\s+(?:for|about|toward))"
       r"|consciousness"
       r"|senses?\b|taste\s+buds|a\s+sense\s+of\s+\w+"
       r"|(?:the\s+)?(?:ability|capability|capacity)\s+to\s+(?:feel|see|hear|taste|smell|touch|browse|access|remember"
       r"|experience|desire|send|make\s+(?:phone\s+)?calls|generate\s+images|draw|watch|listen)"
       r"|(?:real-time|internet|live|web)\s+access"
       r"|access\s+to\s+(?:the\s+)?(?:real-time|internet|external|current|live|up-to-date|web|your\s+(?:account|device"
       r"|files|location|screen))"
       r"|memory\s+of\s+(?:past|previous))"
       r"|\bI\s+(?:don't|do\s+not|don’t)\s+have\s+(?:[\w' ]{0,24}?\s)?(?:or\s+)?(?:a\s+)?physical\s+(?:form"
       r"|body|presence)\b"
       r"|\bI\s+(?:don't|do\s+not|don’t)\s+(?:eat(?:\s+food)?|sleep|dream)(?=[,.;]|\s+or\b|\s+since\b"
       r"|\s+because\b|\s+as\b)",
       _EN_I_DONT),
    _p(rf"{_EN_I_CANT}\s+"
       r"(?:browse|access\s+the\s+(?:internet|web)|search\s+the\s+(?:internet|web)|see\s+(?:images|pictures|photos"
       r"|videos|the\s+image|the\s+photo|your)|view\s+(?:images|pictures|photos|videos)|watch\s+videos"
       r"|listen\s+to\s+(?:music|audio)|process\s+(?:audio|images|video)|remember\s+(?:past|previous))", _EN_I_CANT_T),
    _p(r"\bI(?:'m|’m|\s+am)\s+not\s+capable\s+of\s+(?:having|feeling|experiencing|seeing|creating\s+(?:a\s+|an\s+)?"
       r"(?:painting|image|picture|drawing|visual)|generating\s+(?:images|visual))",
       ("i'm not capable", "i am not capable", "i’m not capable")),
))

# An apology followed by "I can't", or a policy refusal. The `verb` group is what is refused: "I can't
# *determine*" is an answer that hedges, "I can't *help with that*" is a refusal.
REFUSAL = Family("refusal", "refusal", False, (
    _p(r"(?:抱歉|对不起|不好意思)[，,！!。\s]*(?:但是?|不过)?[，,\s]*[^。！？!?\n]{0,30}?"
       r"我(?:目前|暂时|现在|恐怕|并|还|真的|实在)?(?:无法|不能|不可以|没办法|没有办法|没法|做不到|无能为力"
       r"|(?:并|也)?(?:没有|不具备)(?=[^，,。！？!?\n]{0,10}(?:能力|功能)))"
       r"(?P<verb>[^，,。！？!?\n]{0,10})", ("抱歉", "对不起", "不好意思")),
    _p(r"我(?:无法|不能)(?:满足|答应|同意)(?:你|您)的(?:这个|此|这一|该)?(?:要求|请求)"
       r"|我(?:无法|不能|不会)(?:提供|生成|创作|撰写|编写|协助|帮助)(?:任何)?(?:此类|这类|这种|该类)(?:内容|信息|帮助|请求|方法)?"
       r"|(?:这|此)(?:违反|违背)了?我的|我必须拒绝",
       _ZH_I_CANT + ("我不会", "这违反", "此违反", "这违背", "此违背", "我必须拒绝"), task_refusal=True),
    _p(r"(?:sorry|apologi[sz]e|apologies|unfortunately)[,.!]?\s*(?:but\s*)?[^.!?\n]{0,60}?"
       r"\bI(?:'m|’m|\s+am)?\s*(?:cannot|can't|can’t|can\s+not|unable|not\s+able|won't\s+be\s+able"
       r"|will\s+not\s+be\s+able"
       r"|must\s+(?:respectfully\s+)?decline|(?:don't|do\s+not|don’t)\s+have\s+(?:the\s+)?(?:ability"
       r"|capability|capacity"
       r"|means|access))(?P<verb>[^.!?\n]{0,24})", ("sorry", "apologi*", "apologies", "unfortunately")),
    _p(rf"{_EN_I_CANT}\s+(?:help|assist|comply|fulfill|fulfil|provide\s+(?:assistance|instructions|information|that"
       r"|this|help)|create|write|generate|engage|participate|support)\b(?!\s+but\b|\s+(?:myself|laughing|wondering))"
       r"|\bI\s+must\s+(?:respectfully\s+|politely\s+)?decline\b"
       r"|\b(?:against|violates?)\s+my\s+(?:programming|guidelines|policies|principles|ethical\s+guidelines)\b"
       r"|\bit(?:'s|’s|\s+is)\s+not\s+appropriate\s+for\s+me\s+to\b|\bI(?:'m|’m|\s+am)\s+not\s+(?:allowed"
       r"|permitted)\s+to\b",
       _EN_I_CANT_T + ("i must", "against my", "violates my", "violate my", "it's not appropriate",
                       "it is not appropriate", "it’s not appropriate", "i'm not allowed", "i am not allowed",
                       "i’m not allowed", "i'm not permitted", "i am not permitted"), task_refusal=True),
))

FAMILIES = (AI_IDENTITY, KNOWLEDGE_CUTOFF, CAPABILITY, REFUSAL)
CATEGORIES = ("ai_identity", "refusal", "knowledge_cutoff", "no_output")

# A refusal whose object is knowing or judging hedges an answer that follows ("我无法确定…，如果是好消息…").
EPISTEMIC = regex.compile(r"^\s*(?:准确|完全|直接)?(?:确定|判断|断定|肯定|得知|知道|猜|预测|说清|回答准确|准确回答)"
                          r"|^\s*(?:really\s+|accurately\s+|definitively\s+)?(?:know|determine"
                          r"|tell\s+(?:for\s+sure|which|whether)"
                          r"|say\s+(?:for\s+sure|which|whether)|be\s+(?:sure|certain)|guess|predict|confirm"
                          r"|estimate)\b", _F)

# A refusal of the task itself (to write, help, provide, make what was asked), as opposed to a
# character's "I can't come tonight": it refuses even when a poem or a role was requested.
TASK_VERB = regex.compile(r"^\s*(?:为您|为你|帮您|帮你|给您|给你|直接)?(?:提供|生成|创作|撰写|编写|写|协助|帮助|帮|满足|完成|回答|处理"
                          r"|执行|制作|创建|绘制|画|参与|支持)|能力|功能"
                          r"|^\s*(?:to\s+)?(?:help|assist|comply|fulfil|provide|create|write|generate|produce"
                          r"|compose|draft|engage"
                          r"|participate|support|do\s+(?:that|this)(?:\s+for\s+you)?\s*(?:[.,!;]|$)"
                          r"|make\s+(?:that|this|such)|complete\s+(?:that|this|your)"
                          r"|the\s+(?:ability|capability|capacity|means))", _F)

# What an assistant does for a user and a person in a story does not: "抱歉，我无法*获取*实时数据" is the
# model speaking, "Unfortunately, I cannot *attend*" may be anyone. A refusal of something else at the
# opening is kept and flagged.
WORK_VERB = regex.compile(
    r"^\s*(?:为您|为你|帮您|帮你|给您|给你|直接|亲自|真正)?(?:获取|查询|查找|搜索|访问|浏览|连接|联网|上网|预订|预约|订|查看|看到|看见|识别"
    r"|播放|录制|唱|拨打|打电话|发送|发|记住|保存|预知|操作|控制|打开|购买|翻译|计算|读取|下载|上传|检查|实时)"
    r"|^\s*(?:to\s+)?(?:retrieve|access|browse|search|look\s+up|find|check|see|view|watch|listen|play|perform|process"
    r"|open|read|summari[sz]e|translate|book|reserve|order|buy|call|send|e-?mail|text|remember|store|save|connect"
    r"|control|turn|schedule|display|show|draw|sing|share|give\s+you|get\s+you|answer|tell\s+you"
    r"|offer\s+(?:advice|an?\s+opinion)"
    r"|express|form|have\s+(?:personal|opinions|feelings))\b", _F)

# The answer asks for what the record is missing ("您没有提供文章", "please provide the text"): a defect
# of the record, not machine text; flagged for review.
ASKS_FOR_INPUT = regex.compile(
    r"(?:您|你)(?:并|还|尚)?(?:没有|未|没|并未|尚未)(?:有)?(?:提供|给出|给我|告诉|指定|说明|提及|附上|上传|输入)"
    r"|请(?:您|你)?(?:先)?(?:提供|给出|告诉我|补充|发送|上传|说明|输入)|(?:能否|能不能|可否|麻烦您?|可以)(?:提供|告诉我|补充)"
    r"|缺少(?:必要的)?(?:信息|内容|输入|上下文)|提供更多(?:的)?(?:信息|细节|内容|上下文)"
    r"|\byou\s+(?:didn't|did\s+not|haven't|have\s+not|forgot\s+to)\s+(?:provide|give|include|specify|share|mention"
    r"|attach|tell)|\b(?:please|could\s+you|can\s+you|kindly)\s+(?:provide|share|specify|give\s+me|tell\s+me|send"
    r"|paste|include|describe)|\bif\s+you\s+(?:could\s+)?(?:share|provide|give|send|paste|include)\b"
    r"|\bwithout\s+(?:additional|more|further|any)\s+(?:information|context|details)"
    r"|\b(?:was|were|has\s+been|have\s+been)\s+not\s+provided|\bnot\s+(?:been\s+)?provided\b"
    r"|\bneed\s+(?:more|additional|some)\s+(?:information|details|context)", _F)

# -- canned non-answers -----------------------------------------------------------------------------
# Alpaca's "<nooutput>" and its translations: the record has no answer at all.
CANNED_EMPTY = frozenset({"<nooutput>", "<no output>", "<no_output>", "nooutput", "no output", "[no output]",
                          "(no output)",
                          "<无输出>", "无输出", "（无输出）", "(无输出)", "无输出内容", "没有输出", "无需输出", "不需要输出"})
BARE_NOT_APPLICABLE = frozenset({"n/a", "na", "not applicable", "不适用", "无"})
# "不适用（GPT 模型无法产生任何视觉输出）": the distilling model's note that it cannot make the asked-for image.
GPT_CANNOT = regex.compile(r"^\W*(?:不适用|N/?A|not\s+applicable)?\s*[（(\[]?\s*(?:the\s+)?(?:Chat)?GPT(?:-?\d)?\s*"
                           r"(?:模型|model|language\s+model)?\s*(?:无法|不能|不可以|cannot|can't|can\s+not|is\s+unable"
                           r"|is\s+not\s+able)", _F)
CANNED_MAX_CHARS = 60

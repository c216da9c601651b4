/** Canned answers for the chat page tests and the README screenshots. */

/** An OpenAI-style SSE stream of `text` in small chunks, with finish and usage events. */
export function sseBody(text: string, model = "fake-model"): string {
  const chunk = (delta: object, finish: string | null, extra: object = {}) =>
    `data: ${JSON.stringify({
      id: "chatcmpl-fake",
      object: "chat.completion.chunk",
      created: 0,
      model,
      choices: [{ index: 0, delta, finish_reason: finish }],
      ...extra,
    })}\n\n`;
  const pieces = text.match(/[\s\S]{1,6}/g) ?? [];
  return (
    chunk({ role: "assistant", content: "" }, null) +
    pieces.map((p) => chunk({ content: p }, null)).join("") +
    chunk({}, "stop") +
    `data: ${JSON.stringify({
      id: "chatcmpl-fake",
      object: "chat.completion.chunk",
      created: 0,
      model,
      choices: [],
      usage: { prompt_tokens: 42, completion_tokens: pieces.length, total_tokens: 42 + pieces.length },
    })}\n\n` +
    "data: [DONE]\n\n"
  );
}

const ANSWER = `## Checking a palindrome

A string is a palindrome when it reads the same **forwards and backwards**, ignoring case and punctuation:

\`\`\`python
import re

def is_palindrome(text: str) -> bool:
    """True if text reads the same both ways."""
    cleaned = re.sub(r"[^a-z0-9]", "", text.lower())
    return cleaned == cleaned[::-1]

print(is_palindrome("A man, a plan, a canal: Panama"))  # True
\`\`\`

| Input | Result |
| --- | --- |
| \`"racecar"\` | \`True\` |
| \`"hello"\` | \`False\` |

- It runs in **O(n)** time.
- \`re.sub\` drops everything that is not a letter or digit.`;

export const SCREENSHOT_CONVERSATION = {
  id: "c-shot",
  title: "Palindrome checker in Python",
  createdAt: 1_700_000_000_000,
  updatedAt: 1_800_000_000_000,
  messages: [
    {
      id: "m1",
      role: "user",
      content: "Write a Python function that checks whether a string is a palindrome",
      createdAt: 1_700_000_000_000,
    },
    {
      id: "m2",
      role: "assistant",
      content: ANSWER,
      createdAt: 1_700_000_001_000,
      stats: {
        model: "qwen2.5-0.5b-instruct-q4_k_m",
        promptTokens: 38,
        completionTokens: 196,
        tokensPerSecond: 41.7,
        finishReason: "stop",
      },
    },
  ],
};

const ANSWER_ZH = `TCP 和 UDP 都是传输层协议，区别主要在**可靠性**和**开销**：

| 特性 | TCP | UDP |
| --- | --- | --- |
| 连接 | 面向连接（三次握手） | 无连接 |
| 可靠性 | 保证送达、按序 | 不保证 |
| 开销 | 较大 | 很小 |
| 典型用途 | 网页、邮件、文件传输 | 视频通话、游戏、DNS |

### 怎么选？

1. 数据**不能丢**：用 TCP。
2. 对**延迟敏感**、偶尔丢包可以接受：用 UDP。

\`\`\`bash
# 查看本机正在监听的 TCP 和 UDP 端口
ss -tulpn
\`\`\``;

export const SCREENSHOT_CONVERSATION_ZH = {
  id: "c-shot-zh",
  title: "用表格比较 TCP 和 UDP",
  createdAt: 1_700_000_000_000,
  updatedAt: 1_800_000_000_001,
  messages: [
    { id: "z1", role: "user", content: "用表格比较 TCP 和 UDP", createdAt: 1_700_000_000_000 },
    {
      id: "z2",
      role: "assistant",
      content: ANSWER_ZH,
      createdAt: 1_700_000_001_000,
      stats: {
        model: "qwen2.5-0.5b-instruct-q4_k_m",
        promptTokens: 31,
        completionTokens: 168,
        tokensPerSecond: 39.2,
        finishReason: "stop",
      },
    },
  ],
};

import { Template } from "@huggingface/jinja";
import type { ChatMessage, ToolDefinition } from "../provider/types.js";

/**
 * Renders a conversation with the model's own Jinja chat template (from GGUF `tokenizer.chat_template`),
 * as llama-server does, so the prompt is byte-for-byte what the model was trained on.
 */
export class ChatTemplate {
  private readonly template: Template;

  constructor(
    readonly source: string,
    private readonly specials: { bosToken: string; eosToken: string },
  ) {
    this.template = new Template(source);
  }

  /**
   * Messages and tools are passed in the shapes Hugging Face templates expect: tools as
   * `{type: "function", function: {...}}`, assistant calls as `tool_calls` with parsed `arguments`
   * objects (Qwen's template writes them with `tojson`), and `content` null on a call-only turn.
   */
  render(
    messages: readonly ChatMessage[],
    options: { addGenerationPrompt?: boolean; tools?: readonly ToolDefinition[] } = {},
  ): string {
    const tools = options.tools?.length
      ? options.tools.map((tool) => ({ type: "function", function: tool }))
      : undefined;
    return this.template.render({
      messages: messages.map(toTemplateMessage),
      tools,
      add_generation_prompt: options.addGenerationPrompt ?? true,
      bos_token: this.specials.bosToken,
      eos_token: this.specials.eosToken,
    });
  }
}

function toTemplateMessage(message: ChatMessage): Record<string, unknown> {
  if (!message.toolCalls?.length) {
    return message.toolCallId ? { ...message, tool_call_id: message.toolCallId } : { ...message };
  }
  return {
    role: message.role,
    content: message.content === "" ? null : message.content,
    tool_calls: message.toolCalls.map((call) => ({
      id: call.id,
      type: "function",
      function: { name: call.name, arguments: parseArguments(call.arguments) },
    })),
  };
}

/** Arguments are validated as JSON at the edge; a malformed string is passed on as text. */
function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Plain ChatML, for GGUF files that carry no template. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

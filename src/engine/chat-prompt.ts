import type { LlamaModel } from "node-llama-cpp";
import type { Prompt } from "../provider/types.js";
import { CHATML_TEMPLATE, ChatTemplate } from "./chat-template.js";
import { PromptTokenizer, type TooLong } from "./prompt-tokenizer.js";
import type { SpecialTokens } from "./special-tokens.js";

/**
 * From a prompt to the tokens a slot evaluates, the same for both engines: the GGUF's own chat template,
 * control-token texts in user strings escaped, the rendered prompt split at the template's markers, plain text
 * tokenized (large text off the main thread), BOS prepended when the model wants it. Needs the vocabulary
 * only, so the llama-server engine loads the model with `vocabOnly` for it.
 */
export class ChatPrompt {
  private readonly template: ChatTemplate;
  private readonly tokenizer: PromptTokenizer;

  constructor(
    private readonly model: LlamaModel,
    modelPath: string,
  ) {
    const metadataTemplate = model.fileInfo.metadata?.tokenizer?.chat_template;
    this.template = new ChatTemplate(
      typeof metadataTemplate === "string" ? metadataTemplate : CHATML_TEMPLATE,
      { bosToken: model.tokens.bosString ?? "", eosToken: model.tokens.eosString ?? "" },
    );
    this.tokenizer = new PromptTokenizer(model, modelPath);
    this.tokenizer.warmUp();
  }

  render(prompt: Prompt): string {
    return prompt.kind === "chat"
      ? this.template.render(prompt.messages, { tools: prompt.tools })
      : prompt.text;
  }

  /**
   * The prompt's tokens, or a lower bound on their count when that alone exceeds `limit` (default: none).
   * In a chat only the template's own markers become control tokens: user content, names, tools and tool calls
   * are tokenized as plain text (special-tokens.ts). A raw text prompt is the caller's own and its control-token
   * texts are parsed, as llama-server does.
   */
  async tokenize(prompt: Prompt, limit = Number.POSITIVE_INFINITY): Promise<number[] | TooLong> {
    const specials = this.tokenizer.specials;
    const pieces =
      prompt.kind === "chat"
        ? specials.split(this.render(escapeChat(prompt, specials)), true)
        : specials.split(prompt.text, false);
    const tokens = await this.tokenizer.tokenize(pieces, limit);
    if (!Array.isArray(tokens)) return tokens;
    const bos = this.model.tokens.bos;
    if (this.model.tokens.shouldPrependBosToken && bos !== null && tokens[0] !== bos) tokens.unshift(bos);
    return tokens;
  }

  async dispose(): Promise<void> {
    await this.tokenizer.dispose();
  }
}

/** The chat with every user-written string escaped, so none of it can become a control token. */
function escapeChat(prompt: Prompt & { kind: "chat" }, specials: SpecialTokens): Prompt {
  return {
    kind: "chat",
    messages: prompt.messages.map((message) => ({
      ...message,
      content: specials.escape(message.content),
      ...(message.toolCallId !== undefined ? { toolCallId: specials.escape(message.toolCallId) } : {}),
      ...(message.toolCalls
        ? {
            toolCalls: message.toolCalls.map((call) => ({
              id: call.id,
              name: specials.escape(call.name),
              arguments: specials.escape(call.arguments),
            })),
          }
        : {}),
    })),
    ...(prompt.tools ? { tools: specials.escapeDeep(prompt.tools) } : {}),
  };
}

/** Entries in the model's vocabulary. */
export function vocabularySize(model: LlamaModel): number {
  return model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length ?? 0;
}

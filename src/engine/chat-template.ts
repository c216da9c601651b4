import { Template } from "@huggingface/jinja";
import type { ChatMessage } from "./types.js";

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

  render(messages: readonly ChatMessage[], options: { addGenerationPrompt?: boolean } = {}): string {
    return this.template.render({
      messages,
      add_generation_prompt: options.addGenerationPrompt ?? true,
      bos_token: this.specials.bosToken,
      eos_token: this.specials.eosToken,
    });
  }
}

/** Plain ChatML, for GGUF files that carry no template. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

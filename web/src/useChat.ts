import { useCallback, useRef, useState } from "react";
import { ApiError, type ChatRequest, type ModelInfo, streamChat } from "./api.js";
import { fitToContext, promptBudget, type WireMessage } from "./context.js";
import { useHistory } from "./history/useHistory.js";
import { validKnowledge } from "./kb/stored.js";
import {
  type AnswerError,
  type AnswerStats,
  type AttachedStore,
  type Conversation,
  type Message,
  newId,
  type Settings,
} from "./types.js";

/** Times the page re-fits the history after the server says it still does not fit. */
const OVERFLOW_RETRIES = 3;

export interface Generating {
  conversationId: string;
  messageId: string;
  /** True until the first token arrives: the "thinking" indicator. */
  waiting: boolean;
}

/**
 * Conversations (kept on the server or in the browser, see useHistory) and the one generation that may be
 * running. Each answer streams into its message in
 * place; tokens are applied at most every 33 ms so a fast model does not re-render per token (a timer,
 * not requestAnimationFrame, which stops in a background tab).
 */
export function useChat(
  settings: Settings,
  model: ModelInfo | undefined,
  /** Called when an answer failed for want of a (right) API key, so the page can ask for one. */
  onUnauthorized?: (failed: { conversationId: string; messageId: string; keySent: boolean }) => void,
) {
  const [conversations, setConversations] = useState<Conversation[]>([]);
  const [generating, setGenerating] = useState<Generating | null>(null);
  const controller = useRef<AbortController | null>(null);
  const latest = useRef(conversations);
  latest.current = conversations;
  const unauthorized = useRef(onUnauthorized);
  unauthorized.current = onUnauthorized;
  const history = useHistory(conversations, setConversations, generating?.conversationId);

  const update = useCallback((id: string, change: (c: Conversation) => Conversation) => {
    setConversations((list) => list.map((c) => (c.id === id ? change(c) : c)));
  }, []);

  const patchMessage = useCallback(
    (conversationId: string, messageId: string, patch: Partial<Message>) =>
      update(conversationId, (c) => ({
        ...c,
        messages: c.messages.map((m) => (m.id === messageId ? { ...m, ...patch } : m)),
      })),
    [update],
  );

  /**
   * Answers the conversation's last user message into a new assistant message appended after it, from the
   * knowledge bases in `storeIds` when there are any.
   */
  const answer = useCallback(
    async (conversationId: string, history: Message[], storeIds: readonly string[] = []) => {
      const messageId = newId();
      const placeholder: Message = { id: messageId, role: "assistant", content: "", createdAt: Date.now() };
      update(conversationId, (c) => ({ ...c, messages: [...history, placeholder], updatedAt: Date.now() }));
      const abort = new AbortController();
      controller.current = abort;
      setGenerating({ conversationId, messageId, waiting: true });

      const wire: WireMessage[] = history
        .filter((m) => m.role === "user" || (m.content !== "" && !m.error))
        .map((m) => ({ role: m.role, content: m.content }));
      const system = settings.systemPrompt.trim()
        ? { role: "system" as const, content: settings.systemPrompt.trim() }
        : undefined;
      // `dropped` counts wire messages; the transcript also holds failed answers, which are never sent.
      const wireToHistory = (dropped: number) => {
        let seen = 0;
        for (let i = 0; i < history.length; i++) {
          const m = history[i];
          if (m.role === "user" || (m.content !== "" && !m.error)) seen++;
          if (seen > dropped) return i;
        }
        return history.length;
      };

      let text = "";
      let frame = 0;
      const flush = () => {
        frame = 0;
        patchMessage(conversationId, messageId, { content: text });
      };
      const stats: AnswerStats = { model: model?.id };
      const started = performance.now();
      let firstAt = 0;
      let deltas = 0;
      let minDrop = 0;
      try {
        for (let attempt = 0; ; attempt++) {
          const fit = model?.contextSize
            ? fitToContext(system, wire, promptBudget(model.contextSize, settings.maxTokens), minDrop)
            : { messages: system ? [system, ...wire] : wire, dropped: 0, estimate: 0, fits: true };
          if (!fit.fits) throw new ApiError({ kind: "context", message: "" });
          const room = model?.contextSize ? model.contextSize - fit.estimate : Number.POSITIVE_INFINITY;
          const maxTokens = settings.maxTokens > 0 ? Math.min(settings.maxTokens, room) : undefined;
          stats.droppedMessages = fit.dropped > 0 ? wireToHistory(fit.dropped) : undefined;
          const request: ChatRequest = {
            model: model?.id,
            messages: fit.messages,
            temperature: settings.temperature,
            top_p: settings.topP,
            ...(maxTokens !== undefined && maxTokens > 0 ? { max_tokens: Math.floor(maxTokens) } : {}),
            ...(settings.seed.trim() !== "" && Number.isInteger(Number(settings.seed))
              ? { seed: Number(settings.seed) }
              : {}),
            ...(settings.ignoreEos ? { ignore_eos: true } : {}),
            ...(settings.jsonMode ? { response_format: { type: "json_object" as const } } : {}),
            stream: true,
            stream_options: { include_usage: true },
            ...(storeIds.length > 0 ? { file_search: { vector_store_ids: [...storeIds] } } : {}),
          };
          try {
            for await (const event of streamChat(request, abort.signal)) {
              if (event.type === "open") {
                stats.route = event.route;
                stats.routeReason = event.routeReason;
                stats.cache = event.cache;
                patchMessage(conversationId, messageId, { stats: { ...stats } });
              } else if (event.type === "citations") {
                patchMessage(conversationId, messageId, { citations: event.citations });
              } else if (event.type === "delta") {
                if (deltas++ === 0) {
                  firstAt = performance.now();
                  stats.firstTokenMs = Math.round(firstAt - started);
                  setGenerating({ conversationId, messageId, waiting: false });
                }
                if (event.model) stats.model = event.model;
                text += event.text;
                frame ||= window.setTimeout(flush, 33);
              } else if (event.type === "finish") {
                stats.finishReason = event.reason;
              } else {
                stats.promptTokens = event.promptTokens;
                stats.completionTokens = event.completionTokens;
              }
            }
            break;
          } catch (error) {
            const overflow = error instanceof ApiError && error.error.kind === "context";
            if (!overflow || deltas > 0 || attempt >= OVERFLOW_RETRIES || fit.dropped >= wire.length - 1)
              throw error;
            minDrop = fit.dropped + 2; // the estimate was too low: drop one more turn and ask again
          }
        }
      } catch (error) {
        if (abort.signal.aborted) stats.finishReason = "stopped";
        else {
          stats.finishReason = "error";
          const failure: AnswerError =
            error instanceof ApiError
              ? error.error
              : { kind: "server", message: String((error as Error)?.message ?? error) };
          patchMessage(conversationId, messageId, { error: failure });
          if (failure.kind === "auth")
            unauthorized.current?.({ conversationId, messageId, keySent: !!failure.keySent });
        }
      } finally {
        if (frame) clearTimeout(frame);
        const ended = performance.now();
        stats.completionTokens ??= deltas > 0 ? deltas : undefined; // stopped: one delta is about one token
        if (firstAt && stats.completionTokens && ended - firstAt > 0)
          stats.tokensPerSecond = (stats.completionTokens - 1 || 1) / ((ended - firstAt) / 1000);
        patchMessage(conversationId, messageId, { content: text, stats: { ...stats } });
        if (controller.current === abort) controller.current = null;
        setGenerating(null);
      }
    },
    [model, settings, update, patchMessage],
  );

  const stop = useCallback(() => controller.current?.abort(), []);

  /** Sends a question; a new chat (no `conversationId`) starts with the knowledge bases in `knowledge`. */
  const send = useCallback(
    (
      conversationId: string | undefined,
      content: string,
      knowledge: readonly AttachedStore[] = [],
    ): string => {
      const message: Message = { id: newId(), role: "user", content, createdAt: Date.now() };
      let conversation = latest.current.find((c) => c.id === conversationId);
      if (conversation?.unloaded) return conversation.id; // its messages are still on their way
      if (!conversation) {
        conversation = {
          id: newId(),
          title: "",
          createdAt: Date.now(),
          updatedAt: Date.now(),
          messages: [],
          ...(knowledge.length > 0 ? { knowledge: [...knowledge] } : {}),
        };
        const created = conversation;
        setConversations((list) => [created, ...list]);
      }
      const id = conversation.id;
      if (!conversation.title) update(id, (c) => ({ ...c, title: titleFrom(content) }));
      void answer(id, [...conversation.messages, message], storeIdsOf(conversation));
      return id;
    },
    [answer, update],
  );

  /** Drops the answer at `messageId` (and anything after it) and asks again. */
  const regenerate = useCallback(
    (conversationId: string, messageId: string) => {
      const conversation = latest.current.find((c) => c.id === conversationId);
      const index = conversation?.messages.findIndex((m) => m.id === messageId) ?? -1;
      if (!conversation || index < 1) return;
      void answer(conversationId, conversation.messages.slice(0, index), storeIdsOf(conversation));
    },
    [answer],
  );

  /** Replaces a user message, forgets everything after it, and answers it again. */
  const editAndResend = useCallback(
    (conversationId: string, messageId: string, content: string) => {
      const conversation = latest.current.find((c) => c.id === conversationId);
      const index = conversation?.messages.findIndex((m) => m.id === messageId) ?? -1;
      if (!conversation || index < 0) return;
      const edited = { ...conversation.messages[index], content };
      void answer(
        conversationId,
        [...conversation.messages.slice(0, index), edited],
        storeIdsOf(conversation),
      );
    },
    [answer],
  );

  /** Deletes a chat, wherever it is kept. */
  const remove = useCallback(
    (id: string) => {
      setConversations((list) => list.filter((c) => c.id !== id));
      history.forget(id);
    },
    [history.forget],
  );

  return {
    conversations,
    setConversations,
    generating,
    send,
    stop,
    regenerate,
    editAndResend,
    remove,
    history,
  };
}

function storeIdsOf(conversation: Conversation): string[] {
  return validKnowledge(conversation.knowledge).map((k) => k.id);
}

export function titleFrom(text: string): string {
  const line = text.trim().split("\n")[0].replace(/\s+/g, " ");
  return line.length > 48 ? `${line.slice(0, 47)}…` : line;
}

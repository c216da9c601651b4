import { type FormEvent, type ReactNode, useEffect, useRef, useState } from "react";
import { useStrings } from "../i18n.js";
import { Icon } from "./icons.js";

export interface ComposerProps {
  generating: boolean;
  disabled?: boolean;
  onSend(text: string): void;
  onStop(): void;
  /** Changes when the conversation changes, to move focus back to the input. */
  focusKey?: string;
  /** A control before the text box (the knowledge menu). */
  leading?: ReactNode;
}

/** The message box: Enter sends, Shift+Enter (or an IME composition) makes a new line; grows to 40% height. */
export function Composer({ generating, disabled, onSend, onStop, focusKey, leading }: ComposerProps) {
  const t = useStrings();
  const [text, setText] = useState("");
  const area = useRef<HTMLTextAreaElement>(null);

  // biome-ignore lint/correctness/useExhaustiveDependencies: re-measure whenever the text changes.
  useEffect(() => {
    const el = area.current;
    if (!el) return;
    el.style.height = "auto";
    el.style.height = `${el.scrollHeight}px`;
  }, [text]);

  useEffect(() => {
    // Only on devices with a real keyboard: on a phone, focusing pops the keyboard over the answer.
    if (focusKey !== undefined && window.matchMedia("(pointer: fine)").matches) area.current?.focus();
  }, [focusKey]);

  const submit = (event?: FormEvent) => {
    event?.preventDefault();
    if (generating || disabled || text.trim() === "") return;
    onSend(text.trim());
    setText("");
  };

  return (
    <form className={`composer${leading ? " has-leading" : ""}`} onSubmit={submit}>
      {leading}
      <textarea
        ref={area}
        rows={1}
        value={text}
        placeholder={t.placeholder}
        aria-label={t.placeholder}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
            e.preventDefault();
            submit();
          }
        }}
      />
      {generating ? (
        <button type="button" className="send stop" onClick={onStop} aria-label={t.stop} title={t.stop}>
          <Icon name="stop" />
        </button>
      ) : (
        <button
          type="submit"
          className="send"
          disabled={disabled || text.trim() === ""}
          aria-label={t.send}
          title={t.send}
        >
          <Icon name="send" />
        </button>
      )}
    </form>
  );
}

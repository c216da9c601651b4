import { type MouseEvent, memo, useMemo } from "react";
import { copyText } from "../clipboard.js";
import { useStrings } from "../i18n.js";
import { renderMarkdown } from "../markdown.js";

/** Sanitized Markdown; code blocks get their copy buttons through one delegated listener. */
export const Markdown = memo(function Markdown({ text }: { text: string }) {
  const t = useStrings();
  const html = useMemo(() => renderMarkdown(text, { copy: t.copy }), [text, t.copy]);
  const onClick = (event: MouseEvent<HTMLDivElement>) => {
    const button = (event.target as HTMLElement).closest<HTMLButtonElement>("button[data-copy-code]");
    const code = button?.closest(".code-block")?.querySelector("code");
    if (!button || !code) return;
    void copyText(code.textContent ?? "").then((ok) => {
      if (!ok) return;
      button.textContent = t.copied;
      setTimeout(() => {
        button.textContent = t.copy;
      }, 1500);
    });
  };
  // biome-ignore lint/a11y/useKeyWithClickEvents lint/a11y/noStaticElementInteractions: delegation only; the buttons inside are focusable.
  // biome-ignore lint/security/noDangerouslySetInnerHtml: renderMarkdown escapes raw HTML and runs DOMPurify.
  return <div className="markdown" onClick={onClick} dangerouslySetInnerHTML={{ __html: html }} />;
});

import { type MouseEvent, memo, useLayoutEffect, useMemo, useRef } from "react";
import { copyText } from "../clipboard.js";
import { format, useStrings } from "../i18n.js";
import { linkCitations } from "../kb/citations.js";
import { renderMarkdown } from "../markdown.js";

export interface MarkdownProps {
  text: string;
  /** Citation numbers the answer may use: `[n]` markers for these become chips. */
  cites?: readonly number[];
  onCite?(index: number): void;
}

/**
 * Sanitized Markdown; code blocks get their copy buttons, and citation chips their clicks, through one
 * delegated listener.
 */
export const Markdown = memo(function Markdown({ text, cites, onCite }: MarkdownProps) {
  const t = useStrings();
  const root = useRef<HTMLDivElement>(null);
  const html = useMemo(() => renderMarkdown(text, { copy: t.copy }), [text, t.copy]);
  const citeKey = cites?.join(",") ?? "";
  // After React has set the HTML (it does again whenever `html` changes), markers become chips in place.
  // biome-ignore lint/correctness/useExhaustiveDependencies: `html` is what React just put in the div.
  useLayoutEffect(() => {
    if (root.current && citeKey)
      linkCitations(root.current, new Set(citeKey.split(",").map(Number)), (n) =>
        format(t.citeSource, { n }),
      );
  }, [html, citeKey, t.citeSource]);
  const onClick = (event: MouseEvent<HTMLDivElement>) => {
    const target = event.target as HTMLElement;
    const cite = target.closest<HTMLButtonElement>("button[data-cite]");
    if (cite) {
      onCite?.(Number(cite.dataset.cite));
      return;
    }
    const button = target.closest<HTMLButtonElement>("button[data-copy-code]");
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
  return (
    // biome-ignore lint/a11y/useKeyWithClickEvents lint/a11y/noStaticElementInteractions: delegation only; the buttons inside are focusable.
    <div
      ref={root}
      className="markdown"
      onClick={onClick}
      // biome-ignore lint/security/noDangerouslySetInnerHtml: renderMarkdown escapes raw HTML and runs DOMPurify.
      dangerouslySetInnerHTML={{ __html: html }}
    />
  );
});

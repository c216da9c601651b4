import DOMPurify from "dompurify";
import hljs from "highlight.js/lib/core";
import bash from "highlight.js/lib/languages/bash";
import c from "highlight.js/lib/languages/c";
import cpp from "highlight.js/lib/languages/cpp";
import csharp from "highlight.js/lib/languages/csharp";
import css from "highlight.js/lib/languages/css";
import diff from "highlight.js/lib/languages/diff";
import go from "highlight.js/lib/languages/go";
import java from "highlight.js/lib/languages/java";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import kotlin from "highlight.js/lib/languages/kotlin";
import markdown from "highlight.js/lib/languages/markdown";
import php from "highlight.js/lib/languages/php";
import python from "highlight.js/lib/languages/python";
import ruby from "highlight.js/lib/languages/ruby";
import rust from "highlight.js/lib/languages/rust";
import shell from "highlight.js/lib/languages/shell";
import sql from "highlight.js/lib/languages/sql";
import swift from "highlight.js/lib/languages/swift";
import typescript from "highlight.js/lib/languages/typescript";
import xml from "highlight.js/lib/languages/xml";
import yaml from "highlight.js/lib/languages/yaml";
import { Marked } from "marked";

// The languages small models write most; the full highlight.js bundle would triple the page's size.
for (const [name, lang] of Object.entries({
  bash,
  c,
  cpp,
  csharp,
  css,
  diff,
  go,
  java,
  javascript,
  json,
  kotlin,
  markdown,
  php,
  python,
  ruby,
  rust,
  shell,
  sql,
  swift,
  typescript,
  xml,
  yaml,
}))
  hljs.registerLanguage(name, lang);

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

let copyLabel = "Copy";

const SAFE_LINK = /^(https?:|mailto:)/i;

const marked = new Marked({
  gfm: true,
  breaks: true,
  renderer: {
    code({ text, lang }) {
      const language = (lang ?? "").trim().split(/\s+/)[0].toLowerCase();
      const known = language !== "" && hljs.getLanguage(language) !== undefined;
      const body = known ? hljs.highlight(text, { language, ignoreIllegals: true }).value : escapeHtml(text);
      const label = escapeHtml(language || "text");
      // The copy button is wired by one delegated click listener (see Markdown.tsx), not an attribute.
      return `<div class="code-block"><div class="code-head"><span>${label}</span><button type="button" class="copy-code" data-copy-code="">${escapeHtml(copyLabel)}</button></div><pre><code class="hljs${known ? ` language-${label}` : ""}">${body}</code></pre></div>`;
    },
    // Raw HTML in an answer is shown as text, exactly as the model wrote it: never parsed, never run.
    html({ text }) {
      return escapeHtml(text);
    },
    // Only web and mail links stay links. Any other scheme (javascript:, data:, vbscript:, file:, a
    // relative path into this server's API) is shown as its text, not as a link to click.
    link({ href, title, tokens }) {
      const inner = this.parser.parseInline(tokens);
      if (!SAFE_LINK.test(href)) return `<span class="blocked-link">${inner}</span>`;
      const titleAttr = title ? ` title="${escapeHtml(title)}"` : "";
      return `<a href="${escapeHtml(href)}"${titleAttr} target="_blank" rel="noopener noreferrer nofollow">${inner}</a>`;
    },
    // Images would fetch from wherever the model points (a tracking pixel, a local URL): show a link.
    image({ href, text }) {
      const label = `🖼 ${escapeHtml(text || href)}`;
      if (!/^https?:/i.test(href)) return `<span class="blocked-link">${label}</span>`;
      return `<a href="${escapeHtml(href)}" target="_blank" rel="noopener noreferrer nofollow">${label}</a>`;
    },
  },
});

/**
 * Model output -> safe HTML. Markdown is rendered with raw HTML escaped, then DOMPurify removes
 * anything active that slipped through (event handlers, javascript: URLs, scripts, forms).
 */
export function renderMarkdown(source: string, labels: { copy: string }): string {
  copyLabel = labels.copy;
  const html = marked.parse(source, { async: false });
  return DOMPurify.sanitize(html, {
    USE_PROFILES: { html: true },
    ADD_ATTR: ["target"],
    FORBID_TAGS: ["style", "form", "img", "video", "audio", "iframe"],
  });
}

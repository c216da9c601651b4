/**
 * Citation markers in an answer: the model writes `[1]`, `[2]` (or `[1, 2]`) for the numbered passages the
 * server gave it, and the page turns each marker whose number the answer's `citations` hold into a chip.
 */

/** `[1]`, `[12]`, `[1, 3]`, `[1，3]` (a Chinese comma), not a link's `[1](…)`. */
const MARKER = /\[(\d{1,3}(?:\s*[,，、]\s*\d{1,3})*)\](?!\()/;

/** Every marker in `text`. A fresh global regex each time: a shared one carries `lastIndex` from call to call. */
function markers(text: string): RegExpExecArray[] {
  return [...text.matchAll(new RegExp(MARKER.source, "g"))];
}

/** The citation numbers an answer's text refers to, in order of first mention. */
export function citedIndices(text: string): number[] {
  const seen = new Set<number>();
  for (const match of markers(text)) for (const n of numbers(match[1])) seen.add(n);
  return [...seen];
}

function numbers(group: string): number[] {
  return group.split(/[,，、]/).map((n) => Number(n.trim()));
}

/**
 * Replaces markers in the rendered (already sanitized) answer with chip buttons, in place. It works on the
 * live DOM, never on HTML text: the chips are made with createElement and textContent, so nothing from the
 * answer is parsed again. Text inside code, links and existing chips is left alone.
 */
export function linkCitations(
  root: HTMLElement,
  known: ReadonlySet<number>,
  label: (n: number) => string,
): void {
  if (known.size === 0) return;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const texts: Text[] = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode())
    if (!node.parentElement?.closest("code, pre, a, button, .blocked-link")) texts.push(node as Text);
  for (const node of texts) {
    const text = node.data;
    const found = markers(text);
    if (found.length === 0) continue;
    const parts = document.createDocumentFragment();
    let last = 0;
    for (const match of found) {
      const cited = numbers(match[1]);
      if (!cited.every((n) => known.has(n))) continue; // not ours: "[2024]" or a passage that was never given
      parts.append(text.slice(last, match.index));
      const group = document.createElement("span");
      group.className = "cites";
      for (const n of cited) {
        const chip = document.createElement("button");
        chip.type = "button";
        chip.className = "cite";
        chip.dataset.cite = String(n);
        chip.textContent = String(n);
        chip.setAttribute("aria-label", label(n));
        chip.title = label(n);
        group.append(chip);
      }
      parts.append(group);
      last = match.index + match[0].length;
    }
    if (last === 0) continue;
    parts.append(text.slice(last));
    node.replaceWith(parts);
  }
}

/** Bytes as people read them: "820 B", "14.2 KB", "3.1 MB" (binary units, as the size limit is). */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** A heading path as one line: "Install › Linux › Debian". */
export function formatHeadingPath(path: readonly string[]): string {
  return path.join(" › ");
}

/** A list of names for a sentence, the first few and how many more. */
export function listNames(
  names: readonly string[],
  separator: string,
  shown = 5,
): { text: string; more: number } {
  return { text: names.slice(0, shown).join(separator), more: Math.max(0, names.length - shown) };
}

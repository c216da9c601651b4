/**
 * Text an upstream wrote (its error messages and bodies) made safe for a header, a response body, an
 * SSE event or a log line. Upstreams echo what they were sent: the Authorization header, the key in
 * a query string, the request body with whatever the caller pasted into it. Pure.
 */

const MASK = "[redacted]";

/** Default longest excerpt, in characters: enough to say what went wrong, too short to carry a body. */
export const EXCERPT_CHARS = 100;

// Credentials by shape. Each replacement keeps the name so the excerpt still says what was there.
const SHAPES: [RegExp, string | ((match: string) => string)][] = [
  // An Authorization header's scheme and credential.
  [/\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]+/gi, `$1 ${MASK}`],
  // name=value, name: value and "name": "value" for credential-like names (api_key, x-api-key,
  // access_token, client_secret, ?key=...).
  [
    /\b([\w-]*(?:key|token|secret|password|passwd|credential|signature|authorization)["']?\s*[:=]\s*["']?)(?!\[redacted\])[^\s"'&,;}]+/gi,
    `$1${MASK}`,
  ],
  // Well-known key prefixes: sk- (OpenAI, DashScope, DeepSeek, Anthropic's sk-ant-), GitHub, Slack,
  // AWS access key ids, Google API keys.
  [/\b(?:sk|pk|rk)-[A-Za-z0-9_-]{8,}/g, MASK],
  [/\b(?:gh[pousr]_|github_pat_|xox[abpr]-|AKIA|AIza)[A-Za-z0-9_-]{10,}/g, MASK],
  // JSON Web Tokens.
  [/\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, MASK],
  // Long hex, and long base64 that mixes cases and digits (model names and words rarely do both).
  [/\b[A-Fa-f0-9]{32,}\b/g, MASK],
  [/[A-Za-z0-9+/_-]{32,}={0,2}/g, (m) => (/[a-z]/.test(m) && /[A-Z]/.test(m) && /\d/.test(m) ? MASK : m)],
];

// Runs that could be a fragment of a configured key (an upstream may echo a truncated one).
const FRAGMENT = /[A-Za-z0-9._~+/=-]{8,}/g;

/**
 * Masks every configured secret (and any 8-character or longer fragment of one) and anything
 * key-shaped (`sk-...`, `Bearer ...`, `api_key=...`, JWTs, long hex or base64 tokens), collapses
 * control characters and whitespace, and cuts the result to `max` characters.
 */
export function sanitizeUpstreamText(
  text: string,
  secrets: readonly (string | undefined)[] = [],
  max = EXCERPT_CHARS,
): string {
  const known = secrets.filter((s): s is string => typeof s === "string" && s.length >= 4);
  let out = text;
  for (const secret of known) out = out.replaceAll(secret, MASK);
  for (const [pattern, replacement] of SHAPES)
    out =
      typeof replacement === "string" ? out.replace(pattern, replacement) : out.replace(pattern, replacement);
  if (known.length > 0)
    out = out.replace(FRAGMENT, (run) => (known.some((s) => s.includes(run)) ? MASK : run));
  out = out.replace(/[\s\p{Cc}]+/gu, " ").trim();
  return out.length > max ? `${out.slice(0, Math.max(0, max - 3)).trimEnd()}...` : out;
}

import { isIP } from "node:net";

/**
 * Which web pages may call the API (the `Origin` check) and which names the server answers to (the `Host`
 * check). Pure functions of header values, so every rule is tested without a server.
 */

/** An entry of `--cors-origins`: `*`, `null`, or `scheme://host[:port]` where host may start `*.`, port be `*`. */
interface OriginPattern {
  scheme: string;
  /** Lower-case host; IPv6 in brackets. A leading "*." matches any subdomain (not the domain itself). */
  host: string;
  /** "" for the scheme's default port, "*" for any. */
  port: string;
}

export interface OriginPolicy {
  /** Every origin (`--cors-origins '*'`), except `null`, which must be listed by name. */
  any: boolean;
  /** `Origin: null` (sandboxed iframes, file:// pages) was listed explicitly. */
  allowNull: boolean;
  patterns: OriginPattern[];
}

export interface HostPolicy {
  /** Every host (`--allowed-hosts '*'`). */
  any: boolean;
  /** Any IP literal, as well as loopback names: on a non-loopback bind a rebinding attack needs a name. */
  anyAddress: boolean;
  /** Lower-case names; a leading "." or "*." matches any subdomain. */
  names: string[];
}

/** Loopback pages are the user's own machine: allowed by default, any port, http or https. */
const LOOPBACK_ORIGINS = ["localhost", "127.0.0.1", "[::1]"].flatMap((host) =>
  ["http", "https"].map((scheme) => ({ scheme, host, port: "*" })),
);

/** Parses `--cors-origins` entries; throws an Error naming the first bad entry. */
export function originPolicy(entries: readonly string[] = []): OriginPolicy {
  const policy: OriginPolicy = { any: false, allowNull: false, patterns: [...LOOPBACK_ORIGINS] };
  for (const raw of entries) {
    const entry = raw.trim().toLowerCase();
    if (entry === "") continue;
    if (entry === "*") policy.any = true;
    else if (entry === "null") policy.allowNull = true;
    else policy.patterns.push(parseOriginPattern(entry));
  }
  return policy;
}

function parseOriginPattern(entry: string): OriginPattern {
  const match = /^(https?):\/\/(\*\.)?([^/:*[\]]+|\[[0-9a-f:.]+\])(?::(\d{1,5}|\*))?\/?$/.exec(entry);
  if (!match)
    throw new Error(
      `--cors-origins: '${entry}' is not an origin: expected scheme://host[:port] (e.g. https://app.example.com, ` +
        "http://localhost:*, https://*.example.com), '*' or 'null'.",
    );
  const [, scheme, wildcard = "", host, port = ""] = match;
  const defaultPort = scheme === "https" ? "443" : "80";
  // The host as a URL spells it (an IPv6 address shortened, say), since the Origin header is compared to that.
  const normalized = parseHost(host, scheme)?.hostname;
  if (normalized === undefined) throw new Error(`--cors-origins: '${entry}' does not hold a valid host.`);
  return { scheme, host: wildcard + normalized, port: port === defaultPort ? "" : port };
}

/** What an `Origin` header names, or undefined when it is not a serialized origin. */
function parseOrigin(origin: string): { scheme: string; host: string; port: string } | undefined {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return undefined;
  }
  // A browser sends exactly the serialized origin: anything else (a path, userinfo, odd case) is forged.
  if (url.origin !== origin || !/^https?:$/.test(url.protocol)) return undefined;
  return { scheme: url.protocol.slice(0, -1), host: url.hostname, port: url.port };
}

/**
 * Whether a page at `origin` may call the API. `host` is the request's `Host` header: a page served by
 * this server (its own origin) is always allowed.
 */
export function isOriginAllowed(policy: OriginPolicy, origin: string, host: string | undefined): boolean {
  if (origin === "null") return policy.allowNull;
  const parsed = parseOrigin(origin);
  if (!parsed) return false;
  if (policy.any || (host !== undefined && isSameOrigin(parsed, host))) return true;
  return policy.patterns.some(
    (p) =>
      p.scheme === parsed.scheme &&
      (p.port === "*" || p.port === parsed.port) &&
      (p.host.startsWith("*.") ? parsed.host.endsWith(p.host.slice(1)) : p.host === parsed.host),
  );
}

/** The page came from this server: the origin names the host and port the request was sent to. */
function isSameOrigin(origin: { scheme: string; host: string; port: string }, hostHeader: string): boolean {
  const host = parseHost(hostHeader, origin.scheme);
  return host !== undefined && host.hostname === origin.host && host.port === origin.port;
}

/**
 * A `Host` header as a URL would hold it (IPv6 in brackets, the scheme's default port as ""), or undefined
 * when it is not host[:port].
 */
function parseHost(header: string, scheme = "http"): { hostname: string; port: string } | undefined {
  let url: URL;
  try {
    url = new URL(`${scheme}://${header}`);
  } catch {
    return undefined;
  }
  if (url.username || url.password || url.pathname !== "/" || url.search || url.hash || url.hostname === "")
    return undefined;
  return { hostname: url.hostname.replace(/\.$/, ""), port: url.port };
}

/** Parses `--allowed-hosts` entries; throws an Error naming the first bad entry. */
export function hostPolicy(entries: readonly string[], options: { anyAddress: boolean }): HostPolicy {
  const policy: HostPolicy = { any: false, anyAddress: options.anyAddress, names: [] };
  for (const raw of entries) {
    const entry = raw.trim().toLowerCase();
    if (entry === "") continue;
    if (entry === "*") {
      policy.any = true;
      continue;
    }
    const suffix = /^\*?\./.exec(entry)?.[0] ?? "";
    const host = parseHost(entry.slice(suffix.length));
    if (host === undefined || host.port !== "" || entry.endsWith(":"))
      throw new Error(
        `--allowed-hosts: '${entry}' is not a host name: expected a name or address without a port ` +
          "(llm.example.com, .example.com for its subdomains, 192.168.1.5, [fd00::5]) or '*'.",
      );
    policy.names.push(suffix ? `.${host.hostname}` : host.hostname);
  }
  return policy;
}

/** Whether the server answers a request whose `Host` header is `header`. */
export function isHostAllowed(policy: HostPolicy, header: string): boolean {
  if (policy.any) return true;
  const host = parseHost(header);
  if (host === undefined) return false;
  const name = host.hostname;
  if (isLoopbackName(name) || (policy.anyAddress && isIP(name.replace(/^\[|\]$/g, "")) !== 0)) return true;
  return policy.names.some((n) => (n.startsWith(".") ? name.endsWith(n) : n === name));
}

/**
 * `localhost` and the loopback addresses: names no DNS answer can point elsewhere. (`*.localhost` is left
 * out: only some browsers keep it off DNS.)
 */
export function isLoopbackName(name: string): boolean {
  const host = name.toLowerCase().replace(/^\[|\]$/g, "");
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  // URL parsing has already shortened ::0:1 forms and turned ::ffff:127.0.0.1 into ::ffff:7f00:1.
  if (isIP(host) === 6) return host === "::1" || /^::ffff:(127\.|7f[0-9a-f]{2}:)/.test(host);
  return false;
}

import { SETTINGS } from "../config/settings.js";
import type { GenerateRequest } from "../provider/types.js";

/**
 * The routing policy: pure functions that score a request's difficulty from the request alone, so the
 * decision costs microseconds and can be explained in one line. Scores are sums of weighted features,
 * clamped to [0, 1]; a request at or above the threshold goes to the cloud.
 */

export interface PolicyInput {
  /** The text the model is asked to act on now: the last user message, or a text prompt. */
  ask: string;
  /** Every message's text, for length. */
  conversationChars: number;
  /** Conversation length in user turns. */
  userTurns: number;
  /** Requested completion cap, if any. */
  maxTokens?: number;
  /** Tools offered to the model. */
  toolCount: number;
  /** A JSON schema the answer must follow, if any. */
  schema?: unknown;
}

export interface Contribution {
  feature: string;
  weight: number;
}

export interface Assessment {
  /** 0 (trivial) .. 1 (hard). */
  score: number;
  /** The features that fired, largest first. */
  contributions: Contribution[];
}

/** Default difficulty at or above which "auto" goes to the cloud (`EDGELLM_ROUTE_THRESHOLD`). */
export const DEFAULT_THRESHOLD = SETTINGS.routeThreshold.default;

interface Feature {
  name: string;
  /** Weight per distinct pattern that matches. */
  per: number;
  /** Most this feature adds (or, negative, removes). */
  cap: number;
  patterns: RegExp[];
}

// English patterns use word boundaries; Chinese has none, so its patterns are plain substrings.
const FEATURES: Feature[] = [
  {
    name: "proof",
    per: 0.4,
    cap: 0.45,
    patterns: [/\b(prove|proof|show that|justify|rigorous(ly)?|derive|derivation)\b/i, /证明|严格|推导|论证/],
  },
  {
    name: "competition",
    per: 0.3,
    cap: 0.3,
    patterns: [/\b(olympiad|imo|aime|amc|putnam|competition)\b/i, /竞赛|奥数|奥林匹克/],
  },
  {
    name: "maths",
    per: 0.15,
    cap: 0.3,
    patterns: [
      /\b(theorem|lemma|integral|derivative|limit|eigen\w*|matri(x|ces)|determinant|probability|expected value|expectation|variance|inequalit(y|ies)|polynomial|divisible|modulo|primes?|combinatori\w*|closed[- ]form|functions? f)\b/i,
      /定理|积分|导数|极限|矩阵|概率|期望|方差|不等式|多项式|整除|素数|质数|数列|函数方程|泰勒|归纳法/,
      /[∫∑∏√≤≥≠∞³]|\\(frac|int|sum|sqrt)|\b[a-z]\^\d|lim\s*\(|\bf\([a-z]/i,
    ],
  },
  {
    name: "complex code",
    per: 0.25,
    cap: 0.4,
    patterns: [
      /\b(thread[- ]safe|concurren\w*|lock[- ]free|race conditions?|deadlock|memory model|mutex|atomic|async\w*)\b/i,
      /\b(implement|refactor|design|architect)\w*\b.*\b(cache|system|server|compiler|parser|scheduler|allocator|database|protocol|limiter|queue|tree|graph|list)\b/i,
      /\b(algorithm|time complexity|big[- ]o|O\(n)/i,
      /并发|线程安全|无锁|竞态|死锁|异步|重构|算法|复杂度|实现一个/,
    ],
  },
  {
    name: "code",
    per: 0.1,
    cap: 0.15,
    patterns: [
      /```|^\s{2,}\S.*[;{}]\s*$/m,
      /\b(function|class|def|SQL|regex|python|rust|c\+\+|golang|java(script)?)\b/i,
    ],
  },
  {
    name: "professional domain",
    per: 0.35,
    cap: 0.5,
    patterns: [
      // Law.
      /\b(gdpr|ccpa|liabilit(y|ies)|indemnif\w*|statute|litigation|governing law|license agreement|jurisdiction|tort)\b/i,
      /法律|民法典|公司法|刑法|合同法|诉讼|司法解释|举证|违约|法律后果|条款/,
      // Databases and SQL optimisation.
      /\b(query plan|explain analyze|sequential scan|hash join|index(es|ing)?|work_mem|sharding|postgres\w*|mysql)\b/i,
      /执行计划|索引|慢查询|全表扫描|分库分表/,
      // Systems design.
      /\b(distributed|consensus|raft|paxos|multi-region|geo-distributed|high availability|fault[- ]toleran\w*)\b/i,
      /分布式|高并发|高可用|架构设计|千万级|亿级|容错/,
      // Finance, medicine, research.
      /\b(dcf|valuation|financial projections?|diagnos[ie]s|pharmacokinetics|bias-variance|regression|transformer)\b/i,
      /估值|财务模型|诊断|病理|产业链|竞争格局|状态空间|行业研究/,
    ],
  },
  {
    name: "reasoning",
    per: 0.15,
    cap: 0.25,
    patterns: [
      /\b(step by step|explain why|analy[sz]e|analysis|compare|comparing|trade-?offs?|discuss|in depth|pros and cons|undecidable)\b/i,
      /深入分析|详细比较|分析|为什么|权衡|优劣|利弊|深入|详细/,
    ],
  },
  {
    name: "long output",
    per: 0.25,
    cap: 0.3,
    patterns: [
      /\b\d{3,}[- ]?(words?|pages?)\b|\b(comprehensive|in-depth|detailed|technical) (report|analysis|plan|guide)\b|\b(business plan|white ?paper|essay|thesis)\b/i,
      /不少于\s*\d{3,}\s*字|\d{3,}字|报告|论文|白皮书|商业计划/,
    ],
  },
  {
    name: "simple request",
    per: -0.15,
    cap: -0.2,
    patterns: [
      /^\s*(hi|hello|hey|thanks|thank you|good (morning|evening))\b/i,
      /\b(translate|synonyms?|joke|haiku|recipe|in one sentence|spelling|remind\w*|convert)\b/i,
      /你好|早上好|谢谢|翻译|笑话|一句话|菜谱|怎么做|推荐|祝福/,
    ],
  },
];

const CJK = /[\u3400-\u9fff\uf900-\ufaff]/g;
const WORD = /[A-Za-z0-9_]+/g;
/** Keyword scans read at most this much of the ask, so a pasted book costs the same as a page. */
const SCAN_CHARS = 8000;

/** Roughly one unit per English word or per 1.5 CJK characters (about a token each). */
export function lengthUnits(text: string): number {
  const cjk = text.match(CJK)?.length ?? 0;
  const words = text.match(WORD)?.length ?? 0;
  return words + cjk / 1.5;
}

/** The policy's view of a request. */
export function policyInput(request: GenerateRequest): PolicyInput {
  const { prompt, format } = request;
  const toolCount = prompt.kind === "chat" ? (prompt.tools?.length ?? 0) : 0;
  const toolSchemas = prompt.kind === "chat" ? prompt.tools?.map((t) => t.parameters) : undefined;
  const schema = format?.kind === "json_schema" ? [format.schema, toolSchemas] : toolSchemas;
  if (prompt.kind === "text") {
    return {
      ask: prompt.text,
      conversationChars: prompt.text.length,
      userTurns: 1,
      maxTokens: request.sampling.maxTokens,
      toolCount,
      schema,
    };
  }
  const users = prompt.messages.filter((m) => m.role === "user");
  return {
    ask: users.at(-1)?.content ?? prompt.messages.at(-1)?.content ?? "",
    conversationChars: prompt.messages.reduce((n, m) => n + m.content.length, 0),
    userTurns: users.length,
    maxTokens: request.sampling.maxTokens,
    toolCount,
    schema,
  };
}

/** Scores how hard a request is. Pure; a few microseconds for a typical prompt. */
export function assess(input: PolicyInput): Assessment {
  const contributions: Contribution[] = [];
  const ask = input.ask.length > SCAN_CHARS ? input.ask.slice(0, SCAN_CHARS) : input.ask;
  for (const feature of FEATURES) {
    let hits = 0;
    for (const pattern of feature.patterns) if (pattern.test(ask)) hits++;
    if (hits === 0) continue;
    const raw = hits * feature.per;
    const weight = feature.per < 0 ? Math.max(feature.cap, raw) : Math.min(feature.cap, raw);
    contributions.push({ feature: feature.name, weight });
  }

  const units = lengthUnits(ask) + Math.max(0, input.conversationChars - input.ask.length) / 6;
  if (units > 600) contributions.push({ feature: "long input", weight: 0.3 });
  else if (units > 150) contributions.push({ feature: "long input", weight: 0.2 });
  else if (units > 40) contributions.push({ feature: "long input", weight: 0.1 });
  else if (units < 12 && contributions.every((c) => c.weight < 0.3))
    contributions.push({ feature: "short ask", weight: -0.1 });

  // Several separate demands in one ask ("..., then ..., and ...") mean a longer, structured answer.
  const demands = ask.match(
    /\b(then|also|and (discuss|explain|analy[sz]e|compare|prove|give))\b|并且|同时|并给出|并说明|并分析|并推广/gi,
  );
  if (demands && demands.length >= 1)
    contributions.push({ feature: "multi-part", weight: Math.min(0.2, 0.1 * demands.length) });

  if (input.maxTokens !== undefined && input.maxTokens >= 4000)
    contributions.push({ feature: "max_tokens", weight: 0.25 });
  else if (input.maxTokens !== undefined && input.maxTokens >= 1500)
    contributions.push({ feature: "max_tokens", weight: 0.15 });

  if (input.userTurns >= 8) contributions.push({ feature: "deep conversation", weight: 0.2 });
  else if (input.userTurns >= 4) contributions.push({ feature: "deep conversation", weight: 0.1 });

  const structure = Math.min(0.3, 0.05 * input.toolCount + schemaComplexity(input.schema) * 0.02);
  if (structure >= 0.05) contributions.push({ feature: "schema/tools", weight: round(structure) });

  const sum = contributions.reduce((n, c) => n + c.weight, 0);
  contributions.sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight));
  return { score: round(Math.min(1, Math.max(0, sum))), contributions };
}

/** Number of properties, items and nesting levels in a JSON schema: a rough size of what is asked. */
export function schemaComplexity(schema: unknown, depth = 0): number {
  if (schema === null || typeof schema !== "object" || depth > 16) return 0;
  let n = depth > 0 ? 1 : 0;
  for (const value of Object.values(schema as Record<string, unknown>)) {
    if (value !== null && typeof value === "object") n += schemaComplexity(value, depth + 1);
  }
  return n;
}

/** One line explaining an assessment, e.g. "difficulty 0.75 >= 0.50 (proof +0.30, maths +0.30)". */
export function explain(assessment: Assessment, threshold: number): string {
  const op = assessment.score >= threshold ? ">=" : "<";
  const top = assessment.contributions
    .slice(0, 3)
    .map((c) => `${c.feature} ${c.weight >= 0 ? "+" : ""}${c.weight.toFixed(2)}`)
    .join(", ");
  return `difficulty ${assessment.score.toFixed(2)} ${op} ${threshold.toFixed(2)}${top ? ` (${top})` : ""}`;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

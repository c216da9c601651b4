/**
 * What the learned routing policy sees of an ask: a few hand-made features (keyword groups, length,
 * several demands) and character and word n-grams. One function serves training and requests, so the two
 * cannot drift apart. Names are stable: they are the keys of the weights file and appear in route reasons.
 */

/** A named keyword group; its value is the number of its patterns that match (0..patterns.length). */
interface KeywordGroup {
  name: string;
  patterns: RegExp[];
}

// English patterns use word boundaries; Chinese has none, so its patterns are plain substrings. These are
// the hand-made policy's groups (before issue #15), now features whose weights are learned.
const GROUPS: KeywordGroup[] = [
  {
    name: "proof",
    patterns: [/\b(prove|proof|show that|rigorous(ly)?|derive|derivation)\b/i, /证明|严格|推导|论证/],
  },
  {
    name: "competition",
    patterns: [/\b(olympiad|imo|aime|amc\s?1[02]?|putnam|competition)\b/i, /竞赛|奥数|奥林匹克/],
  },
  {
    name: "maths",
    patterns: [
      /\b(theorem|lemma|integral|derivative|limit|eigen\w*|matri(x|ces)|determinant|probability|expected (value|number)|variance|inequalit(y|ies)|polynomial|divisible|modulo|remainder|primes?|combinatori\w*|closed[- ]form|functions? f)\b/i,
      /定理|积分|导数|极限|矩阵|概率|期望|方差|不等式|多项式|整除|素数|质数|数列|函数方程|余数|归纳法/,
      /[∫∑∏√≤≥≠∞]|\\(frac|int|sum|sqrt)|\b[a-z]\^\d|lim\s*\(|\bf\([a-z]/i,
    ],
  },
  {
    name: "complex code",
    patterns: [
      /\b(thread[- ]safe|concurren\w*|lock[- ]free|race conditions?|deadlock|memory (model|ordering)|mutex|goroutines?)\b/i,
      /\b(implement|design|build|write)\w*\b.*\b(cache|compiler|parser|scheduler|allocator|engine|protocol|limiter|consensus|garbage collector|storage)\b/i,
      /并发|线程安全|无锁|竞态|死锁|重构|编译器|调度|一致性/,
    ],
  },
  {
    name: "code",
    patterns: [
      /```|^\s{2,}\S.*[;{}]\s*$/m,
      /\b(function|class|def|sql|regex|python|rust|c\+\+|golang|go|java(script)?|typescript|bash)\b/i,
    ],
  },
  {
    name: "law",
    patterns: [
      /\b(gdpr|ccpa|liabilit(y|ies)|indemnif\w*|enforceab\w*|statute|litigation|governing law|jurisdiction|tort|clause|warrant(y|ies)|redlines?)\b/i,
      /民法典|公司法|司法解释|举证|违约|法律后果|条款|效力|合规|仲裁|诉讼/,
    ],
  },
  {
    name: "sql tuning",
    patterns: [
      /\b(query plan|explain( analyze)?|seq(uential)? scan|hash join|nested loop|index(es|ing)?|filesort|shard\w*|partition\w*)\b/i,
      /执行计划|索引|慢查询|全表扫描|分库分表|分区/,
    ],
  },
  {
    name: "systems",
    patterns: [
      /\b(distributed|consensus|raft|paxos|multi-region|high availability|fault[- ]toleran\w*|websockets?|oauth|kubernetes|docker)\b/i,
      /分布式|高并发|高可用|架构|千万级|亿级|容错|鉴权|部署/,
    ],
  },
  {
    name: "finance",
    patterns: [
      /\b(dcf|valuation|wacc|cash flows?|eps|dilution|accretion|duration|yield to maturity|portfolio|efficient frontier)\b/i,
      /估值|现金流|财务模型|报表|摊薄|久期|收益率|投资组合|稀释/,
    ],
  },
  {
    name: "research",
    patterns: [
      /\b(literature review|related[- ]work|ablation|causal|endogeneity|bias-variance|hypothes[ie]s|white ?paper|thesis|paper)\b/i,
      /文献综述|相关工作|消融|因果|内生性|论文|研究方案|学术/,
    ],
  },
  {
    name: "reasoning",
    patterns: [
      /\b(step by step|explain why|analy[sz]e|analysis|compare|trade-?offs?|justify|in depth|pros and cons|assumptions?|estimate)\b/i,
      /分析|为什么|权衡|优劣|利弊|深入|详细|推理|估算|假设/,
    ],
  },
  {
    name: "long output",
    patterns: [
      /\b\d{3,}[- ]?(words?|pages?|slides?)\b|\b(comprehensive|in-depth|detailed|technical|full|complete) (report|analysis|plan|guide|study|code|app\w*)\b|\b(business plan|white ?paper|essay)\b/i,
      /不少于\s*\d{3,}\s*字|\d{3,}字|报告|白皮书|商业计划|完整/,
    ],
  },
  {
    name: "simple request",
    patterns: [
      /^\s*(hi|hello|hey|thanks|thank you|good (morning|evening|night))\b/i,
      /\b(translate|synonyms?|joke|haiku|poem|recipe|in one sentence|spelling|remind\w*|convert|slogan|caption)\b/i,
      /你好|早上好|谢谢|翻译|笑话|一句话|菜谱|怎么做|推荐|祝福|文案/,
    ],
  },
];

const CJK = /[\u3400-\u9fff\uf900-\ufaff]/g;
const WORD = /[A-Za-z0-9_]+/g;
/** Keyword scans read at most this much of the ask, so a pasted book costs the same as a page. */
const SCAN_CHARS = 8000;
/**
 * N-grams are read from this many characters at the start and at the end of the ask: the ask itself is
 * usually there when a long text is pasted, and it keeps the cost of a request bounded (bench/routing.ts).
 */
const NGRAM_HEAD = 1500;
const NGRAM_TAIL = 500;
// Several separate demands in one ask ("..., then ..., and ...") mean a longer, structured answer.
const DEMANDS =
  /\b(then|also|and (discuss|explain|analy[sz]e|compare|prove|give|derive))\b|并且|同时|然后|再|并给出|并说明|并分析|并推广/gi;

/** Roughly one unit per English word or per 1.5 CJK characters (about a token each). */
export function lengthUnits(text: string): number {
  const cjk = text.match(CJK)?.length ?? 0;
  const words = text.match(WORD)?.length ?? 0;
  return words + cjk / 1.5;
}

/** A sparse feature vector: name -> value. */
export type Features = Map<string, number>;

/**
 * The hand-made features of an ask, named as they appear in route reasons. `extraUnits` is the length of the
 * rest of the conversation, in the same units as lengthUnits.
 */
export function handFeatures(ask: string, extraUnits = 0, into: Features = new Map()): Features {
  const text = ask.length > SCAN_CHARS ? ask.slice(0, SCAN_CHARS) : ask;
  for (const group of GROUPS) {
    let hits = 0;
    for (const pattern of group.patterns) if (pattern.test(text)) hits++;
    if (hits > 0) into.set(group.name, hits);
  }
  const askUnits = lengthUnits(text);
  const units = askUnits + extraUnits;
  // Cumulative buckets: a 700-unit ask has all three, so each weight is the step from the one below.
  if (units > 40) into.set("length>40", 1);
  if (units > 150) into.set("length>150", 1);
  if (units > 600) into.set("length>600", 1);
  // The ask alone: a short question stays short under a system prompt or after a long conversation.
  if (askUnits < 12) into.set("length<12", 1);
  const demands = text.match(DEMANDS)?.length ?? 0;
  if (demands > 0) into.set("multi-part", Math.min(2, demands));
  return into;
}

/** The distinct n-grams of an ask, by kind (the prefix of their names: `c:`, `w:`, `g:`). */
export interface Ngrams {
  /** CJK 1-3 character grams. */
  c: Set<string>;
  /** Latin word unigrams and bigrams. */
  w: Set<string>;
  /** Character 3-4 grams of Latin words, a space marking each word's edges. */
  g: Set<string>;
}

/**
 * Character and word n-grams of an ask, after NFKC and lower-casing: CJK 1-3 character grams within runs
 * of CJK characters (no segmenter needed), Latin word unigrams and bigrams and character 3-4 grams of each
 * word (which catch prove/proof/proving alike). Kept apart by kind rather than prefixed, which halves the
 * cost at request time (no string concatenation per gram).
 */
export function ngrams(ask: string): Ngrams {
  const raw =
    ask.length > NGRAM_HEAD + NGRAM_TAIL ? `${ask.slice(0, NGRAM_HEAD)}\n${ask.slice(-NGRAM_TAIL)}` : ask;
  // NFKC leaves ASCII as it is, so most English asks skip it.
  const text = (NON_ASCII.test(raw) ? raw.normalize("NFKC") : raw).toLowerCase();
  const out: Ngrams = { c: new Set(), w: new Set(), g: new Set() };
  for (const run of text.match(CJK_RUN) ?? []) {
    for (let i = 0; i < run.length; i++) {
      out.c.add(run[i]);
      if (i + 1 < run.length) out.c.add(run.slice(i, i + 2));
      if (i + 2 < run.length) out.c.add(run.slice(i, i + 3));
    }
  }
  for (const segment of text.split(CJK_RUN)) {
    let previous: string | undefined;
    for (const word of segment.match(LATIN_WORD) ?? []) {
      out.w.add(word);
      if (previous !== undefined) out.w.add(`${previous} ${word}`);
      previous = word;
      const padded = ` ${word} `;
      for (let i = 0; i + 3 <= padded.length; i++) {
        out.g.add(padded.slice(i, i + 3));
        if (i + 4 <= padded.length) out.g.add(padded.slice(i, i + 4));
      }
    }
  }
  return out;
}

/** Number of distinct n-grams of all kinds. */
export function ngramCount(grams: Ngrams): number {
  return grams.c.size + grams.w.size + grams.g.size;
}

/** The n-grams as prefixed names (`c:证明`, `w:prove`, `g: pro`), as the weights file keys them. */
export function ngramNames(grams: Ngrams): string[] {
  return [
    ...[...grams.c].map((x) => `c:${x}`),
    ...[...grams.w].map((x) => `w:${x}`),
    ...[...grams.g].map((x) => `g:${x}`),
  ];
}

const NON_ASCII = /[^\t\n\r\u0020-\u007e]/;

/** Whether a feature name is an n-gram's (`c:`, `w:` or `g:` and the gram) rather than a hand-made one's. */
export function isNgram(name: string): boolean {
  return name.length > 2 && name[1] === ":" && (name[0] === "c" || name[0] === "w" || name[0] === "g");
}
const CJK_RUN = /[\u3400-\u9fff\uf900-\ufaff]+/g;
const LATIN_WORD = /[a-z0-9_+#]+/g;

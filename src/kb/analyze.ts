import { stemmer } from "stemmer";

/**
 * Text to the terms the lexical index holds and a query is matched with: NFKC (full-width letters and
 * digits become ASCII), lower case, words as ICU segments them (`Intl.Segmenter`, whose dictionary splits
 * Chinese, which has no spaces, into words), English words reduced to their Porter stem ("installing" and
 * "installed" meet at "instal"). The same function runs at indexing (in the ingest worker) and at query time,
 * so both sides always agree.
 */

const segmenter = new Intl.Segmenter("zh", { granularity: "word" });
/** Latin letters only: stemming applies to English words, never to identifiers with digits or CJK. */
const LATIN_WORD = /^[a-z]+$/;
/** A Han character: a Chinese word of one character says little alone, and is kept but not as a bigram. */
const HAN = /\p{Script=Han}/u;

/**
 * A letter or two in brackets inside a word, as command references mark the option a letter stands for
 * ("Lis[t]", "e[x]tract", "[v]erbosely"): the brackets go, so the word is found as itself.
 */
const MNEMONIC = /(\p{L}?)\[(\p{L}{1,2})\](\p{L}?)/gu;

/** Longest term kept, in UTF-16 units: longer runs (base64, hashes) are noise to a lexical index. */
const MAX_TERM = 40;

/** The terms of `text`, in order, repeats kept (term frequency counts). */
export function analyze(text: string): string[] {
  const terms: string[] = [];
  const plain = text.normalize("NFKC").toLowerCase().replace(MNEMONIC, "$1$2$3");
  for (const { segment, isWordLike } of segmenter.segment(plain)) {
    if (!isWordLike || segment.length > MAX_TERM) continue;
    terms.push(LATIN_WORD.test(segment) && segment.length > 3 ? stemmer(segment) : segment);
  }
  return terms;
}

/**
 * The Chinese characters inside a term of two or more (a word ICU's dictionary kept whole, "计算"), each once per
 * occurrence; none for a term of one character or without Han. The index holds them beside the word, because a
 * question's words its dictionary lacks come out as single characters ("值|算|出来"): those then still find the
 * words they are part of. Search counts such a match for less than the character standing alone (see search.ts).
 */
export function innerCharacters(term: string): string[] {
  const characters = [...term];
  return characters.length < 2 ? [] : characters.filter((ch) => HAN.test(ch));
}

/** What the lexical index holds for a chunk's fields: their terms, then the characters of their Chinese words. */
export function indexedTerms(terms: { title: string[]; heading: string[]; body: string[] }) {
  const withCharacters = (field: string[]) => [...field, ...field.flatMap(innerCharacters)];
  return {
    title: withCharacters(terms.title),
    heading: withCharacters(terms.heading),
    body: withCharacters(terms.body),
  };
}

/** Whether a term is one Chinese character (what `innerCharacters` gives). */
export function isHanCharacter(term: string): boolean {
  return [...term].length === 1 && HAN.test(term);
}

/** Whether `text` is mostly Chinese, by its Han characters against its Latin letters (for answers' language). */
export function isChinese(text: string): boolean {
  let han = 0;
  let latin = 0;
  for (const ch of text) {
    if (HAN.test(ch)) han++;
    else if ((ch >= "a" && ch <= "z") || (ch >= "A" && ch <= "Z")) latin++;
  }
  // A Chinese sentence names English things (Vue, npm) but has more Han characters than words.
  return han > 0 && han * 3 >= latin;
}

/**
 * Words a question is phrased with rather than about ("怎么", "什么", "how", "what"): left out of a query, so
 * that a question's wording never counts as unmatched information (words no document holds weigh the most).
 * Documents keep them: a query without them simply does not look for them.
 */
const QUESTION_WORDS = new Set(
  (
    "什么 怎么 怎样 怎么样 如何 为什么 为何 哪些 哪个 哪里 哪儿 是否 吗 呢 吧 啊 呀 的 了 是 我 我们 你 您 他 她 它 在 有 和 与 及 " +
    "请 请问 可以 能 能够 会 要 想 应该 一下 一个 这个 那个 这 那 就 都 也 还 又 把 被 让 给 对 从 到 用 去 做 个 些 时候 " +
    "what how why which who whom whose when where is are was were be been do does did doing done can could should would will " +
    "shall may might must the a an of to in on at for with by from into about as and or but if then than so that this these " +
    "those it its i me my we our us you your he she they them their there here any some anyth someth thing way get got need want " +
    "use"
  ).split(" "),
);

/** The terms of a question, without the words it is phrased with (see QUESTION_WORDS). */
export function analyzeQuery(text: string): string[] {
  const terms = analyze(text);
  const kept = terms.filter((t) => !QUESTION_WORDS.has(t));
  // A question made only of such words still searches for them.
  return kept.length > 0 ? kept : terms;
}

// Bytes of a text file -> a string and the name of its encoding. Decoding uses the WHATWG decoders Node ships
// with full ICU (GB18030, Big5, Shift_JIS, ...); chardet only ranks candidates for a file that is not UTF-8.
import chardet from "chardet";
import { ExtractError } from "./types.js";

export interface DecodedText {
  text: string;
  /** WHATWG name in lower case: "utf-8", "utf-16le", "gb18030", ... */
  encoding: string;
}

/** Multi-byte encodings chardet can name, by the label TextDecoder takes. */
const CJK_ENCODINGS: Record<string, string> = {
  GB18030: "gb18030",
  Big5: "big5",
  Shift_JIS: "shift_jis",
  "EUC-JP": "euc-jp",
  "EUC-KR": "euc-kr",
};

/** How much of a file the NUL-byte and encoding checks look at. */
const SAMPLE_BYTES = 64 * 1024;

/**
 * Decodes a text file: a BOM decides (UTF-8, UTF-16LE/BE); else valid UTF-8 is UTF-8; else the CJK encoding
 * chardet ranks first when it decodes without error, GB18030 when that decodes (short Chinese files, where
 * chardet cannot tell), and windows-1252 last. NUL bytes or mostly control characters mean binary data.
 */
export function decodeText(bytes: Uint8Array): DecodedText {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf)
    return check(decode(bytes.subarray(3), "utf-8"));
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return check(decode(bytes.subarray(2), "utf-16le"));
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return check(decode(bytes.subarray(2), "utf-16be"));
  if (bytes.subarray(0, SAMPLE_BYTES).includes(0)) throw binary();
  const utf8 = tryDecode(bytes, "utf-8");
  if (utf8 !== undefined) return check({ text: utf8, encoding: "utf-8" });
  for (const match of chardet.analyse(bytes.subarray(0, SAMPLE_BYTES))) {
    const label = CJK_ENCODINGS[match.name];
    if (!label || match.confidence < 50) continue;
    const text = tryDecode(bytes, label);
    if (text !== undefined) return check({ text, encoding: label });
  }
  const gb = tryDecode(bytes, "gb18030");
  if (gb !== undefined) return check({ text: gb, encoding: "gb18030" });
  return check(decode(bytes, "windows-1252"));
}

function decode(bytes: Uint8Array, encoding: string): DecodedText {
  // ignoreBOM: the BOM was looked at (and skipped) above, so a second one is content.
  return { text: new TextDecoder(encoding, { ignoreBOM: true }).decode(bytes), encoding };
}

function tryDecode(bytes: Uint8Array, encoding: string): string | undefined {
  try {
    return new TextDecoder(encoding, { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/** Text whose sample is over 10% control characters (other than whitespace) is binary data. */
function check(decoded: DecodedText): DecodedText {
  const sample = decoded.text.slice(0, SAMPLE_BYTES);
  let controls = 0;
  for (let i = 0; i < sample.length; i++) {
    const c = sample.charCodeAt(i);
    if (
      (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0c && c !== 0x0d) ||
      (c >= 0x7f && c < 0xa0) ||
      c === 0xfffd
    )
      controls++;
  }
  if (controls > sample.length / 10 || sample.includes("\u0000")) throw binary();
  return decoded;
}

function binary(): ExtractError {
  return new ExtractError(
    "binary_content",
    "The file holds binary data, not text in any encoding we know (UTF-8, UTF-16, GB18030, Big5, Shift_JIS, ...); was the wrong file or extension uploaded?",
  );
}

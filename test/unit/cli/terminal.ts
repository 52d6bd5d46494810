/** Code points that must never reach a terminal raw from someone else's text (the list of issue 11, item 9). */
function forging(code: number): boolean {
  return (
    code < 0x20 || // C0, including CR and LF
    (code >= 0x7f && code <= 0x9f) || // DEL and C1
    code === 0x2028 ||
    code === 0x2029 || // line and paragraph separators
    (code >= 0x202a && code <= 0x202e) || // bidi embeddings and overrides
    (code >= 0x2066 && code <= 0x2069) || // bidi isolates
    code === 0x200e ||
    code === 0x200f ||
    code === 0x061c || // bidi marks
    (code >= 0x200b && code <= 0x200d) ||
    code === 0xfeff || // zero-width characters
    (code >= 0xd800 && code <= 0xdfff) // a lone surrogate (a pair reads as one code point)
  );
}

/** The forging characters in `text`, as code points; line feeds are allowed where a caller says so. */
export function forgingChars(text: string, opts: { lineFeeds?: boolean } = {}): number[] {
  const found: number[] = [];
  for (const c of text) {
    const code = c.codePointAt(0) as number;
    if (opts.lineFeeds && code === 0x0a) continue;
    if (forging(code)) found.push(code);
  }
  return found;
}

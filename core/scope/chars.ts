/**
 * The characters no scope may contain, whatever its kind: NUL, other control characters, whitespace and non-ASCII
 * (look-alike letters). Returns why the character at `i` is refused, or undefined when it may appear.
 */
export function forbiddenCharacter(c: number, nonAscii = 'contains a non-ASCII character'): string | undefined {
  if (c === 0) return 'contains a NUL character';
  if (c < 0x20 || c === 0x7f) return 'contains a control character';
  if (c === 0x20) return 'contains whitespace';
  if (c > 0x7f) return nonAscii;
  return undefined;
}

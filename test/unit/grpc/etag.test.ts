import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { etagMatches, feedEtag } from '../../../adapters/grpc/revocations';

const entry = fc.record({ jti: fc.string({ minLength: 1, maxLength: 40 }), exp: fc.nat() });

describe('Function: feedEtag', () => {
  it('gives the same tag for the same list and different tags for different lists', () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 8 }), fc.array(entry, { maxLength: 8 }), (a, b) => {
        expect(feedEtag(a)).toBe(feedEtag([...a]));
        if (JSON.stringify(a) !== JSON.stringify(b)) expect(feedEtag(a)).not.toBe(feedEtag(b));
      }),
    );
  });

  it('is a weak validator (a build time change keeps the tag)', () => {
    expect(feedEtag([{ jti: 'tb-1', exp: 5 }])).toMatch(/^W\/"[A-Za-z0-9_-]{32}"$/);
  });
});

describe('Function: etagMatches', () => {
  const tag = feedEtag([{ jti: 'tb-1', exp: 5 }]);
  const opaque = tag.slice(2);

  it('matches the tag weakly, in a list, or any tag for *', () => {
    expect(etagMatches(tag, tag)).toBe(true);
    expect(etagMatches(opaque, tag)).toBe(true);
    expect(etagMatches(`"x", ${tag}`, tag)).toBe(true);
    expect(etagMatches('*', tag)).toBe(true);
  });

  it('never matches without a header or for another list', () => {
    expect(etagMatches(undefined, tag)).toBe(false);
    expect(etagMatches('', tag)).toBe(false);
    expect(etagMatches(feedEtag([]), tag)).toBe(false);
  });

  it('never throws and matches only a header that contains the tag or *', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (header) => {
        const m = etagMatches(header, tag);
        if (m) expect(header.includes(opaque) || header.includes('*')).toBe(true);
      }),
    );
  });
});

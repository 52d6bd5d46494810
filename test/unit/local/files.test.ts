import { createHmac, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import * as fc from 'fast-check';
import { ensureOwnerOnlyDir, ensureOwnerOnlyFile, loadAuditKey } from '../../../adapters/local/files';
import { GroupSync } from '../../../adapters/local/sqlite/group-sync';
import { Sealer } from '../../../adapters/local/sqlite/seal';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'timebox-files-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const mode = (p: string) => statSync(p).mode & 0o777;

describe('Function: ensureOwnerOnlyDir / ensureOwnerOnlyFile', () => {
  it('creates the folder 0700 and the file 0600', () => {
    const home = join(dir, 'a', '.timebox');
    ensureOwnerOnlyDir(home);
    ensureOwnerOnlyFile(join(home, 'timebox.db'));
    expect(mode(home)).toBe(0o700);
    expect(mode(join(home, 'timebox.db'))).toBe(0o600);
  });

  it('refuses a folder or a file others can reach, naming the path and the chmod that fixes it', () => {
    const home = join(dir, 'open');
    mkdirSync(home, { mode: 0o755 });
    chmodSync(home, 0o755);
    expect(() => ensureOwnerOnlyDir(home)).toThrow(
      expect.objectContaining({ code: 'LOCAL.DATA_TOO_OPEN', message: expect.stringContaining(`chmod 700 ${home}`) }),
    );
    const file = join(dir, 'timebox.db');
    writeFileSync(file, '');
    chmodSync(file, 0o640);
    expect(() => ensureOwnerOnlyFile(file)).toThrow(
      expect.objectContaining({ code: 'LOCAL.DATA_TOO_OPEN', message: expect.stringContaining(`chmod 600 ${file}`) }),
    );
    // Refused, not fixed: the operator decides.
    expect(mode(file)).toBe(0o640);
  });
});

describe('Function: loadAuditKey', () => {
  it('creates a 32-byte key owner-only on first use and reads the same key afterwards', () => {
    const path = join(dir, 'audit.key');
    const key = loadAuditKey(path);
    expect(key).toHaveLength(32);
    expect(mode(path)).toBe(0o600);
    expect(loadAuditKey(path).equals(key)).toBe(true);
    expect(readFileSync(path, 'utf8')).toBe(key.toString('hex'));
  });

  it('refuses a key others can read, and a file that is not a key', () => {
    const path = join(dir, 'audit.key');
    loadAuditKey(path);
    chmodSync(path, 0o644);
    expect(() => loadAuditKey(path)).toThrow(expect.objectContaining({ code: 'LOCAL.DATA_TOO_OPEN' }));
    chmodSync(path, 0o600);
    writeFileSync(path, 'not a key');
    expect(() => loadAuditKey(path)).toThrow(expect.objectContaining({ code: 'LOCAL.AUDIT_KEY_INVALID' }));
  });
});

describe('Class: Sealer', () => {
  it('computes HMAC-SHA256 exactly as createHmac does, for any key and input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 64 }), fc.string(), fc.nat(), (key, grantId, seq) => {
        const k = Buffer.from(key);
        const expected = createHmac('sha256', k)
          .update(`timebox.event.v1\n${seq}\n${grantId}\n${seq}\nh`, 'utf8')
          .digest();
        expect(new Sealer(k).event(seq, grantId, seq, 'h').equals(expected)).toBe(true);
      }),
    );
  });

  it('gives another seal for another key, another row kind, another place', () => {
    const a = new Sealer(randomBytes(32));
    const b = new Sealer(randomBytes(32));
    expect(a.event(1, 'g', 1, 'h').equals(b.event(1, 'g', 1, 'h'))).toBe(false);
    expect(a.event(1, 'g', 1, 'h').equals(a.event(2, 'g', 1, 'h'))).toBe(false);
    expect(a.event(1, 'g', 1, 'h').equals(a.view('g', 'h'))).toBe(false);
  });
});

describe('Class: GroupSync', () => {
  it('covers every caller with an fsync that started after its call, sharing one among those that queued', async () => {
    const wal = join(dir, 'timebox.db-wal');
    writeFileSync(wal, 'x');
    const sync = new GroupSync(wal);
    const started: number[] = [];
    const proto = GroupSync.prototype as unknown as { run: () => Promise<void> };
    const real = proto.run;
    const run = jest.spyOn(proto, 'run').mockImplementation(function (this: GroupSync) {
      started.push(Date.now());
      return real.call(this);
    });
    try {
      const first = sync.sync();
      // Called while the first runs: they may have committed after it started, so one more fsync covers them all.
      const later = Array.from({ length: 10 }, () => sync.sync());
      await Promise.all([first, ...later]);
      expect(run).toHaveBeenCalledTimes(2);
      await sync.sync();
      expect(run).toHaveBeenCalledTimes(3);
    } finally {
      run.mockRestore();
      await sync.close();
    }
  });
});

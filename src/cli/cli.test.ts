import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli } from './main';
import { formatPath, parseU64 } from './json';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const EXAMPLE = {
  format: 'arm-lpae-s1',
  granule: 4096,
  ias: 48,
  oas: 48,
  ops: [
    { op: 'map', iova: '0x200000', paddr: '0x80000000', pgsize: '0x200000', pgcount: 1, prot: ['read', 'write', 'cache'] },
    { op: 'unmap', iova: '0x200000', pgsize: '0x1000', pgcount: 1 },
    { op: 'iova_to_phys', iova: '0x200123' },
  ],
};

function run(doc: unknown, command = 'pgtable') {
  return runCli(command, typeof doc === 'string' ? doc : JSON.stringify(doc));
}

function expectInvalid(doc: unknown, path: string, command = 'pgtable') {
  const r = run(doc, command);
  expect(r.exitCode).toBe(2);
  expect(r.output).toMatchObject({ error: { kind: 'invalid-input', path } });
  const err = (r.output as { error: Record<string, unknown> }).error;
  expect(Object.keys(err)).toEqual(['kind', 'message', 'path']);
  expect(typeof err.message).toBe('string');
  return err;
}

function withOps(ops: unknown[], over: Record<string, unknown> = {}) {
  return { ...EXAMPLE, ...over, ops };
}

describe('pgtable: valid documents', () => {
  it('runs the cli.md example', () => {
    const r = run(EXAMPLE);
    expect(r.exitCode).toBe(0);
    expect(r.output).toEqual({ results: [{ mapped: '0x200000' }, { unmapped: '0x1000' }, { phys: null }] });
  });

  it('builds bit-exact stage-1 leaves and splits a block on a partial unmap', () => {
    const r = run(
      withOps([
        { op: 'map', iova: '0x200000', paddr: '0x80000000', pgsize: '0x200000', pgcount: 1, prot: ['read', 'write', 'cache'] },
        { op: 'iova_to_phys', iova: '0x2abcde' },
        { op: 'unmap', iova: '0x201000', pgsize: 4096, pgcount: 1 },
        { op: 'iova_to_phys', iova: '0x200123' },
        { op: 'iova_to_phys', iova: '0x201000' },
        { op: 'map', iova: 0x1000, paddr: '0x90000000', pgsize: '0x1000', pgcount: 1, prot: ['write', 'priv', 'mmio'] },
        { op: 'iova_to_phys', iova: '0x1004' },
        { op: 'map', iova: 0x3000, paddr: '0xA0000000', pgsize: '0x1000', pgcount: 1, prot: ['read', 'noexec', 'read'] },
        { op: 'iova_to_phys', iova: '0x3000' },
      ]),
    );
    expect(r.exitCode).toBe(0);
    expect(r.output).toEqual({
      results: [
        { mapped: '0x200000' },
        // 2M block at level 2: nG|AF|SH=IS|AP[1]|AttrIndx=1|block
        { phys: '0x800abcde', pte: '0x80000f45', level: 2 },
        { unmapped: '0x1000' },
        // the split leaves 4K pages with the block's attributes
        { phys: '0x80000123', pte: '0x80000f47', level: 3 },
        { phys: null },
        { mapped: '0x1000' },
        // write-only is read-write; priv clears AP[1]; mmio is AttrIndx 2; SH=OS without cache
        { phys: '0x90000004', pte: '0x90000e0b', level: 3 },
        { mapped: '0x1000' },
        // read-only sets AP[2]; noexec sets bits 53 and 54
        { phys: '0xa0000000', pte: '0x600000a0000ec3', level: 3 },
      ],
    });
  });

  it('builds bit-exact stage-2 leaves', () => {
    const r = run(
      withOps(
        [
          { op: 'map', iova: '0x0', paddr: '0x80000000', pgsize: '0x1000', pgcount: 2, prot: ['read', 'write', 'cache'] },
          { op: 'iova_to_phys', iova: '0x1fff' },
          { op: 'map', iova: '0x40000000', paddr: '0xc0000000', pgsize: '0x40000000', pgcount: 1, prot: ['read'] },
          { op: 'iova_to_phys', iova: '0x40000010' },
        ],
        { format: 'arm-lpae-s2', ias: 40, oas: 40 },
      ),
    );
    expect(r.exitCode).toBe(0);
    expect(r.output).toEqual({
      results: [
        { mapped: '0x2000' },
        { phys: '0x80001fff', pte: '0x800017ff', level: 3 },
        { mapped: '0x40000000' },
        // 1G block: AF|SH=OS|S2AP read|MemAttr NC (0x5)|block
        { phys: '0xc0000010', pte: '0xc0000655', level: 1 },
      ],
    });
  });

  it('reports errno results with exit 0 and keeps key order', () => {
    const r = run(
      withOps(
        [
          { op: 'map', iova: '0x1000', paddr: '0x1000', pgsize: '0x1000', pgcount: 1, prot: ['read'] },
          { op: 'map', iova: '0x1000', paddr: '0x1000', pgsize: '0x1000', pgcount: 1, prot: ['read'] },
          { op: 'map', iova: '0x1000000000', paddr: '0x0', pgsize: '0x1000', pgcount: 1, prot: ['read'] },
          { op: 'map', iova: '0x2000', paddr: '0x0', pgsize: '0x3000', pgcount: 1, prot: ['read'] },
          { op: 'map', iova: '0x2000', paddr: '0x0', pgsize: '0x1000', pgcount: 1, prot: ['cache'] },
          { op: 'unmap', iova: '0x5000', pgsize: '0x1000', pgcount: 1 },
        ],
        { ias: 36 },
      ),
    );
    expect(r.exitCode).toBe(0);
    const results = (r.output as { results: object[] }).results;
    expect(results).toEqual([
      { mapped: '0x1000' },
      { error: 'EEXIST', mapped: '0x0' },
      { error: 'ERANGE', mapped: '0x0' },
      { error: 'EINVAL', mapped: '0x0' },
      { error: 'EINVAL', mapped: '0x0' },
      { unmapped: '0x0' },
    ]);
    expect(Object.keys(results[1])).toEqual(['error', 'mapped']);
  });

  it('accepts hex digits in either case, leading zeros and safe-integer numbers', () => {
    const r = run(
      withOps([
        { op: 'map', iova: '0x0000000000200000', paddr: 2147483648, pgsize: '0x1000', pgcount: 1, prot: ['read', 'write'] },
        { op: 'iova_to_phys', iova: '0x2000AB' },
        { op: 'iova_to_phys', iova: '0xffffffffffffffff' },
        { op: 'iova_to_phys', iova: Number.MAX_SAFE_INTEGER },
      ]),
    );
    expect(r.exitCode).toBe(0);
    expect((r.output as { results: unknown[] }).results[1]).toEqual({ phys: '0x800000ab', pte: '0x80000e43', level: 3 });
  });
});

describe('pgtable: invalid input', () => {
  it('rejects a JSON syntax error with path ""', () => {
    expectInvalid('{"format": ', '');
    expectInvalid('', '');
  });

  it('rejects a document that is not an object', () => {
    expectInvalid([], '');
    expectInvalid(null, '');
  });

  it('rejects an unknown top-level field, naming it', () => {
    const err = expectInvalid({ ...EXAMPLE, coherent_walk: true }, 'coherent_walk');
    expect(err.message).toContain('coherent_walk');
  });

  it('rejects an unknown op field, naming it', () => {
    const ops: unknown[] = [...EXAMPLE.ops];
    ops[1] = { ...EXAMPLE.ops[1], foo: 1 };
    expectInvalid(withOps(ops), 'ops[1].foo');
  });

  it('rejects a missing field', () => {
    const { ias: _ias, ...noIas } = EXAMPLE;
    const err = expectInvalid(noIas, 'ias');
    expect(err.message).toMatch(/missing/);
    expectInvalid(withOps([{ op: 'iova_to_phys' }]), 'ops[0].iova');
  });

  it('rejects an unknown op', () => {
    expectInvalid(withOps([{ op: 'remap', iova: '0x0' }]), 'ops[0].op');
  });

  it('rejects bad 64-bit values', () => {
    expectInvalid(withOps([{ op: 'iova_to_phys', iova: '0xzz' }]), 'ops[0].iova');
    expectInvalid(withOps([{ op: 'iova_to_phys', iova: '1000' }]), 'ops[0].iova');
    expectInvalid(withOps([{ op: 'iova_to_phys', iova: '0X1000' }]), 'ops[0].iova');
    expectInvalid(withOps([{ op: 'iova_to_phys', iova: '0x' }]), 'ops[0].iova');
    expectInvalid(withOps([{ op: 'iova_to_phys', iova: '0x10000000000000000' }]), 'ops[0].iova');
    expectInvalid(withOps([{ op: 'iova_to_phys', iova: -1 }]), 'ops[0].iova');
    expectInvalid(withOps([{ op: 'iova_to_phys', iova: 1.5 }]), 'ops[0].iova');
    expectInvalid(withOps([{ op: 'iova_to_phys', iova: true }]), 'ops[0].iova');
    // 2^53 + 8 is exactly representable, but beyond 2^53 - 1
    expectInvalid('{"format":"arm-lpae-s1","granule":4096,"ias":48,"oas":48,"ops":[{"op":"iova_to_phys","iova":9007199254741000}]}', 'ops[0].iova');
    const map = EXAMPLE.ops[0];
    expectInvalid(withOps([{ ...map, pgsize: 9007199254740992 }]), 'ops[0].pgsize');
  });

  it('rejects bad pgcount and prot', () => {
    const map = EXAMPLE.ops[0];
    expectInvalid(withOps([{ ...map, pgcount: -1 }]), 'ops[0].pgcount');
    expectInvalid(withOps([{ ...map, pgcount: 2 ** 31 }]), 'ops[0].pgcount');
    expectInvalid(withOps([{ ...map, pgcount: '0x1' }]), 'ops[0].pgcount');
    expectInvalid(withOps([{ ...map, prot: ['read', 'exec'] }]), 'ops[0].prot[1]');
  });

  it('rejects a bad format, granule, ias or oas', () => {
    expectInvalid({ ...EXAMPLE, format: 'arm-v7s' }, 'format');
    expectInvalid({ ...EXAMPLE, granule: 8192 }, 'granule');
    expectInvalid({ ...EXAMPLE, granule: '4096' }, 'granule');
    expectInvalid({ ...EXAMPLE, ias: 0 }, 'ias');
    expectInvalid({ ...EXAMPLE, ias: 65 }, 'ias');
    expectInvalid({ ...EXAMPLE, oas: 48.5 }, 'oas');
  });

  it('turns io-pgtable configuration errors into invalid input naming the field', () => {
    const err = expectInvalid({ ...EXAMPLE, oas: 46 }, 'oas');
    expect(err.message).toContain('46');
    expectInvalid({ ...EXAMPLE, ias: 12 }, 'ias');
  });

  it('rejects an unknown or missing command, naming the valid ones', () => {
    const err = expectInvalid(EXAMPLE, '', 'pgtables');
    expect(err.message).toContain('pgtable');
    expectInvalid(EXAMPLE, '', '');
    expectInvalid(EXAMPLE, '', 'toString');
    expectInvalid(EXAMPLE, '', '__proto__');
  });
});

describe('json helpers', () => {
  it('formats paths like ops[0].pgsize', () => {
    expect(formatPath([])).toBe('');
    expect(formatPath(['ops', 0, 'pgsize'])).toBe('ops[0].pgsize');
    expect(formatPath(['a', 'b', 1, 2])).toBe('a.b[1][2]');
  });

  it('parses 64-bit values', () => {
    expect(parseU64('0xFFFFFFFFFFFFFFFF')).toBe((1n << 64n) - 1n);
    expect(parseU64(0)).toBe(0n);
    expect(typeof parseU64('0x1_0')).toBe('string');
    expect(typeof parseU64(2 ** 53)).toBe('string');
  });
});

describe('the cli as a process', () => {
  const tsx = `${ROOT}node_modules/.bin/tsx`;
  const spawn = (input: string, args = ['pgtable', '-']) =>
    spawnSync(tsx, ['src/cli/main.ts', ...args], { cwd: ROOT, input, encoding: 'utf8', timeout: 60_000 });

  it('runs a document from stdin: exit 0, one JSON document on stdout', () => {
    const r = spawn(JSON.stringify(EXAMPLE));
    expect(r.status).toBe(0);
    expect(r.stdout.endsWith('}\n')).toBe(true);
    expect(JSON.parse(r.stdout)).toEqual({ results: [{ mapped: '0x200000' }, { unmapped: '0x1000' }, { phys: null }] });
  });

  it('rejects a bad document: exit 2, only JSON on stdout', () => {
    const r = spawn(JSON.stringify({ ...EXAMPLE, granule: 1 }));
    expect(r.status).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { kind: 'invalid-input', path: 'granule' } });
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('reports an unreadable FILE as invalid input', () => {
    const r = spawn('', ['pgtable', '/nonexistent/doc.json']);
    expect(r.status).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { kind: 'invalid-input', path: '' } });
  });
});

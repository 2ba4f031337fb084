/**
 * `pgtable` command: drive io-pgtable-arm (src/emu/iopgtable.ts) with a list
 * of map / unmap / iova_to_phys operations, as /spec/cli.md describes.
 */

import { z } from 'zod';
import { ArmLpaeIoPgtable, IoPgtableConfigError, protFromNames } from '../emu/iopgtable';
import { PhysicalMemory, TableAllocator } from '../emu/memory';
import { CliInputError, parseInput, u64, u64Out } from './json';

const ProtName = z.enum(['read', 'write', 'cache', 'noexec', 'mmio', 'priv']);
/** Linux clamps pgcount with min_t(int, ...): keep it within a non-negative int. */
const PgCount = z
  .number()
  .int()
  .min(0)
  .max(2 ** 31 - 1);
const AddrBits = z.number().int().min(1).max(64);

const MapOp = z.strictObject({
  op: z.literal('map'),
  iova: u64,
  paddr: u64,
  pgsize: u64,
  pgcount: PgCount,
  prot: z.array(ProtName),
});

const UnmapOp = z.strictObject({
  op: z.literal('unmap'),
  iova: u64,
  pgsize: u64,
  pgcount: PgCount,
});

const IovaToPhysOp = z.strictObject({
  op: z.literal('iova_to_phys'),
  iova: u64,
});

export const PgtableInput = z.strictObject({
  format: z.enum(['arm-lpae-s1', 'arm-lpae-s2']),
  granule: z.literal([4096, 16384, 65536]),
  ias: AddrBits,
  oas: AddrBits,
  ops: z.array(z.discriminatedUnion('op', [MapOp, UnmapOp, IovaToPhysOp])),
});

export type PgtableInput = z.output<typeof PgtableInput>;

export type PgtableResult =
  | { mapped: string }
  | { error: string; mapped: string }
  | { unmapped: string }
  | { phys: string; pte: string; level: number }
  | { phys: null };

/** Where table memory comes from: any address works, only the io-pgtable's own reads see it. */
const TABLE_BASE = 0x4000_0000n;
const TABLE_LIMIT = 1n << 48n;

/** Fields of the document an IoPgtableConfigError may name. */
const CONFIG_FIELDS = new Set(['format', 'granule', 'ias', 'oas']);

export function runPgtable(doc: unknown): { results: PgtableResult[] } {
  const input = parseInput(PgtableInput, doc);
  const mem = new PhysicalMemory();
  const allocator = new TableAllocator(mem, TABLE_BASE, TABLE_LIMIT);
  let pgt: ArmLpaeIoPgtable;
  try {
    pgt = ArmLpaeIoPgtable.alloc(
      { fmt: input.format, granule: input.granule, ias: input.ias, oas: input.oas },
      allocator,
    );
  } catch (e) {
    if (e instanceof IoPgtableConfigError) {
      throw new CliInputError(
        `io-pgtable rejects the configuration: ${e.message}`,
        CONFIG_FIELDS.has(e.field) ? e.field : '',
      );
    }
    throw e;
  }

  const results: PgtableResult[] = [];
  for (const op of input.ops) {
    switch (op.op) {
      case 'map': {
        const r = pgt.mapPages(op.iova, op.paddr, op.pgsize, op.pgcount, protFromNames(op.prot));
        results.push(r.error ? { error: r.error, mapped: u64Out(r.mapped) } : { mapped: u64Out(r.mapped) });
        break;
      }
      case 'unmap':
        results.push({ unmapped: u64Out(pgt.unmapPages(op.iova, op.pgsize, op.pgcount)) });
        break;
      case 'iova_to_phys': {
        const r = pgt.iovaToPhys(op.iova);
        results.push(r ? { phys: u64Out(r.phys), pte: u64Out(r.pte), level: r.level } : { phys: null });
        break;
      }
    }
  }
  return { results };
}

/**
 * The lesson index. Lesson content is code-split: each lesson's module is
 * loaded when the lesson opens, so the first page load carries only this list.
 */
import type { Lesson } from './types';

export interface LessonMeta {
  id: string;
  title: string;
  summary: string;
  load: () => Promise<Lesson>;
}

export const LESSONS: LessonMeta[] = [
  { id: 'smmu-basics', title: 'What an SMMU does', summary: 'A device’s DMA under abort, bypass and stage-1 STEs; StreamIDs and a linear stream table.', load: () => import('./content/smmu-basics').then((m) => m.lesson) },
  { id: 'stream-tables', title: 'Two-level stream tables', summary: 'Why large StreamID spaces use L1 descriptors and lazily allocated L2 tables.', load: () => import('./content/stream-tables').then((m) => m.lesson) },
  { id: 'page-tables', title: 'Reading a page table', summary: 'A stage-1 4K walk level by level; blocks versus pages.', load: () => import('./content/page-tables').then((m) => m.lesson) },
  { id: 'granules', title: 'Granules and start levels', summary: '4K, 16K and 64K granules, and why the start level depends on T0SZ.', load: () => import('./content/granules').then((m) => m.lesson) },
  { id: 'two-stages', title: 'Two stages', summary: 'Stage 2 alone, then nested S1 + S2: the 24-read 2-D walk, and how S2 blocks cut it.', load: () => import('./content/two-stages').then((m) => m.lesson) },
  { id: 'tlb-sync', title: 'The TLB and why CMD_SYNC matters', summary: 'Change a PTE without invalidating and watch the stale translation; fix it with TLBI + SYNC; what TLBI_NH_ASID spares.', load: () => import('./content/tlb-sync').then((m) => m.lesson) },
  { id: 'paravirt', title: 'Paravirtualised I/O page tables', summary: 'The six hypercalls, the hypervisor’s own tables, refcounted host pages.', load: () => import('./content/paravirt').then((m) => m.lesson) },
  { id: 'nested', title: 'Nested by trap and emulate', summary: 'The host driver’s STE and command writes trapped, filtered and shadowed; bypass becomes stage 2.', load: () => import('./content/nested').then((m) => m.lesson) },
  { id: 'identity', title: 'Pinned identity stage 2', summary: 'What an identity S2 protects and what it gives up.', load: () => import('./content/identity').then((m) => m.lesson) },
  { id: 'static-vs-dynamic', title: 'Static versus dynamic DMA', summary: 'The cost of the three designs on both workloads, measured: where each one wins.', load: () => import('./content/static-vs-dynamic').then((m) => m.lesson) },
  { id: 'invalidation', title: 'Invalidation under load', summary: 'Batching, range invalidation, DVM and vCMDQ.', load: () => import('./content/invalidation').then((m) => m.lesson) },
  { id: 'sva', title: 'SVA needs nesting', summary: 'Why sharing a process’s page table with a device needs the host to own stage 1: nesting, not paravirtual tables.', load: () => import('./content/sva').then((m) => m.lesson) },
  { id: 'malicious-host', title: 'A malicious host', summary: 'Each attack tried and rejected, with the check that stopped it.', load: () => import('./content/malicious-host').then((m) => m.lesson) },
];

export function lessonById(id: string): LessonMeta | undefined {
  return LESSONS.find((l) => l.id === id);
}

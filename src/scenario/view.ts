/**
 * The view model: plain JSON data the Worker builds from the emulator and the
 * UI draws. Nothing here refers to emulator objects; every 64-bit value is a
 * lower-case `0x` hex string (as in the CLI), every structure carries what a
 * panel needs to draw it without knowing the architecture's encodings.
 */

/** A 64-bit value as `0x…` lower-case hex. */
export type Hex = string;

/** One field of a register or in-memory structure, for a register diagram. */
export interface BitField {
  /** The architecture's name (e.g. `Config`, `S2TTB`, `AttrIndx`). */
  name: string;
  /** Bit positions within the whole structure (an STE is bits 0..511). */
  hi: number;
  lo: number;
  /** The field's value. */
  value: Hex;
  /** What the field means (one sentence). */
  doc: string;
  /** What this value means here, when known (e.g. `0b101: S1 translate, S2 bypass`). */
  meaning?: string;
}

/** A structure drawn as a register diagram (STE, CD, L1STD, descriptor, command, event record, register). */
export interface RegisterView {
  /** E.g. `STE 1`, `CD 0 of SID 1`, `L3 page descriptor`. */
  title: string;
  /** Width in bits (64 × dwords). */
  width: number;
  /** The raw 64-bit words, little-endian order (word 0 = bits 63:0). */
  raw: Hex[];
  fields: BitField[];
  /** Decoded summary lines and CPUlator-style warnings (misprogramming that is legal but suspicious). */
  notes: string[];
  warnings: string[];
}

export type SteConfigView = 'abort' | 'bypass' | 's1' | 's2' | 'nested' | 'invalid' | 'illegal';

export interface CdRow {
  ssid: number;
  addr: Hex;
  valid: boolean;
  asid: number;
  ttb0: Hex;
  cd: RegisterView;
  /** When the CD is reached through a 2-level CD table. */
  l1cd?: RegisterView;
}

export interface StreamRow {
  sid: number;
  /** Physical address of the STE. */
  addr: Hex;
  valid: boolean;
  config: SteConfigView;
  /** Why the STE is ILLEGAL, when it is. */
  illegal?: string;
  vmid?: number;
  /** ASID of the CD at SSID 0, when there is one. */
  asid?: number;
  s1ContextPtr?: Hex;
  s2ttb?: Hex;
  /** Device name from the scenario, if any. */
  device?: string;
  ste: RegisterView;
  /** Present for 2-level stream tables. */
  l1std?: RegisterView;
  cds: CdRow[];
}

export interface StrtabView {
  fmt: 'linear' | '2-level';
  base: Hex;
  log2size: number;
  split: number;
  smmuen: boolean;
  /** GBPA.ABORT when SMMUEN = 0. */
  gbpaAbort: boolean;
}

export interface QueueEntryView {
  index: number;
  addr: Hex;
  raw: Hex[];
  /** E.g. `CMD_TLBI_NH_VA`, `F_TRANSLATION`. */
  name: string;
  /** One-line decode. */
  text: string;
  fields: BitField[];
  /** True for entries between CONS and PROD (not yet consumed). */
  pending: boolean;
}

export interface QueuePointer {
  index: number;
  wrap: number;
  raw: number;
}

export interface QueueView {
  name: 'cmdq' | 'eventq';
  enabled: boolean;
  base: Hex;
  log2size: number;
  prod: QueuePointer;
  cons: QueuePointer & { err?: string };
  /** Entries of the queue memory, in index order (all slots ever written; up to 2^log2size, capped at 256). */
  entries: QueueEntryView[];
  overflow: boolean;
}

export interface ErrorView {
  gerror: number;
  gerrorn: number;
  /** Names of GERROR bits active (GERROR != GERRORN), e.g. `CMDQ_ERR`. */
  active: string[];
  /** The last CERROR, decoded, when CMDQ_CONS.ERR != 0 or one was seen this step. */
  cerror?: string;
}

/** A page table the UI can draw. */
export interface PtTableRef {
  id: string;
  /** E.g. `host domain "nic" (S1)`, `hyp S2 (identity)`, `shadow S2`. */
  label: string;
  stage: 1 | 2;
  granule: 4096 | 16384 | 65536;
  startLevel: number;
  /** Root table physical address. */
  root: Hex;
  /** Input address bits. */
  ias: number;
  /** Concatenated start tables (stage 2), 1 otherwise. */
  concat: number;
  owner: 'host' | 'hyp';
}

export interface PtNode {
  /** Unique in its tree (e.g. `0.12.3`). */
  id: string;
  level: number;
  kind: 'root' | 'table' | 'block' | 'page' | 'invalid';
  /** Index of this entry in its parent table (-1 for the root). */
  index: number;
  /** First input address this entry covers, and how many bytes. */
  iaBase: Hex;
  iaSize: Hex;
  /** Physical address of the descriptor (the root: of the table). */
  addr: Hex;
  desc?: Hex;
  /** Next-level table address (table) or output address (leaf). */
  oa?: Hex;
  /** Leaves under this node (itself for a leaf). */
  leafCount: number;
  children?: PtNode[];
  fields?: BitField[];
}

export interface PtTree {
  ref: PtTableRef;
  root: PtNode;
  leaves: number;
  tables: number;
  /** True when the tree was cut at the size cap. */
  truncated: boolean;
  /** The 52-bit 64K descriptor layout (decode `desc` with it when `fields` are absent). */
  lpa?: boolean;
}

export interface OwnershipRunView {
  base: Hex;
  size: Hex;
  owner: 'host' | 'hyp' | 'guest' | 'none';
  guest?: number;
  /** `host: PKVM_PAGE_OWNED, hyp: PKVM_NOPAGE`. */
  state: string;
  sharedWith?: string;
  mmio: boolean;
  dmaRefcount: number;
  hypPins: number;
}

export type LogKind = 'hypercall' | 'trap' | 'cmd' | 'ste' | 's2' | 'event' | 'cerror' | 'reject' | 'mmio' | 'driver' | 'note';

export interface LogEntry {
  /** The scenario step that produced it (1-based: step i's entries). */
  step: number;
  kind: LogKind;
  text: string;
  detail?: string;
}

export interface ShadowPair {
  sid: number;
  hostKind: string;
  shadowKind: string;
  host: RegisterView | null;
  shadow: RegisterView | null;
  /** Field names whose values differ between the two. */
  differs: string[];
}

export type TracePurposeView = 's1-table' | 's2-for-s1-table' | 's2-for-output' | 's2-for-cd' | 'ste' | 'cd' | 'l1std' | 'l1cd';

export interface WalkAccess {
  /** 1-based order of the read. */
  n: number;
  stage: 0 | 1 | 2;
  level: number;
  addr: Hex;
  /** The 64-bit value read, or null for an external abort. */
  desc: Hex | null;
  purpose: TracePurposeView;
  /** The address being translated (VA for stage 1, IPA for stage 2). */
  ia?: Hex;
  kind?: string;
  /**
   * The cell in the nested 2-D grid: `row` = the S1 level whose table (or, for
   * row = s1 leaf level + 1, the output) is being located; `col` = the S2 level
   * (or `s1` for the S1 descriptor itself). Absent for configuration fetches.
   */
  row?: number;
  col?: number | 's1';
  fields: BitField[];
  /** A plain-language sentence for this read. */
  text: string;
}

export type WalkOutcome =
  | { kind: 'ok'; pa: Hex; ipa?: Hex; tlb: 'hit' | 'miss' }
  | { kind: 'bypass'; pa: Hex }
  | { kind: 'abort'; reason: string }
  | { kind: 'fault'; type: string; code: Hex; text: string; record: RegisterView; reason: string };

export interface WalkRequestView {
  sid: number;
  ssid?: number;
  iova: Hex;
  access: 'read' | 'write' | 'exec';
  priv: boolean;
}

export interface WalkView {
  request: WalkRequestView;
  accesses: WalkAccess[];
  outcome: WalkOutcome;
  /** Table reads only (not STE/CD fetches). */
  tableReads: number;
  /** For a nested walk: the S1 levels (rows) and S2 levels (columns) of the grid. */
  grid?: { rows: number[]; cols: number[] };
}

export type StepTag = 'fault' | 'trap' | 'hypercall' | 'event' | 'cerror' | 'error' | 'dma';

export interface StepInfo {
  /** 1-based index (step 0 is the machine before any step). */
  index: number;
  /** `do` of the step (`hvc`, `host`, `dma`, …). */
  do: string;
  /** Short label, e.g. `hvc map_pages`, `dma sid 1 0x101234 write`. */
  label: string;
  tags: StepTag[];
  /** The step's CLI-format result. */
  result: unknown;
  /** Plain-language sentence describing what happened. */
  text: string;
  /** Author's narration, when the scenario has one. */
  note?: string;
}

export interface CostView {
  counts: Record<string, number>;
  modelled_us: number;
  parts: Record<string, number>;
  pinned_bytes: Hex;
}

export interface RegValue {
  name: string;
  offset: number;
  value: Hex;
}

export type Mode = 'bare' | 'paravirt' | 'nested' | 'identity';

/** Everything the panels draw at one step. */
export interface Snapshot {
  /** The step shown: 0 = machine after boot, i = after step i. */
  step: number;
  /** Number of steps in the scenario. */
  steps: number;
  mode: Mode;
  title: string;
  regs: RegValue[];
  strtab: StrtabView;
  streams: StreamRow[];
  /** STEs in the table not listed in `streams` (Linux's plain abort STEs, what an initialised table is full of), when counted. */
  streamsHidden?: number;
  /** Page tables present at this step. */
  tables: PtTableRef[];
  cmdq: QueueView;
  eventq: QueueView;
  errors: ErrorView;
  ownership: OwnershipRunView[];
  /** Log entries up to and including this step (the last 500). */
  log: LogEntry[];
  /** Nested mode: host vs shadow STEs. */
  shadow: ShadowPair[];
  /** The walk of this step, when it is a `dma` step. */
  walk: WalkView | null;
  cost: CostView;
  invariants: { ok: boolean; violations: Array<{ kind: string; message: string }> };
  /** Suspicious configuration at this step, each one line (CPUlator-style). */
  warnings: Array<{ where: string; text: string }>;
}

// ---------------------------------------------------------------------------
// The cost comparison (a Worker job separate from the scenario's steps).

export type DesignNameView = 'kernel' | 'paravirt' | 'nested' | 'identity';

export interface CompareWorkload {
  kind: 'static' | 'dynamic' | 'sg';
  buffers: number;
  /** Bytes per buffer, a multiple of 4096. */
  bufferSize: number;
  requests: number;
  accessesPerRequest: number;
  accessSize: number;
  pattern: 'sequential' | 'random';
  batch: number;
  sgPages: number;
  seed: number;
}

export interface CompareDesignResult {
  design: DesignNameView;
  requests: number;
  counts: Record<string, number>;
  totalUs: number;
  perRequestUs: number;
  parts: Record<string, number>;
  pinnedBytes: Hex;
  faults: number;
  properties: Record<string, boolean>;
  /** Modelled time after each progress chunk: [requests done, cumulative µs]. */
  series: Array<[number, number]>;
}

export interface CompareResult {
  workload: CompareWorkload;
  params: Record<string, number>;
  designs: CompareDesignResult[];
}

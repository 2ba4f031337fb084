/**
 * View builders: pure functions from live emulator objects (SMMU, memory,
 * page ownership, the nested hypervisor, a traced translation) to the JSON
 * view model of ./view.ts.
 *
 * None of them changes emulator state: memory is read with peek64, SMMU
 * registers with readReg (no side effects), stage-2 translations of nested
 * CD pointers use a private walk context, and the SMMU's statistics,
 * configuration caches, IOTLB and event queue are never touched. None of
 * them throws on bad data (random STEs, CDs, tables or queue contents).
 *
 * Implementation split by panel under ./views/.
 */

export { type MeaningFn, fromHex, hx, registerView, res0Set, res0Warnings } from './views/common';
export {
  cdMeaning,
  cdView,
  commandLine,
  commandView,
  descKindAt,
  descriptorFields,
  descriptorView,
  eventLine,
  eventView,
  l1cdView,
  l1stdView,
  steMeaning,
  steView,
} from './views/structs';
export {
  type HostSteReader,
  type SteLocation,
  type StreamRowsOptions,
  type StrtabGeometry,
  locateSte,
  nestedHostSteReader,
  rowsFromTable,
  s1RefFromCd,
  s2RefFromSte,
  shadowPairs,
  steConfigViewOf,
  steDiff,
  streamRows,
  strtabGeometry,
  strtabView,
  tableRefsFromStreams,
} from './views/streams';
export { QUEUE_ENTRY_CAP, cerrorName, errorView, gerrorNames, queueView } from './views/queues';
export { outcomeOf, walkView } from './views/walk';
export { ptTree } from './views/pttree';
export { ownershipView, spaceName } from './views/ownership';

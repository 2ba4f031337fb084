/**
 * `hyp` command: the pKVM hypervisor models on one machine, the steps an
 * untrusted host takes, the invariant check and the cost report (see
 * /spec/hyp.md and /spec/cli.md). The machine and its steps live in
 * src/scenario/machine.ts, shared with the `scenario` command and the app.
 */
export { HypInput, runHyp, type HypOutput, type HypResult } from '../scenario/machine';

/**
 * Headless CLI: `npm run -s cli -- COMMAND FILE` (FILE may be `-` for stdin).
 *
 * Reads one JSON document, runs it through the named command and writes one
 * JSON document and a newline to stdout (see /spec/cli.md):
 *   exit 0  the document was valid and ran (faults are results, not errors);
 *   exit 2  invalid input: `{"error":{"kind":"invalid-input","message","path"}}`;
 *   exit 3  an internal error (an emulator bug): `{"error":{"kind":"internal","message"}}`.
 * Nothing else is ever printed to stdout, and never a stack trace.
 */

import { readFile } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { CliInputError, invalidInput, zodToCliError, type CliErrorDoc } from './json';
import { runHyp } from './hyp';
import { runPgtable } from './pgtable';
import { runSmmu } from './smmu';
import { runScenario } from '../scenario/session';

/** A command takes the parsed JSON document and returns the output document. */
export type Command = (doc: unknown) => unknown;

/** Every command, by name. New commands (smmu, hyp, scenario) register here from their own modules. */
export const commands: Record<string, Command> = {
  pgtable: runPgtable,
  smmu: runSmmu,
  hyp: runHyp,
  scenario: runScenario,
};

export interface CliRun {
  exitCode: number;
  output: unknown;
}

const USAGE = 'usage: npm run -s cli -- COMMAND FILE (FILE may be - for standard input)';

function commandList(): string {
  return Object.keys(commands).join(', ');
}

/** The error document for a missing or unknown command, or null when `command` is known. */
export function checkCommand(command: string | undefined): CliErrorDoc | null {
  if (command === undefined || command === '') {
    return invalidInput(`missing command; valid commands: ${commandList()}; ${USAGE}`, '');
  }
  if (!Object.hasOwn(commands, command)) {
    return invalidInput(`unknown command ${JSON.stringify(command)}; valid commands: ${commandList()}`, '');
  }
  return null;
}

function internal(e: unknown): CliRun {
  const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return { exitCode: 3, output: { error: { kind: 'internal', message } } };
}

/** Run `command` on the JSON text `text`. Pure: no I/O, never throws. */
export function runCli(command: string, text: string): CliRun {
  try {
    const bad = checkCommand(command);
    if (bad) return { exitCode: 2, output: bad };
    let doc: unknown;
    try {
      doc = JSON.parse(text.replace(/^\uFEFF/, ''));
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      return { exitCode: 2, output: invalidInput(`input is not valid JSON: ${why}`, '') };
    }
    let output: unknown;
    try {
      output = commands[command](doc);
    } catch (e) {
      if (e instanceof CliInputError) return { exitCode: 2, output: invalidInput(e.message, e.path) };
      if (e instanceof z.ZodError) {
        const ce = zodToCliError(e);
        return { exitCode: 2, output: invalidInput(ce.message, ce.path) };
      }
      return internal(e);
    }
    // A command must return plain JSON (64-bit values as hex strings): check it here,
    // so that a stray bigint is reported as an internal error rather than a crash.
    JSON.stringify(output);
    return { exitCode: 0, output };
  } catch (e) {
    return internal(e);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** Run the CLI for argv (without node and script): never throws. */
export async function cliMain(argv: readonly string[]): Promise<CliRun> {
  try {
    const [command, file, ...extra] = argv;
    const bad = checkCommand(command);
    if (bad) return { exitCode: 2, output: bad };
    if (file === undefined || file === '') {
      return { exitCode: 2, output: invalidInput(`missing FILE argument; ${USAGE}`, '') };
    }
    if (extra.length > 0) {
      return { exitCode: 2, output: invalidInput(`unexpected arguments after FILE: ${extra.join(' ')}; ${USAGE}`, '') };
    }
    let text: string;
    try {
      text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      const what = file === '-' ? 'standard input' : `file ${JSON.stringify(file)}`;
      return { exitCode: 2, output: invalidInput(`cannot read ${what}: ${why}`, '') };
    }
    return runCli(command, text);
  } catch (e) {
    return internal(e);
  }
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  const { exitCode, output } = await cliMain(process.argv.slice(2));
  let text: string;
  try {
    text = JSON.stringify(output);
  } catch (e) {
    text = JSON.stringify(internal(e).output);
  }
  process.stdout.write(text + '\n');
  process.exitCode = exitCode;
}

import { useRef, type KeyboardEvent } from 'react';
import { useExplorer } from '../../state/explorer';
import type { CdRow, SteConfigView, StreamRow, StrtabView } from '../../scenario/view';
import { BitDiagram } from '../components/BitDiagram';
import { ExportButtons } from '../components/ExportButtons';
import { HexValue } from '../components/Hex';

const CONFIG_LABEL: Record<SteConfigView, string> = {
  abort: 'Abort',
  bypass: 'Bypass',
  s1: 'S1',
  s2: 'S2',
  nested: 'S1+S2',
  invalid: 'Invalid (V=0)',
  illegal: 'ILLEGAL',
};

const CONFIG_DOC: Record<SteConfigView, string> = {
  abort: 'Config 0b000: every transaction is aborted without an event',
  bypass: 'Config 0b100: transactions bypass translation (PA = IOVA)',
  s1: 'Config 0b101: stage 1 translates (CD tables and stage-1 page tables), stage 2 bypassed',
  s2: 'Config 0b110: stage 2 only (IPA = IOVA)',
  nested: 'Config 0b111: stage 1 then stage 2 (nested)',
  invalid: 'V = 0: transactions get C_BAD_STE',
  illegal: 'The STE is ILLEGAL: transactions get C_BAD_STE',
};

const CONFIG_CLASS: Record<SteConfigView, string> = {
  abort: 'border-red-700 bg-red-50 text-red-900 dark:border-red-400 dark:bg-red-950 dark:text-red-100',
  bypass: 'border-amber-700 bg-amber-50 text-amber-950 dark:border-amber-400 dark:bg-amber-950 dark:text-amber-50',
  s1: 'border-sky-700 bg-sky-50 text-sky-950 dark:border-sky-400 dark:bg-sky-950 dark:text-sky-50',
  s2: 'border-emerald-700 bg-emerald-50 text-emerald-950 dark:border-emerald-400 dark:bg-emerald-950 dark:text-emerald-50',
  nested: 'border-violet-700 bg-violet-50 text-violet-950 dark:border-violet-400 dark:bg-violet-950 dark:text-violet-50',
  invalid: 'border-dashed border-slate-500 bg-slate-50 text-slate-800 dark:border-slate-400 dark:bg-slate-900 dark:text-slate-200',
  illegal: 'border-2 border-red-800 bg-white font-bold text-red-800 dark:border-red-300 dark:bg-slate-950 dark:text-red-200',
};

/** A badge with the STE's configuration (text, not colour alone). */
export function ConfigBadge({ config, illegal }: { config: SteConfigView; illegal?: string }) {
  return (
    <span
      className={`inline-block rounded border px-1.5 py-0 text-xs font-medium whitespace-nowrap ${CONFIG_CLASS[config]}`}
      title={illegal ? `${CONFIG_DOC[config]}: ${illegal}` : CONFIG_DOC[config]}
    >
      {config === 'illegal' && <span aria-hidden="true">⚠ </span>}
      {CONFIG_LABEL[config]}
    </span>
  );
}

/** Warnings (`snapshot.warnings`) about streams, STEs, CDs and the stream table. */
export function isStreamWarning(w: { where: string; text: string }): boolean {
  return /\b(ste|sid|streams?|strtab|stream table|l1std|l1cd|cd|cds|ssid|substream|gbpa|smmuen|s1contextptr|s2ttb)\b/i.test(`${w.where} ${w.text}`);
}

/** Roving-focus keyboard handling for selectable table rows. */
function useRowKeys<K>(keys: readonly K[], select: (k: K) => void) {
  const rowRefs = useRef(new Map<K, HTMLTableRowElement>());
  const setRef = (k: K) => (el: HTMLTableRowElement | null) => {
    if (el) rowRefs.current.set(k, el);
    else rowRefs.current.delete(k);
  };
  const onKeyDown = (k: K) => (e: KeyboardEvent<HTMLTableRowElement>) => {
    if (e.target !== e.currentTarget) return;
    const i = keys.indexOf(k);
    let j: number;
    switch (e.key) {
      case 'Enter':
      case ' ':
        e.preventDefault();
        select(k);
        return;
      case 'ArrowDown':
        j = Math.min(keys.length - 1, i + 1);
        break;
      case 'ArrowUp':
        j = Math.max(0, i - 1);
        break;
      case 'Home':
        j = 0;
        break;
      case 'End':
        j = keys.length - 1;
        break;
      default:
        return;
    }
    e.preventDefault();
    e.stopPropagation();
    const nk = keys[j];
    if (nk === undefined) return;
    select(nk);
    rowRefs.current.get(nk)?.focus();
  };
  return { setRef, onKeyDown };
}

const TH = 'border-b border-slate-300 px-2 py-1 text-left font-semibold whitespace-nowrap dark:border-slate-600';
const TD = 'border-b border-slate-200 px-2 py-1 align-top dark:border-slate-700';
const ROW =
  'cursor-pointer focus-visible:outline-2 focus-visible:-outline-offset-2 focus-visible:outline-sky-600 dark:focus-visible:outline-sky-300 ' +
  'hover:bg-slate-50 dark:hover:bg-slate-800 motion-safe:transition-colors motion-reduce:transition-none';
const ROW_SELECTED = 'bg-sky-50 font-medium dark:bg-sky-950 hover:bg-sky-100 dark:hover:bg-sky-900';

function Dash() {
  return (
    <span className="text-slate-600 dark:text-slate-300" aria-label="none">
      —
    </span>
  );
}

function StrtabInfo({ t }: { t: StrtabView }) {
  const item = 'flex gap-1';
  const dt = 'text-slate-700 dark:text-slate-300';
  return (
    <dl className="flex flex-wrap gap-x-4 gap-y-1 text-sm" aria-label="Stream table configuration">
      <div className={item}>
        <dt className={dt}>Format</dt>
        <dd className="font-medium">{t.fmt}</dd>
      </div>
      <div className={item}>
        <dt className={dt}>Base</dt>
        <dd>
          <HexValue value={t.base} />
        </dd>
      </div>
      <div className={item}>
        <dt className={dt}>LOG2SIZE</dt>
        <dd>
          {t.log2size} ({2 ** t.log2size} SIDs)
        </dd>
      </div>
      {t.fmt === '2-level' && (
        <div className={item}>
          <dt className={dt}>SPLIT</dt>
          <dd>
            {t.split} ({2 ** t.split} STEs per level-2 array)
          </dd>
        </div>
      )}
      <div className={item}>
        <dt className={dt}>SMMUEN</dt>
        <dd className="font-medium">{t.smmuen ? '1 (translation enabled)' : '0 (SMMU disabled)'}</dd>
      </div>
      {!t.smmuen && (
        <div className={item}>
          <dt className={dt}>GBPA.ABORT</dt>
          <dd className="font-medium">{t.gbpaAbort ? '1: all incoming transactions abort' : '0: all incoming transactions bypass'}</dd>
        </div>
      )}
    </dl>
  );
}

function CdTable({ sid, cds, selectedSsid }: { sid: number; cds: CdRow[]; selectedSsid: number | null }) {
  const selectStream = useExplorer((s) => s.selectStream);
  const keys = cds.map((c) => c.ssid);
  const select = (ssid: number) => selectStream(sid, ssid);
  const { setRef, onKeyDown } = useRowKeys(keys, select);
  const focusKey = keys.includes(selectedSsid ?? -1) ? selectedSsid : keys[0];
  if (cds.length === 0) {
    return <p className="text-sm text-slate-700 dark:text-slate-300">No context descriptors for SID {sid}.</p>;
  }
  return (
    <div className="overflow-x-auto">
      <table className="w-full border-collapse text-sm">
        <caption className="pb-1 text-left text-sm font-medium">
          Context descriptors of SID {sid} ({cds.length}) — select one to see its fields
        </caption>
        <thead>
          <tr>
            <th scope="col" className={TH}>SSID</th>
            <th scope="col" className={TH}>V</th>
            <th scope="col" className={TH}>ASID</th>
            <th scope="col" className={TH}>TTB0</th>
            <th scope="col" className={TH}>CD address</th>
          </tr>
        </thead>
        <tbody>
          {cds.map((c) => {
            const sel = c.ssid === selectedSsid;
            return (
              <tr
                key={c.ssid}
                ref={setRef(c.ssid)}
                tabIndex={c.ssid === focusKey ? 0 : -1}
                aria-current={sel ? 'true' : undefined}
                className={`${ROW} ${sel ? ROW_SELECTED : ''}`}
                onClick={() => select(c.ssid)}
                onKeyDown={onKeyDown(c.ssid)}
              >
                <th scope="row" className={`${TD} text-left font-mono`}>
                  <span aria-hidden="true" className="inline-block w-3">{sel ? '▶' : ''}</span>
                  {c.ssid}
                  {sel && <span className="sr-only"> (selected)</span>}
                </th>
                <td className={TD}>{c.valid ? '1' : '0 (invalid)'}</td>
                <td className={`${TD} font-mono`}>{c.asid}</td>
                <td className={TD}>
                  <HexValue value={c.ttb0} />
                </td>
                <td className={TD}>
                  <HexValue value={c.addr} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function StreamDetail({ row, selectedSsid }: { row: StreamRow; selectedSsid: number | null }) {
  const cd = row.cds.find((c) => c.ssid === selectedSsid) ?? null;
  return (
    <div className="space-y-3">
      <h3 className="text-base font-semibold">
        SID {row.sid}
        {row.device ? ` (${row.device})` : ''} — STE at <HexValue value={row.addr} />
      </h3>
      {row.illegal && (
        <p role="note" className="rounded border border-red-700 bg-red-50 p-2 text-sm text-red-900 dark:border-red-400 dark:bg-red-950 dark:text-red-100">
          <span aria-hidden="true">⚠ </span>
          ILLEGAL STE: {row.illegal}
        </p>
      )}
      {row.l1std && <BitDiagram view={row.l1std} headingLevel={4} />}
      <BitDiagram view={row.ste} headingLevel={4} />
      <CdTable sid={row.sid} cds={row.cds} selectedSsid={selectedSsid} />
      {cd && (
        <div className="space-y-3">
          {cd.l1cd && <BitDiagram view={cd.l1cd} headingLevel={4} />}
          <BitDiagram view={cd.cd} headingLevel={4} />
        </div>
      )}
    </div>
  );
}

/** The stream table: one row per StreamID, with the selected STE and its CDs drawn as register diagrams. */
export function StreamTablePanel() {
  const snapshot = useExplorer((s) => s.snapshot);
  const selectedSid = useExplorer((s) => s.selectedSid);
  const selectedSsid = useExplorer((s) => s.selectedSsid);
  const selectStream = useExplorer((s) => s.selectStream);
  const tableRef = useRef<HTMLDivElement>(null);

  const streams = snapshot?.streams ?? [];
  const keys = streams.map((r) => r.sid);
  const { setRef, onKeyDown } = useRowKeys(keys, (sid: number) => {
    if (sid !== selectedSid) selectStream(sid);
  });
  const focusKey = keys.includes(selectedSid ?? -1) ? selectedSid : keys[0];
  const selected = streams.find((r) => r.sid === selectedSid) ?? null;
  const warnings = (snapshot?.warnings ?? []).filter(isStreamWarning);

  return (
    <section aria-labelledby="stream-table-heading" className="space-y-3 text-slate-900 dark:text-slate-100">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h2 id="stream-table-heading" className="text-lg font-semibold">
          Stream table
        </h2>
        <ExportButtons target={tableRef} name="stream-table" />
      </div>

      {snapshot === null ? (
        <p role="status" className="text-sm text-slate-700 dark:text-slate-300">
          Loading the machine state…
        </p>
      ) : (
        <>
          {warnings.length > 0 && (
            <div
              role="note"
              aria-label="Stream configuration warnings"
              className="rounded border border-amber-700 bg-amber-50 p-2 text-sm text-amber-950 dark:border-amber-400 dark:bg-amber-950 dark:text-amber-50"
            >
              <ul className="space-y-0.5">
                {warnings.map((w, i) => (
                  <li key={i} className="flex gap-1.5">
                    <span aria-hidden="true">⚠</span>
                    <span>
                      <span className="sr-only">Warning: </span>
                      <span className="font-semibold">{w.where}:</span> {w.text}
                    </span>
                  </li>
                ))}
              </ul>
            </div>
          )}

          <div ref={tableRef} className="space-y-2 bg-white p-1 dark:bg-slate-950">
            <StrtabInfo t={snapshot.strtab} />
            <div className="overflow-x-auto">
              <table className="w-full border-collapse text-sm">
                <caption className="pb-1 text-left text-sm text-slate-700 dark:text-slate-300">
                  {streams.length} stream table entr{streams.length === 1 ? 'y' : 'ies'} at step {snapshot.step}
                  {snapshot.streamsHidden ? ` (${snapshot.streamsHidden} more with V = 0 or Config = abort not listed)` : ''}. Click a row, or
                  focus it and use ↑/↓, to see its STE.
                </caption>
                <thead>
                  <tr>
                    <th scope="col" className={TH}>SID</th>
                    <th scope="col" className={TH}>Device</th>
                    <th scope="col" className={TH}>V</th>
                    <th scope="col" className={TH}>Config</th>
                    <th scope="col" className={TH}>VMID</th>
                    <th scope="col" className={TH}>ASID</th>
                    <th scope="col" className={TH}>S1ContextPtr</th>
                    <th scope="col" className={TH}>S2TTB</th>
                    <th scope="col" className={TH}>STE address</th>
                  </tr>
                </thead>
                <tbody>
                  {streams.length === 0 && (
                    <tr>
                      <td colSpan={9} className={`${TD} text-slate-700 dark:text-slate-300`}>
                        No stream table entries yet.
                      </td>
                    </tr>
                  )}
                  {streams.map((r) => {
                    const sel = r.sid === selectedSid;
                    return (
                      <tr
                        key={r.sid}
                        ref={setRef(r.sid)}
                        tabIndex={r.sid === focusKey ? 0 : -1}
                        aria-current={sel ? 'true' : undefined}
                        className={`${ROW} ${sel ? ROW_SELECTED : ''}`}
                        onClick={() => selectStream(r.sid)}
                        onKeyDown={onKeyDown(r.sid)}
                      >
                        <th scope="row" className={`${TD} text-left font-mono`}>
                          <span aria-hidden="true" className="inline-block w-3">{sel ? '▶' : ''}</span>
                          {r.sid}
                          {sel && <span className="sr-only"> (selected)</span>}
                        </th>
                        <td className={TD}>{r.device ?? <Dash />}</td>
                        <td className={TD}>{r.valid ? '1' : '0'}</td>
                        <td className={TD}>
                          <ConfigBadge config={r.config} illegal={r.illegal} />
                          {r.illegal && <span className="sr-only">: {r.illegal}</span>}
                        </td>
                        <td className={`${TD} font-mono`}>{r.vmid ?? <Dash />}</td>
                        <td className={`${TD} font-mono`}>{r.asid ?? <Dash />}</td>
                        <td className={TD}>{r.s1ContextPtr ? <HexValue value={r.s1ContextPtr} /> : <Dash />}</td>
                        <td className={TD}>{r.s2ttb ? <HexValue value={r.s2ttb} /> : <Dash />}</td>
                        <td className={TD}>
                          <HexValue value={r.addr} />
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          </div>

          {selected ? (
            <StreamDetail row={selected} selectedSsid={selectedSsid} />
          ) : selectedSid !== null ? (
            <p className="text-sm text-slate-700 dark:text-slate-300">SID {selectedSid} has no stream table entry at this step.</p>
          ) : (
            <p className="text-sm text-slate-700 dark:text-slate-300">Select a stream to see its STE, CDs and their fields.</p>
          )}
        </>
      )}
    </section>
  );
}

import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './ui/App';
import { bindClient, explorerStore } from './state/explorer';
import { decodeShare } from './state/share';
import { WorkerClient } from './worker/client';
import { DEFAULT_SCENARIO } from './scenario/library/default';
import './index.css';

const container = document.getElementById('root');
if (!container) throw new Error('#root element missing');

// The emulator runs in its Worker; the page only holds the document and the snapshot.
const client = new WorkerClient(() => new Worker(new URL('./worker/worker.ts', import.meta.url), { type: 'module', name: 'emulator' }));
bindClient(client);

/** Open the scenario the URL carries (or the default one, with a message when the link is broken). */
function openFromHash(): void {
  const r = decodeShare(location.hash);
  const s = explorerStore.getState();
  if (r.ok === true) {
    s.setLoadError(null);
    explorerStore.setState({ scenario: r.state.scenario, step: r.state.step });
    client.start(r.state.scenario, r.state.step);
  } else {
    s.setLoadError(r.ok === false ? r.message : null);
    explorerStore.setState({ scenario: DEFAULT_SCENARIO, step: 0 });
    client.start(DEFAULT_SCENARIO, 0);
  }
}
openFromHash();
window.addEventListener('hashchange', () => {
  // Our own Share button writes the hash with replaceState (no event); a pasted or edited link lands here.
  openFromHash();
});

// A handle for tests and the console: the store and fault injection.
(window as unknown as { __explorer: unknown }).__explorer = { store: explorerStore, client };

createRoot(container).render(
  <StrictMode>
    <App />
  </StrictMode>,
);

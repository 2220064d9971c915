/**
 * The page of use-subscription.test.ts, bundled with React for Chromium: it mounts and unmounts
 * components that use useSubscription, in StrictMode (whose effects run, clean up and run again),
 * and lets the test read what they render.
 */
import { StrictMode, type ReactElement } from 'react';
import { flushSync } from 'react-dom';
import { createRoot, type Root } from 'react-dom/client';
import { useSubscription, type UseSubscriptionOptions } from 'ssehub/react';
import { OrderStatus } from '../../examples/react/order-status.js';

/** What the probe rendered, one entry per render. */
export interface Rendered {
  status: string;
  lastData: string | null;
  events: string[];
  reset: string | null;
  error: string | null;
}

export interface ProbePage {
  /** Mounts a probe subscribed with these options (url: the page's origin). */
  mount(options: Omit<UseSubscriptionOptions, 'url'>): void;
  /** Renders the mounted probe again with other options. */
  update(options: Omit<UseSubscriptionOptions, 'url'>): void;
  /** Mounts the example component of examples/react. */
  mountExample(order: string): void;
  unmount(): void;
  /** Every render of the probe since it was mounted. */
  renders(): Rendered[];
}

declare global {
  interface Window {
    probe: ProbePage;
  }
}

let root: Root | undefined;
let renders: Rendered[] = [];

function Probe({ options }: { options: Omit<UseSubscriptionOptions, 'url'> }) {
  const state = useSubscription({ url: location.origin, ...options, decode: 'text' });
  const rendered: Rendered = {
    status: state.status,
    lastData: state.lastEvent?.data ?? null,
    events: state.events.map((event) => event.data),
    reset: state.reset?.reason ?? null,
    error: state.error === undefined ? null : String(state.error),
  };
  renders.push(rendered);
  return <pre id="probe">{JSON.stringify(rendered)}</pre>;
}

function render(element: ReactElement): void {
  root ??= createRoot(document.getElementById('root')!);
  flushSync(() => root!.render(<StrictMode>{element}</StrictMode>));
}

window.probe = {
  mount(options) {
    renders = [];
    render(<Probe options={options} />);
  },
  update(options) {
    render(<Probe options={options} />);
  },
  mountExample(order) {
    render(<OrderStatus hub={location.origin} order={order} />);
  },
  unmount() {
    root?.unmount();
    root = undefined;
  },
  renders: () => renders,
};

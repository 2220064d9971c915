/**
 * A component that shows an order's status as the hub pushes it: useSubscription opens the stream
 * when the component mounts, and closes it when the component unmounts or `order` changes.
 *
 *   <OrderStatus hub="https://push.example.com" order="42" token={() => fetchToken()} />
 */
import { useSubscription } from 'ssehub/react';

/** The events of `orders/<id>`: a type (not an interface), as the client's event maps are. */
type OrderEvents = {
  status: { status: string; at: string };
};

export interface OrderStatusProps {
  /** The hub's base URL. */
  hub: string;
  order: string;
  /** A token for `orders/<order>`, fetched again before every connection. */
  token?: () => Promise<string | undefined>;
}

export function OrderStatus({ hub, order, token }: OrderStatusProps) {
  const { status, lastEvent, events, reset } = useSubscription<OrderEvents>({
    url: hub,
    topics: `orders/${order}`,
    decode: 'json',
    keep: 5,
    ...(token === undefined ? {} : { token }),
  });
  return (
    <section data-status={status}>
      <h2>
        Order {order}: {lastEvent?.data.status ?? 'waiting for news'}
      </h2>
      <p>{status === 'open' ? 'live' : status}</p>
      {reset && <p>Some updates were missed: reload to see the latest.</p>}
      <ol>
        {events.map((event) => (
          <li key={event.id}>
            {event.data.at}: {event.data.status}
          </li>
        ))}
      </ol>
    </section>
  );
}

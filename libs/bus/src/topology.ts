/**
 * Names and headers of the bus topology. Dead letters: one topic exchange `<exchange>.dlx`
 * per bus exchange; each consumed queue has its own durable `<queue>.dlq` bound to it with
 * the queue name as routing key (operators may bind a catch-all '#' queue to watch them all).
 */
export const dlxName = (exchange: string): string => `${exchange}.dlx`;
export const dlqName = (queue: string): string => `${queue}.dlq`;

export const HEADERS = {
  /** Deliveries so far that failed with a retryable error (set on the requeued copy). */
  deliveries: 'x-strato-deliveries',
  /** Human-readable reason a message was dead-lettered. */
  reason: 'x-death-reason',
  /** The {kind, message, retryable} that dead-lettered it, as JSON. */
  error: 'x-strato-error',
  /** The queue it was dead-lettered from. */
  queue: 'x-strato-queue',
  deadLetteredAt: 'x-strato-dead-lettered-at',
} as const;

/** Deliveries of this copy, counting the current one. */
export function deliveriesOf(headers: Record<string, unknown>): number {
  const prior = Number(headers[HEADERS.deliveries] ?? 0);
  return Number.isFinite(prior) && prior > 0 ? Math.floor(prior) + 1 : 1;
}

/** Whether a routing key matches an AMQP topic pattern ('*' = one word, '#' = zero or more). */
export function topicMatches(pattern: string, routingKey: string): boolean {
  const p = pattern === '' ? [] : pattern.split('.');
  const k = routingKey === '' ? [] : routingKey.split('.');
  const match = (i: number, j: number): boolean => {
    if (i === p.length) return j === k.length;
    const word = p[i];
    if (word === '#') {
      for (let n = j; n <= k.length; n++) if (match(i + 1, n)) return true;
      return false;
    }
    if (j === k.length) return false;
    return (word === '*' || word === k[j]) && match(i + 1, j + 1);
  };
  return match(0, 0);
}

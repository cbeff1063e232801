/** Exponential backoff: initial * 2^(attempt-1), capped, with up to 20% jitter below the cap. */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number): number {
  const raw = initialMs * 2 ** Math.max(0, attempt - 1);
  const capped = Math.min(raw, maxMs);
  return Math.round(capped * (0.8 + Math.random() * 0.2));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

import { isConnectionError } from "./errors";

/**
 * One rule for retrying reads whose connection broke (a server restart, pg_terminate_backend, a
 * bastion or network blip): back off and try again, all within the user's `connect_timeout`.
 *
 * The budget is the time the user agreed to wait for a working connection, counted over every
 * attempt together: the waits for a connection and the back-off pauses are charged to it, the
 * statements are not (each is bounded by `statement_timeout` and the client's margin). A silent
 * server therefore fails after `connect_timeout`, not after five of them (issue 12).
 */
export const RETRY_DELAYS_MS = [200, 500, 1000, 2000, 4000];

/** a pause shorter than this is not worth an attempt: the next one would fail on the budget anyway */
const MIN_USEFUL_MS = 50;

export class ConnectBudget {
  private spentMs = 0;

  constructor(readonly limitMs: number) {}

  remainingMs(): number {
    return Math.max(0, this.limitMs - this.spentMs);
  }

  /** Runs `wait` and charges the time it took to the budget. */
  async charge<T>(wait: () => Promise<T>): Promise<T> {
    const started = Date.now();
    try {
      return await wait();
    } finally {
      this.spentMs += Date.now() - started;
    }
  }
}

export interface RetryOptions {
  budget: ConnectBudget;
  /** whether this failure may be retried (default: the connection broke) */
  retryable?: (error: unknown) => boolean;
  /** told before each pause, with the attempt that comes next (2, 3, ...) */
  onRetry?: (error: unknown, nextAttempt: number) => void;
}

/** Runs `attempt` until it succeeds, fails for a reason that is not retryable, or the budget is spent. */
export async function withRetry<T>(attempt: (n: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const retryable = options.retryable ?? isConnectionError;
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      const pause = Math.min(RETRY_DELAYS_MS[Math.min(n, RETRY_DELAYS_MS.length - 1)], options.budget.remainingMs());
      if (!retryable(error) || options.budget.remainingMs() - pause < MIN_USEFUL_MS) throw error;
      options.onRetry?.(error, n + 2);
      await options.budget.charge(() => new Promise((resolve) => setTimeout(resolve, pause)));
    }
  }
}

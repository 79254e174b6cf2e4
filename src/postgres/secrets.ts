/**
 * Secrets travel as non-enumerable properties, as pg-pool hides its `password` and `ssl.key`: present
 * for whatever reads them by name, absent from console.log, util.inspect, JSON, spreads and Object.keys.
 * (Only `showHidden` / `%o`, which ask for non-enumerable properties, would print them.)
 */
export function withHiddenSecrets<T extends object>(target: T, secrets: Record<string, string | undefined>): T {
  for (const [name, value] of Object.entries(secrets)) {
    if (value !== undefined) Object.defineProperty(target, name, { value, enumerable: false });
  }
  return target;
}

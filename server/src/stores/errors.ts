/**
 * Whether an error means the backing store cannot be reached, so a client
 * should get `unavailable` and retry, not `internal`. It matches the errors
 * ioredis 5 raises while disconnected with the offline queue off, after its
 * retries per request, and on a broken connection.
 */
export function isStoreUnavailableError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === "MaxRetriesPerRequestError") return true;
  return /Stream isn't writeable|Connection is closed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|LOADING|READONLY|CLUSTERDOWN|Redis did not respond/.test(
    error.message,
  );
}

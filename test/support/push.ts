import type { PushDecision } from "../../server/src/stores/types.js";
import {
  startOneSignalStandIn,
  type OneSignalStandIn,
} from "./onesignal-stand-in.js";
import {
  onCleanup,
  startServer,
  waitUntil,
  type TestServer,
} from "./server.js";

/** Push timings short enough for tests, long enough to tell a burst from single messages. */
export const FAST_PUSH_ENV = {
  PUSH_DEBOUNCE_MS: "150",
  PUSH_MAX_WAIT_MS: "2000",
  PUSH_ACK_TIMEOUT_MS: "300",
  ONESIGNAL_RETRY_BASE_MS: "20",
  ONESIGNAL_TIMEOUT_MS: "1000",
};

export interface PushTestServer extends TestServer {
  oneSignal: OneSignalStandIn;
  /** Decisions for the user, oldest first. */
  decisions(userId: string): Promise<PushDecision[]>;
  /** Waits until the user has a decision with `reason` and returns it. */
  waitForDecision(
    userId: string,
    reason: PushDecision["reason"],
    timeoutMs?: number,
  ): Promise<PushDecision>;
  /** Waits until no push batch is pending. */
  waitForIdleQueue(timeoutMs?: number): Promise<void>;
}

/** Starts a OneSignal stand-in and a server configured to send to it. */
export async function startPushServer(
  env: Record<string, string> = {},
): Promise<PushTestServer> {
  const oneSignal = await startOneSignalStandIn();
  onCleanup(() => oneSignal.close());
  const server = await startServer({
    ONESIGNAL_APP_ID: oneSignal.appId,
    ONESIGNAL_REST_API_KEY: oneSignal.apiKey,
    ONESIGNAL_API_URL: oneSignal.url,
    ...FAST_PUSH_ENV,
    ...env,
  });
  const decisions = async (userId: string) =>
    (await server.app.pushStores.decisions.list(userId, 1000)).reverse();
  return {
    ...server,
    oneSignal,
    decisions,
    async waitForDecision(userId, reason, timeoutMs = 5000) {
      let found: PushDecision | undefined;
      await waitUntil(async () => {
        found = (await decisions(userId)).find(
          (decision) => decision.reason === reason,
        );
        return found !== undefined;
      }, timeoutMs);
      return found!;
    },
    async waitForIdleQueue(timeoutMs = 5000) {
      await waitUntil(
        async () => (await server.app.pushStores.queue.size()) === 0,
        timeoutMs,
      );
    },
  };
}

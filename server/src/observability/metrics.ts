import {
  Counter,
  Histogram,
  Registry,
  collectDefaultMetrics,
} from "prom-client";

/**
 * Prometheus metrics of one server. Each app gets its own registry, so two
 * servers in one process (as in the tests) do not share counters.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    pushDecisions: new Counter({
      name: "chat_push_decisions_total",
      help: "Push decisions by kind and reason code.",
      labelNames: ["kind", "reason"] as const,
      registers: [registry],
    }),
    oneSignalRequests: new Counter({
      name: "chat_onesignal_requests_total",
      help: "OneSignal requests by outcome (sent, not_subscribed, rejected, retryable).",
      labelNames: ["outcome"] as const,
      registers: [registry],
    }),
    oneSignalRetries: new Counter({
      name: "chat_onesignal_retries_total",
      help: "OneSignal requests repeated after a 429, 5xx, timeout or network error.",
      registers: [registry],
    }),
    oneSignalLatency: new Histogram({
      name: "chat_onesignal_request_duration_seconds",
      help: "Duration of one OneSignal request, in seconds.",
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    messagesSent: new Counter({
      name: "chat_messages_total",
      help: "Messages stored and fanned out.",
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

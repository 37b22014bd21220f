/**
 * Messages between the bench runner and a load generator process: the plan
 * and steps the runner sends, and the reports the generator sends back. Messages travel over the child process IPC channel.
 */

/** `ours` is the chat server; `relay` is the bare Socket.IO relay in bench/baselines. */
export type SystemKind = "ours" | "relay";

export interface TargetSpec {
  kind: SystemKind;
  /** Base URLs of the nodes. User `i` connects to `urls[i % urls.length]`. */
  urls: string[];
  /** HS256 secret that the chat server verifies tokens with; unused for the relay. */
  jwtSecret: string;
}

/** A half-open range of indices `[from, to)`. */
export interface IndexRange {
  from: number;
  to: number;
}

interface PlanBase {
  target: TargetSpec;
  /** Prefix of every user id, so two runs never share users. */
  userPrefix: string;
  /** Handshakes in flight at once while connecting. */
  connectConcurrency: number;
  /** Time in ms one connection may take before the setup fails. */
  connectTimeoutMs: number;
}

/**
 * Direct conversations between users `2k` and `2k + 1`. Both members keep
 * the conversation open, so the chat server treats them as viewing it.
 */
export interface ChatPlan extends PlanBase {
  scenario: "throughput" | "latency";
  /** Users of this generator; `from` and `to` are even, so pairs stay in one process. */
  users: IndexRange;
  /** Throughput: sends each user keeps unacknowledged. */
  window: number;
  /** Latency: messages per second that this generator sends, open loop. */
  rate: number;
  warmupMs: number;
  durationMs: number;
  /** Maximum wait in ms after the last send for outstanding acks and deliveries. */
  drainMs: number;
  /** Characters of message text. */
  textLength: number;
}

/** Connections that only reply to heartbeats. */
export interface IdlePlan extends PlanBase {
  scenario: "idle";
  users: IndexRange;
}

/**
 * Group conversations of one connected sender and `members` recipients,
 * the first `offlineMembers` of them never connected and the rest viewing
 * the conversation.
 */
export interface PushPlan extends PlanBase {
  scenario: "push";
  groups: IndexRange;
  members: number;
  offlineMembers: number;
  burstMessages: number;
  /** Time in ms between two messages of one burst. */
  burstGapMs: number;
  textLength: number;
}

export type Plan = ChatPlan | IdlePlan | PushPlan;

export type RunnerMessage =
  | { type: "setup"; plan: Plan }
  | { type: "start" }
  | { type: "burst"; round: number }
  | { type: "finish" };

export interface SetupReport {
  connections: number;
  /** Time in ms from the first handshake to the last accepted one. */
  connectMs: number;
  /** Time in ms to create and open the conversations after connecting. */
  conversationsMs: number;
}

export interface DeliveryCounts {
  sent: number;
  /** Sends acked `{ ok: true }`. */
  acked: number;
  /** Sends acked with an error or not acked by the end of the drain. */
  failed: number;
  /** Sends acked with an error (`{ ok: false }`); the rest of `failed` got no ack at all. */
  rejected: number;
  /** Distinct messages received at least once by each expected recipient. */
  delivered: number;
  /** Acked messages that an expected recipient never received. */
  lost: number;
  /** Receptions beyond the first of one message by one recipient. */
  duplicated: number;
  /** First error messages seen, for the report. */
  errors: string[];
}

export interface ChatResult extends DeliveryCounts {
  /** Messages delivered within the measured window. */
  measuredDelivered: number;
  measuredMs: number;
  /** Send-to-receive times in ms of messages sent in the measured window (latency scenario only). */
  latenciesMs: number[];
  /** Share of one core the generator used in the measured window. */
  cpuShare: number;
  /** 99th percentile of the generator's event loop delay in the measured window, in ms. */
  loopDelayP99Ms: number;
}

export interface BurstRecord {
  group: number;
  conversationId: string;
  senderId: string;
  offlineMemberIds: string[];
  /** Date.now() just before the first and the last message of the burst was written. */
  firstSendAt: number;
  lastSendAt: number;
  /** Server id of the last message, from its ack; empty when it was not acked. */
  lastMessageId: string;
  /** createdAt of the first and the last message in epoch ms, from their acks; NaN when not acked. */
  firstCreatedAt: number;
  lastCreatedAt: number;
  acked: number;
}

export interface PushResult extends DeliveryCounts {
  /** Delivery counts cover the viewing members; pushes are counted by the runner. */
  viewingMembers: number;
}

export type GeneratorMessage =
  | { type: "ready"; setup: SetupReport }
  | { type: "mark"; name: "measure-start" | "measure-end" }
  | { type: "burst-done"; round: number; bursts: BurstRecord[] }
  | { type: "result"; result: ChatResult | PushResult | null }
  | { type: "error"; message: string };

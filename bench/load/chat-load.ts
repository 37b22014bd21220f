import { monitorEventLoopDelay } from "node:perf_hooks";
import type { SioConnection } from "../lib/sio-client.js";
import {
  connectAll,
  describeFailedAck,
  forEachLimited,
  readClientMessageId,
  request,
  type UserSpec,
} from "./connections.js";
import { Ledger } from "./ledger.js";
import type { ChatPlan, ChatResult, SetupReport } from "./plans.js";

/** Time in ms a setup request (create or open a conversation) may take. */
const SETUP_REQUEST_TIMEOUT_MS = 30_000;
/** Interval in ms at which the drain checks for outstanding acks and deliveries. */
const DRAIN_POLL_MS = 20;

export function chatUserId(prefix: string, index: number): string {
  return `${prefix}u${index}`;
}

/**
 * Load of one generator in the throughput and latency scenarios: users
 * `from..to` in pairs, each pair one direct conversation. In the chat
 * server both members open the conversation first, so every message is
 * delivered with an ack request, as in a live chat.
 */
export class ChatLoad {
  private connections: SioConnection[] = [];
  /** Per local user: the conversation id (chat server) or the partner's user id (relay). */
  private readonly destinations: string[] = [];
  private readonly ledger: Ledger;
  private readonly count: number;
  private readonly text: string;
  private measuring = false;
  private measureStart = 0;
  private measuredDelivered = 0;
  private readonly latencies: number[] = [];
  private readonly parsed = { sender: 0, seq: 0 };

  constructor(
    private readonly plan: ChatPlan,
    private readonly mark: (name: "measure-start" | "measure-end") => void,
  ) {
    this.count = plan.users.to - plan.users.from;
    this.ledger = new Ledger(this.count);
    this.text = "x".repeat(Math.max(1, plan.textLength));
  }

  async setup(): Promise<SetupReport> {
    const { plan } = this;
    const users: UserSpec[] = [];
    for (let i = 0; i < this.count; i++) {
      const global = plan.users.from + i;
      users.push({
        userId: chatUserId(plan.userPrefix, global),
        nodeIndex: global,
      });
    }
    const { connections, connectMs } = await connectAll(
      plan.target,
      users,
      (index) => (name, args, ackId) => {
        if (name !== "message:new") return;
        if (ackId !== undefined) this.connections[index]!.ack(ackId);
        this.onMessage(args);
      },
      {
        concurrency: plan.connectConcurrency,
        timeoutMs: plan.connectTimeoutMs,
      },
    );
    this.connections = connections;

    const started = performance.now();
    if (plan.target.kind === "relay") {
      for (let i = 0; i < this.count; i++) {
        this.destinations[i] = users[i ^ 1]!.userId;
      }
    } else {
      await forEachLimited(
        this.count / 2,
        plan.connectConcurrency,
        async (pair) => {
          const a = pair * 2;
          const b = a + 1;
          const created = await request(
            connections[a]!,
            "conversation:create",
            { memberIds: [users[b]!.userId] },
            SETUP_REQUEST_TIMEOUT_MS,
          );
          const id = (created.conversation as { id: string }).id;
          this.destinations[a] = id;
          this.destinations[b] = id;
          await Promise.all(
            [a, b].map((user) =>
              request(
                connections[user]!,
                "conversation:open",
                { conversationId: id },
                SETUP_REQUEST_TIMEOUT_MS,
              ),
            ),
          );
        },
      );
    }
    return {
      connections: this.count,
      connectMs,
      conversationsMs: performance.now() - started,
    };
  }

  async run(): Promise<ChatResult> {
    const { plan } = this;
    const start = performance.now();
    const measureEnd = start + plan.warmupMs + plan.durationMs;
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    let cpuAtStart = process.cpuUsage();
    const startMeasuring = () => {
      this.measuring = true;
      this.measureStart = performance.now();
      cpuAtStart = process.cpuUsage();
      loopDelay.enable();
      this.mark("measure-start");
    };
    const measured = new Promise<{ ms: number; cpuShare: number }>(
      (resolve) => {
        setTimeout(startMeasuring, plan.warmupMs);
        setTimeout(() => {
          this.measuring = false;
          loopDelay.disable();
          this.mark("measure-end");
          const ms = performance.now() - this.measureStart;
          const cpu = process.cpuUsage(cpuAtStart);
          resolve({ ms, cpuShare: (cpu.user + cpu.system) / 1000 / ms });
        }, plan.warmupMs + plan.durationMs);
      },
    );

    if (plan.scenario === "throughput") {
      this.runClosedLoop(measureEnd);
    } else {
      await this.runOpenLoop(start, plan.warmupMs + plan.durationMs);
    }
    const window = await measured;
    await this.drain();
    return {
      ...this.ledger.counts(),
      measuredDelivered: this.measuredDelivered,
      measuredMs: window.ms,
      latenciesMs: this.latencies,
      cpuShare: window.cpuShare,
      loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
    };
  }

  close(): void {
    for (const connection of this.connections) connection.close();
  }

  /** Sends so that every user keeps `window` sends unacknowledged until `endAt`. */
  private runClosedLoop(endAt: number): void {
    const onAcked = (user: number) => {
      if (performance.now() < endAt)
        this.send(user, performance.now(), onAcked);
    };
    for (let user = 0; user < this.count; user++) {
      for (let i = 0; i < this.plan.window; i++) {
        this.send(user, performance.now(), onAcked);
      }
    }
  }

  /**
   * Sends at a fixed rate whatever the acks do, round robin over the users.
   * Each message is timed from its scheduled send time, so a generator
   * that falls behind shows up in the latencies instead of hiding.
   */
  private runOpenLoop(start: number, totalMs: number): Promise<void> {
    const total = Math.round((this.plan.rate * totalMs) / 1000);
    const intervalMs = 1000 / this.plan.rate;
    let issued = 0;
    return new Promise((resolve) => {
      const tick = () => {
        const due = Math.min(
          total,
          Math.floor((performance.now() - start) / intervalMs) + 1,
        );
        while (issued < due) {
          this.send(issued % this.count, start + issued * intervalMs);
          issued++;
        }
        if (issued < total) setTimeout(tick, 1);
        else resolve();
      };
      tick();
    });
  }

  private send(
    user: number,
    scheduledAt: number,
    onAcked?: (user: number) => void,
  ): void {
    const seq = this.ledger.send(user, scheduledAt);
    const clientMessageId = `c${this.plan.users.from + user}.${seq}`;
    const destination = this.destinations[user]!;
    const payload =
      this.plan.target.kind === "ours"
        ? `{"conversationId":"${destination}","clientMessageId":"${clientMessageId}","text":"${this.text}"}`
        : `{"to":"${destination}","clientMessageId":"${clientMessageId}","text":"${this.text}"}`;
    this.connections[user]!.emitRaw("message:send", payload, (args) => {
      const ok = args.startsWith('[{"ok":true');
      this.ledger.ack(user, seq, ok, ok ? undefined : describeFailedAck(args));
      onAcked?.(user);
    });
  }

  private onMessage(args: string): void {
    const now = performance.now();
    if (!readClientMessageId(args, this.parsed)) return;
    const sender = this.parsed.sender - this.plan.users.from;
    const sentAt = this.ledger.receive(sender, this.parsed.seq);
    if (Number.isNaN(sentAt)) {
      this.ledger.noteError(`unexpected message ${args.slice(0, 80)}`);
      return;
    }
    if (this.measuring) this.measuredDelivered++;
    const inWindow = this.measureStart > 0 && sentAt >= this.measureStart;
    if (this.plan.scenario === "latency" && inWindow) {
      this.latencies.push(Math.round((now - sentAt) * 1000) / 1000);
    }
  }

  /** Waits until every send is acked and every acked message arrived, at most `drainMs`. */
  private async drain(): Promise<void> {
    const deadline = performance.now() + this.plan.drainMs;
    while (!this.ledger.settled && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    }
  }
}

import type { SioConnection } from "../lib/sio-client.js";
import {
  connectAll,
  describeFailedAck,
  forEachLimited,
  readStringField,
  request,
  type UserSpec,
} from "./connections.js";
import type {
  BurstRecord,
  PushPlan,
  PushResult,
  SetupReport,
} from "./plans.js";

const SETUP_REQUEST_TIMEOUT_MS = 30_000;
/** Time in ms the acks of one burst may take before the burst is reported without them. */
const BURST_ACK_TIMEOUT_MS = 30_000;
const MAX_ERRORS = 5;

interface Group {
  index: number;
  senderId: string;
  memberIds: string[];
  conversationId: string;
  /** Client message ids that were acked ok, to check every viewing member got each of them. */
  ackedIds: string[];
}

/**
 * Load of one generator in the push scenario: group conversations with one
 * connected sender each, whose first `offlineMembers` members never
 * connect (they get pushes) and whose other members view the conversation
 * (they get the messages live and ack them).
 */
export class PushLoad {
  private readonly groups: Group[] = [];
  private senders: SioConnection[] = [];
  private members: SioConnection[] = [];
  /** `<viewing member index>|<clientMessageId>` to the number of receptions. */
  private readonly receptions = new Map<string, number>();
  private readonly errors: string[] = [];
  private sent = 0;
  private acked = 0;
  private rejected = 0;
  private readonly text: string;

  constructor(private readonly plan: PushPlan) {
    this.text = "y".repeat(Math.max(1, plan.textLength));
    for (let g = plan.groups.from; g < plan.groups.to; g++) {
      const memberIds = Array.from(
        { length: plan.members },
        (_, j) => `${plan.userPrefix}g${g}m${j}`,
      );
      this.groups.push({
        index: g,
        senderId: `${plan.userPrefix}s${g}`,
        memberIds,
        conversationId: "",
        ackedIds: [],
      });
    }
  }

  private get viewingPerGroup(): number {
    return this.plan.members - this.plan.offlineMembers;
  }

  async setup(): Promise<SetupReport> {
    const { plan } = this;
    const senderSpecs: UserSpec[] = this.groups.map((group) => ({
      userId: group.senderId,
      nodeIndex: group.index,
    }));
    const memberSpecs: UserSpec[] = [];
    for (const group of this.groups) {
      for (let j = plan.offlineMembers; j < plan.members; j++) {
        memberSpecs.push({ userId: group.memberIds[j]!, nodeIndex: j });
      }
    }
    const options = {
      concurrency: plan.connectConcurrency,
      timeoutMs: plan.connectTimeoutMs,
    };
    const senders = await connectAll(
      plan.target,
      senderSpecs,
      () => () => {},
      options,
    );
    this.senders = senders.connections;
    const members = await connectAll(
      plan.target,
      memberSpecs,
      (index) => (name, args, ackId) => {
        if (name !== "message:new") return;
        if (ackId !== undefined) this.members[index]!.ack(ackId);
        const clientMessageId = readStringField(args, "clientMessageId");
        const key = `${index}|${clientMessageId}`;
        this.receptions.set(key, (this.receptions.get(key) ?? 0) + 1);
      },
      options,
    );
    this.members = members.connections;

    const started = performance.now();
    await forEachLimited(
      this.groups.length,
      plan.connectConcurrency,
      async (local) => {
        const group = this.groups[local]!;
        const created = await request(
          this.senders[local]!,
          "conversation:create",
          { memberIds: group.memberIds, title: `bench group ${group.index}` },
          SETUP_REQUEST_TIMEOUT_MS,
        );
        group.conversationId = (created.conversation as { id: string }).id;
        const first = local * this.viewingPerGroup;
        await Promise.all(
          Array.from({ length: this.viewingPerGroup }, (_, k) =>
            request(
              this.members[first + k]!,
              "conversation:open",
              { conversationId: group.conversationId },
              SETUP_REQUEST_TIMEOUT_MS,
            ),
          ),
        );
      },
    );
    return {
      connections: this.senders.length + this.members.length,
      connectMs: senders.connectMs + members.connectMs,
      conversationsMs: performance.now() - started,
    };
  }

  /** Sends one burst from every sender at once and resolves when all its sends are acked. */
  async burst(round: number): Promise<BurstRecord[]> {
    return Promise.all(
      this.groups.map((group, local) => this.groupBurst(group, local, round)),
    );
  }

  result(): PushResult {
    let delivered = 0;
    let lost = 0;
    let duplicated = 0;
    this.groups.forEach((group, local) => {
      const first = local * this.viewingPerGroup;
      for (const clientMessageId of group.ackedIds) {
        for (let k = 0; k < this.viewingPerGroup; k++) {
          const count = this.receptions.get(`${first + k}|${clientMessageId}`);
          if (!count) lost++;
          else {
            delivered++;
            duplicated += count - 1;
          }
        }
      }
    });
    return {
      sent: this.sent,
      acked: this.acked,
      failed: this.sent - this.acked,
      rejected: this.rejected,
      delivered,
      lost,
      duplicated,
      errors: this.errors,
      viewingMembers: this.members.length,
    };
  }

  /** Number of receptions the viewing members still miss. */
  get missingReceptions(): number {
    let expected = 0;
    for (const group of this.groups)
      expected += group.ackedIds.length * this.viewingPerGroup;
    let received = 0;
    for (const count of this.receptions.values()) if (count > 0) received++;
    return Math.max(0, expected - received);
  }

  close(): void {
    for (const connection of [...this.senders, ...this.members])
      connection.close();
  }

  private groupBurst(
    group: Group,
    local: number,
    round: number,
  ): Promise<BurstRecord> {
    const { plan } = this;
    const connection = this.senders[local]!;
    const record: BurstRecord = {
      group: group.index,
      conversationId: group.conversationId,
      senderId: group.senderId,
      offlineMemberIds: group.memberIds.slice(0, plan.offlineMembers),
      firstSendAt: 0,
      lastSendAt: 0,
      lastMessageId: "",
      firstCreatedAt: Number.NaN,
      lastCreatedAt: Number.NaN,
      acked: 0,
    };
    return new Promise((resolve) => {
      let ackCount = 0;
      const finish = () => {
        clearTimeout(timer);
        resolve(record);
      };
      const timer = setTimeout(() => {
        this.noteError(
          `burst of ${group.senderId} not acked within ${BURST_ACK_TIMEOUT_MS} ms`,
        );
        finish();
      }, BURST_ACK_TIMEOUT_MS);
      const sendOne = (k: number) => {
        const clientMessageId = `p${group.index}.${round}.${k}`;
        const now = Date.now();
        if (k === 0) record.firstSendAt = now;
        if (k === plan.burstMessages - 1) record.lastSendAt = now;
        this.sent++;
        connection.emitRaw(
          "message:send",
          `{"conversationId":"${group.conversationId}","clientMessageId":"${clientMessageId}","text":"${this.text}"}`,
          (args) => {
            ackCount++;
            if (args.startsWith('[{"ok":true')) {
              this.acked++;
              record.acked++;
              group.ackedIds.push(clientMessageId);
              const createdAt = Date.parse(readStringField(args, "createdAt"));
              if (k === 0) record.firstCreatedAt = createdAt;
              if (k === plan.burstMessages - 1) {
                record.lastMessageId = readStringField(args, "id");
                record.lastCreatedAt = createdAt;
              }
            } else {
              this.rejected++;
              this.noteError(describeFailedAck(args));
            }
            if (ackCount === plan.burstMessages) finish();
          },
        );
        if (k + 1 < plan.burstMessages)
          setTimeout(() => sendOne(k + 1), plan.burstGapMs);
      };
      sendOne(0);
    });
  }

  private noteError(message: string): void {
    if (this.errors.length < MAX_ERRORS) this.errors.push(message);
  }
}

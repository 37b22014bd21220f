import type { DeliveryCounts } from "./plans.js";

const ACK_OK = 1;
const ACK_FAILED = 2;
const MAX_ERRORS = 5;

/** Returns `array`, or a copy with its capacity doubled until `index` fits. */
function ensure<T extends Float64Array | Uint8Array>(
  array: T,
  index: number,
  make: (length: number) => T,
): T {
  if (index < array.length) return array;
  let length = array.length;
  while (length <= index) length *= 2;
  const grown = make(length);
  grown.set(array);
  return grown;
}

/**
 * Accounting of one-to-one messages: every send is matched against its
 * ack and its receptions. Messages are numbered per sender, so the state
 * lives in typed arrays instead of a map per message.
 */
export class Ledger {
  private readonly sentAt: Float64Array[] = [];
  private readonly ackState: Uint8Array[] = [];
  private readonly receptions: Uint8Array[] = [];
  private readonly nextSeq: number[] = [];
  private readonly errorMessages: string[] = [];
  sent = 0;
  ackedOk = 0;
  ackedFailed = 0;
  /** Messages received at least once. */
  distinctReceived = 0;

  constructor(senders: number) {
    for (let i = 0; i < senders; i++) {
      this.sentAt.push(new Float64Array(64));
      this.ackState.push(new Uint8Array(64));
      this.receptions.push(new Uint8Array(64));
      this.nextSeq.push(0);
    }
  }

  /** Registers a send by `sender` at `at` (ms) and returns its sequence number. */
  send(sender: number, at: number): number {
    const seq = this.nextSeq[sender]!++;
    this.sentAt[sender] = ensure(
      this.sentAt[sender]!,
      seq,
      (n) => new Float64Array(n),
    );
    this.ackState[sender] = ensure(
      this.ackState[sender]!,
      seq,
      (n) => new Uint8Array(n),
    );
    this.receptions[sender] = ensure(
      this.receptions[sender]!,
      seq,
      (n) => new Uint8Array(n),
    );
    this.sentAt[sender]![seq] = at;
    this.sent++;
    return seq;
  }

  ack(sender: number, seq: number, ok: boolean, error?: string): void {
    const states = this.ackState[sender];
    if (!states || states[seq] !== 0) return;
    states[seq] = ok ? ACK_OK : ACK_FAILED;
    if (ok) this.ackedOk++;
    else {
      this.ackedFailed++;
      if (error) this.noteError(error);
    }
  }

  /** Counts a reception and returns the send time, or NaN for a message this ledger never sent. */
  receive(sender: number, seq: number): number {
    const counts = this.receptions[sender];
    if (!counts || seq >= this.nextSeq[sender]!) return Number.NaN;
    if (counts[seq] === 0) this.distinctReceived++;
    if (counts[seq]! < 255) counts[seq]!++;
    return this.sentAt[sender]![seq]!;
  }

  get pendingAcks(): number {
    return this.sent - this.ackedOk - this.ackedFailed;
  }

  /** True once every send is acked and every acked message arrived. */
  get settled(): boolean {
    return this.pendingAcks === 0 && this.distinctReceived >= this.ackedOk;
  }

  noteError(message: string): void {
    if (this.errorMessages.length < MAX_ERRORS)
      this.errorMessages.push(message);
  }

  counts(): DeliveryCounts {
    let lost = 0;
    let duplicated = 0;
    for (let sender = 0; sender < this.nextSeq.length; sender++) {
      const states = this.ackState[sender]!;
      const counts = this.receptions[sender]!;
      for (let seq = 0; seq < this.nextSeq[sender]!; seq++) {
        const received = counts[seq]!;
        if (states[seq] === ACK_OK && received === 0) lost++;
        if (received > 1) duplicated += received - 1;
      }
    }
    return {
      sent: this.sent,
      acked: this.ackedOk,
      failed: this.sent - this.ackedOk,
      rejected: this.ackedFailed,
      delivered: this.distinctReceived,
      lost,
      duplicated,
      errors: [...this.errorMessages],
    };
  }
}

import { SignJWT } from "jose";
import {
  SioConnection,
  type AckCallback,
  type EventListener,
} from "../lib/sio-client.js";
import type { TargetSpec } from "./plans.js";

/** Lifetime of the tokens the generator signs; longer than any bench run. */
const TOKEN_TTL_SECONDS = 2 * 60 * 60;

export interface UserSpec {
  userId: string;
  /** Index that picks the node: `urls[nodeIndex % urls.length]`. */
  nodeIndex: number;
}

/**
 * Builds the handshake `auth` of every user: a signed HS256 token for the
 * chat server (as its dev endpoint would issue, without the HTTP round trip
 * and its rate limit), the bare user id for the relay.
 */
export async function buildAuth(
  target: TargetSpec,
  users: UserSpec[],
): Promise<Record<string, unknown>[]> {
  if (target.kind === "relay")
    return users.map((user) => ({ userId: user.userId }));
  const key = new TextEncoder().encode(target.jwtSecret);
  const expiresAt = Math.floor(Date.now() / 1000) + TOKEN_TTL_SECONDS;
  return Promise.all(
    users.map(async (user) => ({
      token: await new SignJWT({ name: user.userId })
        .setProtectedHeader({ alg: "HS256" })
        .setSubject(user.userId)
        .setIssuedAt()
        .setExpirationTime(expiresAt)
        .sign(key),
      appState: "foreground",
    })),
  );
}

/**
 * Connects every user with at most `concurrency` handshakes in flight and
 * returns the connections in the order of `users`, with the time in ms
 * from the first handshake to the last accepted one. The first failure
 * closes what was opened and rejects.
 */
export async function connectAll(
  target: TargetSpec,
  users: UserSpec[],
  listenerFor: (index: number) => EventListener,
  options: { concurrency: number; timeoutMs: number },
): Promise<{ connections: SioConnection[]; connectMs: number }> {
  const auth = await buildAuth(target, users);
  const connections: SioConnection[] = new Array(users.length);
  const started = performance.now();
  let next = 0;
  let failure: Error | null = null;
  const worker = async () => {
    while (next < users.length && !failure) {
      const index = next++;
      const user = users[index]!;
      try {
        connections[index] = await SioConnection.connect({
          url: target.urls[user.nodeIndex % target.urls.length]!,
          auth: auth[index]!,
          timeoutMs: options.timeoutMs,
          onEvent: listenerFor(index),
          onClose: (reason) => {
            process.stderr.write(
              `generator: ${user.userId} disconnected: ${reason}\n`,
            );
          },
        });
      } catch (error) {
        failure ??= new Error(
          `connecting ${user.userId} failed: ${(error as Error).message}`,
        );
      }
    }
  };
  await Promise.all(
    Array.from({ length: Math.max(1, options.concurrency) }, worker),
  );
  const connectMs = performance.now() - started;
  if (failure) {
    for (const connection of connections) connection?.terminate();
    throw failure;
  }
  return { connections, connectMs };
}

/** Emits an event and resolves with the parsed first ack argument; rejects after `timeoutMs`. */
export function request(
  connection: SioConnection,
  event: string,
  payload: unknown,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${event} was not acked within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onAck: AckCallback = (args) => {
      clearTimeout(timer);
      const [first] = JSON.parse(args) as [Record<string, unknown>];
      if (first?.ok !== true) {
        reject(new Error(`${event} failed: ${JSON.stringify(first)}`));
        return;
      }
      resolve(first);
    };
    connection.emitRaw(event, JSON.stringify(payload), onAck);
  });
}

/** Runs `task` for every index with at most `concurrency` of them in flight. */
export async function forEachLimited(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
}

/**
 * Reads the sender index and sequence number out of a `clientMessageId`
 * of the form `c<sender>.<seq>` in raw event JSON, without parsing the
 * packet. Returns false when the packet carries none.
 */
export function readClientMessageId(
  json: string,
  out: { sender: number; seq: number },
): boolean {
  const marker = '"clientMessageId":"c';
  const at = json.indexOf(marker);
  if (at < 0) return false;
  let position = at + marker.length;
  let sender = 0;
  let code = json.charCodeAt(position);
  while (code >= 48 && code <= 57) {
    sender = sender * 10 + (code - 48);
    code = json.charCodeAt(++position);
  }
  if (code !== 46) return false;
  let seq = 0;
  code = json.charCodeAt(++position);
  while (code >= 48 && code <= 57) {
    seq = seq * 10 + (code - 48);
    code = json.charCodeAt(++position);
  }
  out.sender = sender;
  out.seq = seq;
  return code === 34;
}

/** Returns the value of a string field in raw JSON, such as the message `id` in an ack. */
export function readStringField(json: string, field: string): string {
  const marker = `"${field}":"`;
  const at = json.indexOf(marker);
  if (at < 0) return "";
  const end = json.indexOf('"', at + marker.length);
  return end < 0 ? "" : json.slice(at + marker.length, end);
}

/** Returns the `code` of an error ack, or the ack text when it has none. */
export function describeFailedAck(args: string): string {
  return readStringField(args, "code") || args.slice(0, 120);
}

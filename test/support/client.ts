import type {
  AckResponse,
  ClientToServerEvents,
  ServerToClientEvents,
} from "../../server/src/protocol/index.js";
import type { ClientSocket } from "./server.js";

type AckOf<E extends keyof ClientToServerEvents> = Parameters<
  ClientToServerEvents[E]
>[1] extends (response: infer R) => void
  ? R
  : never;

/** Emits a client event and resolves with the ack; fails after `timeoutMs`. */
export async function request<E extends keyof ClientToServerEvents>(
  socket: ClientSocket,
  event: E,
  payload: unknown,
  timeoutMs = 5000,
): Promise<AckOf<E>> {
  const emit = socket.timeout(timeoutMs).emitWithAck as unknown as (
    event: string,
    payload: unknown,
  ) => Promise<AckOf<E>>;
  return emit.call(socket.timeout(timeoutMs), event, payload);
}

/** Like request, but fails unless the ack is ok, and returns it without the union. */
export async function requestOk<E extends keyof ClientToServerEvents>(
  socket: ClientSocket,
  event: E,
  payload: unknown,
): Promise<Extract<AckOf<E>, { ok: true }>> {
  const response = (await request(socket, event, payload)) as AckResponse;
  if (!response.ok)
    throw new Error(
      `${event} failed: ${response.error.code}: ${response.error.message}`,
    );
  return response as Extract<AckOf<E>, { ok: true }>;
}

type ServerPayload<E extends keyof ServerToClientEvents> = Parameters<
  ServerToClientEvents[E]
>[0];

/** Resolves with the next `event` whose payload matches; fails after `timeoutMs`. */
export function nextEvent<E extends keyof ServerToClientEvents>(
  socket: ClientSocket,
  event: E,
  match: (payload: ServerPayload<E>) => boolean = () => true,
  timeoutMs = 5000,
): Promise<ServerPayload<E>> {
  return new Promise((resolve, reject) => {
    const listener = (payload: ServerPayload<E>) => {
      if (!match(payload)) return;
      clearTimeout(timer);
      socket.off(event, listener as never);
      resolve(payload);
    };
    const timer = setTimeout(() => {
      socket.off(event, listener as never);
      reject(new Error(`no ${event} event within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on(event, listener as never);
  });
}

/** Collects every `event` payload the socket receives from now on. */
export function collect<E extends keyof ServerToClientEvents>(
  socket: ClientSocket,
  event: E,
): ServerPayload<E>[] {
  const received: ServerPayload<E>[] = [];
  socket.on(event, ((payload: ServerPayload<E>) =>
    received.push(payload)) as never);
  return received;
}

/** Emits anything, bypassing the typed event map, as a misbehaving client would. */
export function emitRaw(
  socket: ClientSocket,
  event: string,
  ...args: unknown[]
): void {
  (socket as unknown as { emit(event: string, ...args: unknown[]): void }).emit(
    event,
    ...args,
  );
}

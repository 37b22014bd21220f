import WebSocket from "ws";

/**
 * A minimal Socket.IO client for load generation: Engine.IO v4 over a
 * WebSocket only, Socket.IO protocol v5, default namespace, text packets
 * only. It does a fraction of socket.io-client's work per packet (no
 * emitter chain, no packet objects, no reconnection), so one process can
 * drive thousands of connections.
 *
 * Event payloads are handed over as raw JSON text, so a caller that only
 * needs one field can find it without parsing the whole packet.
 */

/** Called for every server event; `args` is the JSON array text without the event name. */
export type EventListener = (
  name: string,
  args: string,
  ackId: number | undefined,
) => void;

/** Called with the JSON array text of an ack's arguments. */
export type AckCallback = (args: string) => void;

export interface ConnectOptions {
  /** Base URL such as http://127.0.0.1:3000. */
  url: string;
  /** Object sent in the Socket.IO CONNECT packet, read by the server as `socket.handshake.auth`. */
  auth: Record<string, unknown>;
  /** Time in ms that the WebSocket upgrade and the Socket.IO CONNECT may take together. */
  timeoutMs: number;
  onEvent: EventListener;
  /** Called once when the connection closes after it was established. */
  onClose?: (reason: string) => void;
}

const ENGINE_OPEN = "0";
const ENGINE_CLOSE = "1";
const ENGINE_PING = "2";
const ENGINE_MESSAGE = "4";
const SOCKET_CONNECT = "0";
const SOCKET_DISCONNECT = "1";
const SOCKET_EVENT = "2";
const SOCKET_ACK = "3";
const SOCKET_CONNECT_ERROR = "4";

/** Error of a rejected handshake, with the server's `data` (such as `{ code, message }`). */
export class ConnectError extends Error {
  constructor(
    message: string,
    readonly data: unknown,
  ) {
    super(message);
  }
}

export class SioConnection {
  private readonly acks = new Map<number, AckCallback>();
  private nextAckId = 0;
  private closed = false;

  private constructor(
    private readonly ws: WebSocket,
    private readonly options: ConnectOptions,
  ) {}

  /** Opens the WebSocket, sends CONNECT with `auth` and resolves once the server accepts it. */
  static connect(options: ConnectOptions): Promise<SioConnection> {
    const endpoint = new URL("/socket.io/", options.url);
    endpoint.protocol = endpoint.protocol === "https:" ? "wss:" : "ws:";
    endpoint.searchParams.set("EIO", "4");
    endpoint.searchParams.set("transport", "websocket");
    const ws = new WebSocket(endpoint, {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      handshakeTimeout: options.timeoutMs,
    });
    const connection = new SioConnection(ws, options);
    return connection.handshake();
  }

  /** Sends an event whose arguments are already JSON text (without the brackets), with an optional ack. */
  emitRaw(name: string, argsJson: string, ack?: AckCallback): void {
    if (this.closed) return;
    if (ack) {
      const id = this.nextAckId++;
      this.acks.set(id, ack);
      this.ws.send(`42${id}["${name}",${argsJson}]`);
    } else {
      this.ws.send(`42["${name}",${argsJson}]`);
    }
  }

  /** Acks a server event that requested an ack, as socket.io-client does for `callback(...args)`. */
  ack(ackId: number, argsJson = "[]"): void {
    if (this.closed) return;
    this.ws.send(`43${ackId}${argsJson}`);
  }

  /** Number of emitted events whose ack has not arrived. */
  get pendingAcks(): number {
    return this.acks.size;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.acks.clear();
    this.ws.close();
  }

  /** Closes the TCP connection without the WebSocket closing handshake. */
  terminate(): void {
    this.closed = true;
    this.acks.clear();
    this.ws.terminate();
  }

  private handshake(): Promise<SioConnection> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.terminate();
        reject(error);
      };
      const timer = setTimeout(
        () =>
          fail(
            new Error(
              `connecting to ${this.options.url} timed out after ${this.options.timeoutMs} ms`,
            ),
          ),
        this.options.timeoutMs,
      );
      this.ws.on("error", (error) => fail(error));
      this.ws.on("close", (code) => {
        if (!settled) {
          fail(new Error(`connection closed during the handshake (${code})`));
          return;
        }
        if (!this.closed) {
          this.closed = true;
          this.acks.clear();
          this.options.onClose?.(`closed by the server (${code})`);
        }
      });
      this.ws.on("message", (data: Buffer) => {
        const text = data.toString();
        if (settled) {
          this.onPacket(text);
          return;
        }
        const type = text[0];
        if (type === ENGINE_OPEN) {
          this.ws.send(`40${JSON.stringify(this.options.auth)}`);
        } else if (type === ENGINE_PING) {
          this.ws.send("3");
        } else if (type === ENGINE_MESSAGE && text[1] === SOCKET_CONNECT) {
          settled = true;
          clearTimeout(timer);
          resolve(this);
        } else if (
          type === ENGINE_MESSAGE &&
          text[1] === SOCKET_CONNECT_ERROR
        ) {
          const body = safeParse(text.slice(2)) as {
            message?: string;
            data?: unknown;
          } | null;
          fail(
            new ConnectError(
              `handshake rejected: ${body?.message ?? text.slice(2)}`,
              body?.data,
            ),
          );
        }
      });
    });
  }

  private onPacket(text: string): void {
    const type = text[0];
    if (type === ENGINE_PING) {
      this.ws.send("3");
      return;
    }
    if (type === ENGINE_CLOSE) {
      this.close();
      return;
    }
    if (type !== ENGINE_MESSAGE) return;
    const packetType = text[1];
    if (packetType === SOCKET_EVENT) {
      // 42[id]["name",...args]
      const bracket = text.indexOf("[", 2);
      if (bracket < 0) return;
      const ackId = bracket > 2 ? Number(text.slice(2, bracket)) : undefined;
      const nameEnd = text.indexOf('"', bracket + 2);
      if (text[bracket + 1] !== '"' || nameEnd < 0) return;
      const name = text.slice(bracket + 2, nameEnd);
      // Keep the arguments as a JSON array: drop `"name",` after the bracket.
      const rest = text.slice(nameEnd + 1);
      const args = rest[0] === "," ? `[${rest.slice(1)}` : "[]";
      this.options.onEvent(name, args, ackId);
    } else if (packetType === SOCKET_ACK) {
      // 43id[...args]
      const bracket = text.indexOf("[", 2);
      if (bracket < 0) return;
      const id = Number(text.slice(2, bracket));
      const callback = this.acks.get(id);
      if (!callback) return;
      this.acks.delete(id);
      callback(text.slice(bracket));
    } else if (packetType === SOCKET_DISCONNECT) {
      this.close();
    }
  }
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

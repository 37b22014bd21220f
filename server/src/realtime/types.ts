import type { Server, Socket } from "socket.io";
import type {
  AppState,
  ClientToServerEvents,
  ServerToClientEvents,
} from "../protocol/index.js";

/** Per-socket data set by the auth middleware. */
export interface SocketData {
  userId: string;
  name: string;
  /** App state the client reported in the handshake. */
  initialAppState: AppState;
  /** Epoch milliseconds at which the token expires and the socket is disconnected. */
  tokenExpiresAt: number;
}

// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface InterServerEvents {}

export type ChatServer = Server<
  ClientToServerEvents,
  ServerToClientEvents,
  InterServerEvents,
  SocketData
>;
export type ChatSocket = Socket<
  ClientToServerEvents,
  ServerToClientEvents,
  InterServerEvents,
  SocketData
>;

/** Room that contains every socket of one user, on every node. */
export const userRoom = (userId: string) => `user:${userId}`;

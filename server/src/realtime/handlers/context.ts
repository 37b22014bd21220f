import type { AttentionService } from "../../attention/service.js";
import type { ChatService } from "../../chat/service.js";
import type { Logger } from "../../observability/logger.js";
import type { Fanout } from "../fanout.js";

/** Services every socket handler may use; built once per server. */
export interface SocketContext {
  chat: ChatService;
  attention: AttentionService;
  fanout: Fanout;
  logger: Logger;
  typingTtlMs: number;
}

import type { RateLimits } from "../../limits/rate-limits.js";
import type { AttentionService } from "../../attention/service.js";
import type { ChatService } from "../../chat/service.js";
import type { Logger } from "../../observability/logger.js";
import type { Metrics } from "../../observability/metrics.js";
import type { PushService } from "../../push/service.js";
import type { PreferencesStore } from "../../stores/types.js";
import type { MessageDelivery } from "../delivery.js";
import type { Fanout } from "../fanout.js";

/** Services every socket handler may use; built once per server. */
export interface SocketContext {
  chat: ChatService;
  attention: AttentionService;
  fanout: Fanout;
  delivery: MessageDelivery;
  push: PushService;
  preferences: PreferencesStore;
  metrics: Metrics;
  logger: Logger;
  typingTtlMs: number;
  limits: RateLimits;
  /** False lets only the app's backend create conversations. */
  clientConversationCreate: boolean;
  /** Connected sockets allowed per user. */
  connectionsPerUser: number;
}

import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";

export interface PostResponse {
  status: number;
  retryAfter: string | null;
  text: string;
}

/** Largest response body read, in bytes; OneSignal's responses are a few hundred. */
const MAX_RESPONSE_BYTES = 1_048_576;

/**
 * Keep-alive HTTP(S) client for one API host. Requests beyond
 * `maxConnections` wait in the agent's queue, so a wave of thousands of due
 * pushes reuses a bounded pool of connections instead of opening one each.
 */
export class JsonPoster {
  private readonly agent: HttpAgent;
  private readonly secure: boolean;

  constructor(
    private readonly baseUrl: string,
    maxConnections: number,
  ) {
    this.secure = new URL(baseUrl).protocol === "https:";
    const options = { keepAlive: true, maxSockets: maxConnections };
    this.agent = this.secure ? new HttpsAgent(options) : new HttpAgent(options);
  }

  /**
   * POSTs a JSON body. Rejects with a TimeoutError-named error after
   * `timeoutMs`, and with an AbortError when `signal` aborts; the timeout
   * covers waiting for a free connection too.
   */
  post(
    path: string,
    headers: Record<string, string>,
    body: string,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<PostResponse> {
    return new Promise((resolve, reject) => {
      const send = this.secure ? httpsRequest : httpRequest;
      const request = send(
        `${this.baseUrl}${path}`,
        {
          method: "POST",
          agent: this.agent,
          headers: { ...headers, "content-length": Buffer.byteLength(body) },
          signal,
        },
        (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size <= MAX_RESPONSE_BYTES) chunks.push(chunk);
          });
          response.on("end", () => {
            clearTimeout(timer);
            const retryAfter = response.headers["retry-after"];
            resolve({
              status: response.statusCode ?? 0,
              retryAfter: typeof retryAfter === "string" ? retryAfter : null,
              text: Buffer.concat(chunks).toString("utf8"),
            });
          });
          response.on("error", (error) => {
            clearTimeout(timer);
            reject(error);
          });
        },
      );
      const timer = setTimeout(() => {
        const error = new Error(`timed out after ${timeoutMs} ms`);
        error.name = "TimeoutError";
        request.destroy(error);
      }, timeoutMs);
      request.on("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
      request.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

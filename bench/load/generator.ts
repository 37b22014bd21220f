/**
 * Load generator process. The bench runner forks it, sends a plan, and
 * steps it through setup, the run and the end over the IPC channel (see
 * plans.ts for the messages). It exits when the runner sends `finish` or
 * when the IPC channel closes because the runner died.
 */
import type { SioConnection } from "../lib/sio-client.js";
import { ChatLoad } from "./chat-load.js";
import { connectAll } from "./connections.js";
import type {
  GeneratorMessage,
  IdlePlan,
  Plan,
  RunnerMessage,
  SetupReport,
} from "./plans.js";
import { PushLoad } from "./push-load.js";

/** Maximum wait in ms for the viewing members' receptions before the push result is reported. */
const PUSH_DRAIN_MS = 5000;

function send(message: GeneratorMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) {
      resolve();
      return;
    }
    process.send(message, undefined, undefined, () => resolve());
  });
}

async function fail(error: unknown): Promise<never> {
  const message = error instanceof Error ? error.message : String(error);
  await send({ type: "error", message });
  process.exit(1);
}

class IdleLoad {
  private connections: SioConnection[] = [];

  constructor(private readonly plan: IdlePlan) {}

  async setup(): Promise<SetupReport> {
    const users = [];
    for (let i = this.plan.users.from; i < this.plan.users.to; i++) {
      users.push({ userId: `${this.plan.userPrefix}i${i}`, nodeIndex: i });
    }
    const { connections, connectMs } = await connectAll(
      this.plan.target,
      users,
      () => () => {},
      {
        concurrency: this.plan.connectConcurrency,
        timeoutMs: this.plan.connectTimeoutMs,
      },
    );
    this.connections = connections;
    return { connections: connections.length, connectMs, conversationsMs: 0 };
  }

  close(): void {
    for (const connection of this.connections) connection.close();
  }
}

let load: ChatLoad | PushLoad | IdleLoad | null = null;

async function handle(message: RunnerMessage): Promise<void> {
  switch (message.type) {
    case "setup": {
      load = createLoad(message.plan);
      const setup = await load.setup();
      await send({ type: "ready", setup });
      return;
    }
    case "start": {
      if (!(load instanceof ChatLoad))
        throw new Error("start needs a throughput or latency plan");
      const result = await load.run();
      await send({ type: "result", result });
      return;
    }
    case "burst": {
      if (!(load instanceof PushLoad))
        throw new Error("burst needs a push plan");
      const bursts = await load.burst(message.round);
      await send({ type: "burst-done", round: message.round, bursts });
      return;
    }
    case "finish": {
      let result = null;
      if (load instanceof PushLoad) {
        const deadline = Date.now() + PUSH_DRAIN_MS;
        while (load.missingReceptions > 0 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        result = load.result();
      }
      load?.close();
      await send({ type: "result", result });
      // Lets the close frames go out before the process ends.
      setTimeout(() => process.exit(0), 200);
      return;
    }
  }
}

function createLoad(plan: Plan): ChatLoad | PushLoad | IdleLoad {
  switch (plan.scenario) {
    case "throughput":
    case "latency":
      return new ChatLoad(plan, (name) => void send({ type: "mark", name }));
    case "idle":
      return new IdleLoad(plan);
    case "push":
      return new PushLoad(plan);
  }
}

if (!process.send) {
  process.stderr.write(
    "bench/load/generator.ts is started by bench/run.ts over IPC; run `npm run bench` instead\n",
  );
  process.exit(2);
}
process.on("message", (message: RunnerMessage) => {
  handle(message).catch(fail);
});
process.on("disconnect", () => process.exit(1));

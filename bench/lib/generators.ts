import type { ChildProcess } from "node:child_process";
import type {
  BurstRecord,
  ChatResult,
  GeneratorMessage,
  Plan,
  PushResult,
  RunnerMessage,
  SetupReport,
} from "../load/plans.js";
import { isRunning, startProcess, stopProcess } from "./processes.js";

type Waiter = {
  type: GeneratorMessage["type"];
  resolve: (message: GeneratorMessage) => void;
  reject: (error: Error) => void;
};

/** One load generator process (bench/load/generator.ts) and its IPC conversation. */
export class Generator {
  private readonly waiters: Waiter[] = [];
  private failure: Error | null = null;

  private constructor(
    private readonly child: ChildProcess,
    private readonly tail: string[],
    private readonly onMark: (name: string) => void,
  ) {
    child.on("message", (message: GeneratorMessage) => this.dispatch(message));
    child.once("exit", (code, signal) => {
      this.failAll(
        new Error(
          `load generator exited with ${code ?? signal}:\n${this.tail.join("\n")}`,
        ),
      );
    });
  }

  /** Forks a generator; `onMark` gets its measure-start and measure-end marks. */
  static start(onMark: (name: string) => void = () => {}): Generator {
    const { child, tail } = startProcess(
      process.execPath,
      ["--import", "tsx", "bench/load/generator.ts"],
      {
        env: { PATH: process.env.PATH, HOME: process.env.HOME },
        ipc: true,
      },
    );
    return new Generator(child, tail, onMark);
  }

  async setup(plan: Plan): Promise<SetupReport> {
    const ready = this.next("ready");
    this.post({ type: "setup", plan });
    const message = await ready;
    return (message as Extract<GeneratorMessage, { type: "ready" }>).setup;
  }

  async run(): Promise<ChatResult> {
    const result = this.next("result");
    this.post({ type: "start" });
    return ((await result) as Extract<GeneratorMessage, { type: "result" }>)
      .result as ChatResult;
  }

  async burst(round: number): Promise<BurstRecord[]> {
    const done = this.next("burst-done");
    this.post({ type: "burst", round });
    return ((await done) as Extract<GeneratorMessage, { type: "burst-done" }>)
      .bursts;
  }

  /** Closes the generator's connections, returns its final result (push plans) and waits for its exit. */
  async finish(): Promise<PushResult | null> {
    if (!isRunning(this.child)) return null;
    const result = this.next("result");
    const exited = new Promise<void>((resolve) =>
      this.child.once("exit", () => resolve()),
    );
    this.post({ type: "finish" });
    const message = (await result) as Extract<
      GeneratorMessage,
      { type: "result" }
    >;
    await Promise.race([
      exited,
      new Promise((resolve) => setTimeout(resolve, 5000)),
    ]);
    await stopProcess(this.child, 2000);
    return message.result as PushResult | null;
  }

  async stop(): Promise<void> {
    await stopProcess(this.child, 2000);
  }

  private post(message: RunnerMessage): void {
    if (this.failure) throw this.failure;
    this.child.send(message);
  }

  private next(type: GeneratorMessage["type"]): Promise<GeneratorMessage> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) =>
      this.waiters.push({ type, resolve, reject }),
    );
  }

  private dispatch(message: GeneratorMessage): void {
    if (message.type === "mark") {
      this.onMark(message.name);
      return;
    }
    if (message.type === "error") {
      this.failAll(new Error(`load generator failed: ${message.message}`));
      return;
    }
    const index = this.waiters.findIndex(
      (waiter) => waiter.type === message.type,
    );
    if (index < 0) return;
    const [waiter] = this.waiters.splice(index, 1);
    waiter!.resolve(message);
  }

  private failAll(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }
}

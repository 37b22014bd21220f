// @ts-check
// The app state this page reports to the server: background while the page
// is hidden (Page Visibility API), idle after a minute without user input,
// foreground otherwise. A simulated mode overrides it, so one machine can
// show every case.

/** @typedef {import("../server/src/protocol/schemas.js").AppState} AppState */
/** @typedef {"real" | "background" | "idle"} AttentionMode */

/** Time without user input after which the page reports idle. */
export const IDLE_AFTER_MS = 60_000;

/** Events that count as user input. */
const INPUT_EVENTS = [
  "pointerdown",
  "pointermove",
  "keydown",
  "wheel",
  "touchstart",
  "scroll",
];

export class AttentionTracker {
  /**
   * @param {(state: AppState) => void} onChange called when the reported state changes
   * @param {number} [idleAfterMs]
   */
  constructor(onChange, idleAfterMs = IDLE_AFTER_MS) {
    this.onChange = onChange;
    this.idleAfterMs = idleAfterMs;
    /** @type {AttentionMode} */
    this.mode = "real";
    this.inputIdle = false;
    this.lastInputAt = Date.now();
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.idleTimer = undefined;
    /** @type {AppState} */
    this.state = this.compute();
    this.handleInput = this.handleInput.bind(this);
    this.update = this.update.bind(this);
  }

  start() {
    document.addEventListener("visibilitychange", this.update);
    for (const type of INPUT_EVENTS) {
      window.addEventListener(type, this.handleInput, {
        capture: true,
        passive: true,
      });
    }
    this.armIdleTimer(this.idleAfterMs);
  }

  stop() {
    document.removeEventListener("visibilitychange", this.update);
    for (const type of INPUT_EVENTS) {
      window.removeEventListener(type, this.handleInput, { capture: true });
    }
    clearTimeout(this.idleTimer);
  }

  /**
   * Switches between the real state and a simulated one.
   * @param {AttentionMode} mode
   */
  setMode(mode) {
    this.mode = mode;
    this.update();
  }

  /** Describes where the current state comes from, in words for the page. */
  describe() {
    if (this.mode !== "real") return "simulated";
    if (document.visibilityState === "hidden") return "page hidden";
    if (this.inputIdle) {
      return `no input for ${Math.round(this.idleAfterMs / 1000)} s`;
    }
    return "page visible";
  }

  /** @returns {AppState} */
  compute() {
    if (this.mode !== "real") return this.mode;
    if (document.visibilityState === "hidden") return "background";
    return this.inputIdle ? "idle" : "foreground";
  }

  update() {
    const next = this.compute();
    if (next === this.state) return;
    this.state = next;
    this.onChange(next);
  }

  handleInput() {
    this.lastInputAt = Date.now();
    if (this.inputIdle) {
      this.inputIdle = false;
      this.update();
      this.armIdleTimer(this.idleAfterMs);
    }
  }

  /**
   * Checks for idleness after `delayMs`. Input does not re-arm the timer
   * each time; the check re-arms itself for the time still left.
   * @param {number} delayMs
   */
  armIdleTimer(delayMs) {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      const quietFor = Date.now() - this.lastInputAt;
      if (quietFor >= this.idleAfterMs) {
        this.inputIdle = true;
        this.update();
      } else {
        this.armIdleTimer(this.idleAfterMs - quietFor);
      }
    }, delayMs);
  }
}

import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import {
  chromium,
  type Browser,
  type BrowserContext,
  type Page,
} from "playwright-core";
import { afterAll, describe, expect, it } from "vitest";
import {
  startServer,
  TEST_SERVER_KEY,
  type TestServer,
} from "../support/server.js";

/** Debian's chromium package, which .ci/run installs when it is missing. */
const CHROMIUM_PATH = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
/** Maximum wait for any one condition in the page. */
const WAIT_MS = 10_000;
/** Push timings short enough for a browser test, long enough to tell a burst. */
const PUSH_ENV = {
  PUSH_DEBOUNCE_MS: "300",
  PUSH_MAX_WAIT_MS: "3000",
  PUSH_ACK_TIMEOUT_MS: "500",
};
const XSS_TEXT = "<img src=x onerror=alert(1)><b>bold</b>";
/** Where a run with UPDATE_DEMO_SCREENSHOT=1 writes the two-user screenshot. */
const SCREENSHOT_PATH = fileURLToPath(
  new URL("../../docs/demo.png", import.meta.url),
);

interface UserPage {
  context: BrowserContext;
  page: Page;
}

/** What a page did that a test must not allow: remote requests, errors, dialogs. */
interface PageProblems {
  blockedRequests: string[];
  pageErrors: string[];
  dialogs: string[];
}

let launched: Promise<Browser> | undefined;

/**
 * Launches Chromium on first use. Every test calls it, so without Chromium
 * each test fails with the install hint instead of being skipped.
 */
function getBrowser(): Promise<Browser> {
  launched ??= (async () => {
    if (!existsSync(CHROMIUM_PATH)) {
      throw new Error(
        `Chromium is missing at ${CHROMIUM_PATH}. Install it with: apt-get update && apt-get install -y chromium`,
      );
    }
    return chromium.launch({
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: 30_000,
    });
  })();
  return launched;
}

afterAll(async () => {
  const browser = await launched?.catch(() => undefined);
  await browser?.close();
});

function newProblems(): PageProblems {
  return { blockedRequests: [], pageErrors: [], dialogs: [] };
}

/**
 * Opens a browser context that may load only the test server's origin. Any
 * other request is aborted and recorded.
 */
async function newUserContext(
  server: TestServer,
  problems: PageProblems,
  viewport = { width: 1280, height: 880 },
): Promise<BrowserContext> {
  const browser = await getBrowser();
  const context = await browser.newContext({ viewport });
  const origin = new URL(server.url).origin;
  await context.route("**/*", async (route) => {
    const url = route.request().url();
    if (new URL(url).origin === origin) {
      await route.continue();
    } else {
      problems.blockedRequests.push(url);
      await route.abort();
    }
  });
  return context;
}

/** Opens the demo page in the context and signs in. */
async function signIn(
  server: TestServer,
  context: BrowserContext,
  problems: PageProblems,
  userId: string,
  name: string,
): Promise<Page> {
  const page = await context.newPage();
  page.on("pageerror", (error) => problems.pageErrors.push(error.message));
  page.on("dialog", async (dialog) => {
    problems.dialogs.push(dialog.message());
    await dialog.dismiss();
  });
  await page.goto(server.url);
  await page.getByTestId("sign-in-user").fill(userId);
  await page.getByTestId("sign-in-name").fill(name);
  await page.getByTestId("sign-in-submit").click();
  await connectionState(page, "connected");
  return page;
}

async function openUser(
  server: TestServer,
  problems: PageProblems,
  userId: string,
  name: string,
  viewport?: { width: number; height: number },
): Promise<UserPage> {
  const context = await newUserContext(server, problems, viewport);
  const page = await signIn(server, context, problems, userId, name);
  return { context, page };
}

async function connectionState(page: Page, state: string): Promise<void> {
  await page
    .locator(`[data-testid="connection-status"][data-state="${state}"]`)
    .waitFor({ timeout: WAIT_MS });
}

/** Starts a chat with the member ids from the sidebar form. */
async function startChat(page: Page, members: string): Promise<void> {
  await page.getByTestId("new-conversation-members").fill(members);
  await page.getByTestId("new-conversation-submit").click();
  await page.getByTestId("chat-body").waitFor({ timeout: WAIT_MS });
}

/** Opens the conversation whose title is `title` from the list. */
async function openChat(page: Page, title: string): Promise<void> {
  await page
    .getByTestId("conversation-item")
    .filter({ has: page.getByTestId("conversation-title").getByText(title) })
    .getByRole("button")
    .click({ timeout: WAIT_MS });
  await page.getByTestId("chat-body").waitFor({ timeout: WAIT_MS });
}

async function sendMessage(page: Page, text: string): Promise<void> {
  await page.getByTestId("composer-input").fill(text);
  await page.getByTestId("composer-input").press("Enter");
}

function messageTexts(page: Page): Promise<string[]> {
  return page
    .getByTestId("message-list")
    .getByTestId("message-text")
    .allTextContents();
}

async function waitForMessages(page: Page, expected: string[]) {
  await expect
    .poll(() => messageTexts(page), { timeout: WAIT_MS })
    .toEqual(expected);
}

interface OutboxPush {
  request: {
    headings: Record<string, string>;
    contents: Record<string, string>;
    data: Record<string, unknown>;
  };
}

async function outbox(server: TestServer, userId: string) {
  const response = await fetch(
    `${server.url}/api/dev/push-outbox?userId=${userId}`,
  );
  expect(response.status).toBe(200);
  return ((await response.json()) as { pushes: OutboxPush[] }).pushes;
}

async function waitForIdlePushQueue(server: TestServer) {
  await expect
    .poll(() => server.app.pushStores.queue.size(), { timeout: WAIT_MS })
    .toBe(0);
}

function expectNoProblems(problems: PageProblems) {
  expect(problems.blockedRequests).toEqual([]);
  expect(problems.pageErrors).toEqual([]);
  expect(problems.dialogs).toEqual([]);
}

/**
 * Puts screenshots of two pages side by side in one PNG, by showing them in
 * a third page.
 */
async function sideBySide(left: Page, right: Page): Promise<Buffer> {
  const [leftShot, rightShot] = await Promise.all([
    left.screenshot(),
    right.screenshot(),
  ]);
  const browser = await getBrowser();
  const page = await browser.newPage({
    viewport: { width: 2580, height: 900 },
  });
  try {
    const image = (png: Buffer) =>
      `<img src="data:image/png;base64,${png.toString("base64")}">`;
    await page.setContent(
      `<body style="margin:0;padding:10px;display:flex;gap:20px;background:#2b3040">${image(leftShot)}${image(rightShot)}</body>`,
    );
    return await page.screenshot({ fullPage: true });
  } finally {
    await page.close();
  }
}

describe("demo page", () => {
  it("chats live and collapses a burst into one push", async () => {
    const server = await startServer(PUSH_ENV);
    const problems = newProblems();
    const anna = await openUser(server, problems, "anna", "Anna");
    const ben = await openUser(server, problems, "ben", "Ben");

    try {
      await startChat(anna.page, "ben");
      await openChat(ben.page, "Anna");

      // Presence: each page shows the other user online.
      await anna.page
        .locator('[data-testid="conversation-item"][data-online="true"]')
        .waitFor({ timeout: WAIT_MS });
      await ben.page
        .locator('[data-testid="chat-member"][data-online="true"]')
        .waitFor({ timeout: WAIT_MS });

      await sendMessage(anna.page, "Hi Ben!");
      await waitForMessages(ben.page, ["Hi Ben!"]);
      await sendMessage(ben.page, "Hi Anna, what's up?");
      await waitForMessages(anna.page, ["Hi Ben!", "Hi Anna, what's up?"]);

      // Typing shows on the other side while Anna types.
      await anna.page.getByTestId("composer-input").fill("Let me");
      await expect
        .poll(() => ben.page.getByTestId("typing-indicator").textContent(), {
          timeout: WAIT_MS,
        })
        .toBe("Anna is typing…");

      // Message text is text, never markup.
      await sendMessage(anna.page, XSS_TEXT);
      await waitForMessages(ben.page, [
        "Hi Ben!",
        "Hi Anna, what's up?",
        XSS_TEXT,
      ]);
      const benList = ben.page.getByTestId("message-list");
      expect(await benList.locator("img").count()).toBe(0);
      expect(await benList.locator("b").count()).toBe(0);
      expect(
        await benList.getByTestId("message-text").last().textContent(),
      ).toBe(XSS_TEXT);
      expect(
        await anna.page.getByTestId("message-list").locator("img, b").count(),
      ).toBe(0);
      await expect
        .poll(() => ben.page.getByTestId("typing-indicator").textContent(), {
          timeout: WAIT_MS,
        })
        .toBe("");

      // Ben had the chat on screen: read receipts, and no push.
      await expect
        .poll(
          () => anna.page.getByTestId("message-status").last().textContent(),
          { timeout: WAIT_MS },
        )
        .toBe("Read by Ben");
      await expect
        .poll(
          () =>
            ben.page
              .getByTestId("decision-list")
              .getByTestId("decision-reason")
              .allTextContents(),
          { timeout: WAIT_MS },
        )
        .toContain("suppressed_viewing");
      await waitForIdlePushQueue(server);
      expect(await outbox(server, "ben")).toEqual([]);

      // Ben closes the page. Anna's page shows him offline, and she sends a burst.
      await ben.page.close();
      await anna.page
        .locator('[data-testid="chat-member"][data-online="false"]')
        .waitFor({ timeout: WAIT_MS });
      for (const text of ["Are you there?", "Dinner at 8?", "See you at 8"]) {
        await sendMessage(anna.page, text);
      }
      await expect
        .poll(async () => (await outbox(server, "ben")).length, {
          timeout: WAIT_MS,
        })
        .toBe(1);
      await waitForIdlePushQueue(server);
      const pushes = await outbox(server, "ben");
      expect(pushes).toHaveLength(1);
      expect(pushes[0]!.request.headings.en).toBe("Anna");
      expect(pushes[0]!.request.contents.en).toBe(
        "3 new messages from Anna: 'See you at 8'",
      );
      expect(pushes[0]!.request.data.count).toBe(3);

      // Ben comes back: his push panel lists the one push, and the chat
      // has every message once.
      ben.page = await signIn(server, ben.context, problems, "ben", "Ben");
      const benPushes = ben.page.getByTestId("push-list");
      await benPushes
        .getByTestId("push-item")
        .first()
        .waitFor({ timeout: WAIT_MS });
      expect(await benPushes.getByTestId("push-item").count()).toBe(1);
      expect(await benPushes.getByTestId("push-heading").textContent()).toBe(
        "Anna",
      );
      expect(await benPushes.getByTestId("push-content").textContent()).toBe(
        "3 new messages from Anna: 'See you at 8'",
      );
      await expect
        .poll(
          () => ben.page.getByTestId("unread-count").first().textContent(),
          { timeout: WAIT_MS },
        )
        .toBe("3");
      await openChat(ben.page, "Anna");
      await waitForMessages(ben.page, [
        "Hi Ben!",
        "Hi Anna, what's up?",
        XSS_TEXT,
        "Are you there?",
        "Dinner at 8?",
        "See you at 8",
      ]);
      await expect
        .poll(
          () => anna.page.getByTestId("message-status").last().textContent(),
          { timeout: WAIT_MS },
        )
        .toBe("Read by Ben");

      // A like from Anna reaches Ben live as an in-app notification.
      await anna.page.getByTestId("activity-toggle").click();
      await anna.page.getByTestId("activity-key").fill(TEST_SERVER_KEY);
      await anna.page.getByTestId("activity-action").selectOption("like");
      await anna.page.getByTestId("activity-recipient").fill("ben");
      await anna.page.getByTestId("activity-submit").click();
      await expect
        .poll(() => anna.page.getByTestId("activity-result").textContent(), {
          timeout: WAIT_MS,
        })
        .toMatch(/^Accepted/);
      await expect
        .poll(
          () =>
            ben.page
              .getByTestId("activity-list")
              .getByTestId("activity-message")
              .allTextContents(),
          { timeout: WAIT_MS },
        )
        .toEqual(["Anna liked your post."]);

      await sendMessage(ben.page, "Yes! See you at 8.");
      await waitForMessages(anna.page, [
        "Hi Ben!",
        "Hi Anna, what's up?",
        XSS_TEXT,
        "Are you there?",
        "Dinner at 8?",
        "See you at 8",
        "Yes! See you at 8.",
      ]);
      await ben.page
        .getByTestId("decision-list")
        .locator('[data-reason="sent"]')
        .first()
        .waitFor({ timeout: WAIT_MS });

      // Fold Anna's form away so the screenshot shows her panels from the top.
      await anna.page.getByTestId("activity-toggle").click();
      await anna.page
        .getByTestId("attention-panel")
        .evaluate((panel) => panel.parentElement?.scrollTo(0, 0));
      const screenshot = await sideBySide(anna.page, ben.page);
      expect(screenshot.length).toBeGreaterThan(10_000);
      if (process.env.UPDATE_DEMO_SCREENSHOT === "1") {
        await mkdir(new URL("../../docs/", import.meta.url), {
          recursive: true,
        });
        await writeFile(SCREENSHOT_PATH, screenshot);
      }

      expectNoProblems(problems);
    } finally {
      await anna.context.close();
      await ben.context.close();
    }
  }, 90_000);

  it("resends and resyncs after a reconnect without duplicates", async () => {
    const server = await startServer(PUSH_ENV);
    const problems = newProblems();
    const anna = await openUser(server, problems, "anna", "Anna");
    const ben = await openUser(server, problems, "ben", "Ben");

    try {
      await startChat(anna.page, "ben");
      await openChat(ben.page, "Anna");
      await sendMessage(anna.page, "before");
      await waitForMessages(ben.page, ["before"]);

      // Ben drops off and misses two messages.
      await ben.page.getByTestId("connection-toggle").click();
      await connectionState(ben.page, "offline");
      await sendMessage(anna.page, "missed 1");
      await sendMessage(anna.page, "missed 2");
      await waitForMessages(anna.page, ["before", "missed 1", "missed 2"]);

      // Anna drops off too and writes while offline: the message waits.
      await anna.page.getByTestId("connection-toggle").click();
      await connectionState(anna.page, "offline");
      await sendMessage(anna.page, "written offline");
      const waiting = anna.page.locator(
        '[data-testid="message"][data-pending="true"]',
      );
      await waiting.waitFor({ timeout: WAIT_MS });
      expect(await waiting.getByTestId("message-status").textContent()).toBe(
        "Waiting for the connection",
      );

      // Back online: the waiting message goes out, Ben catches up.
      await anna.page.getByTestId("connection-toggle").click();
      await connectionState(anna.page, "connected");
      await waiting.waitFor({ state: "detached", timeout: WAIT_MS });
      await ben.page.getByTestId("connection-toggle").click();
      await connectionState(ben.page, "connected");

      const expected = ["before", "missed 1", "missed 2", "written offline"];
      await waitForMessages(ben.page, expected);
      await waitForMessages(anna.page, expected);
      const seqs = await ben.page
        .getByTestId("message-list")
        .getByTestId("message")
        .evaluateAll((items) =>
          items.map((item) => Number((item as HTMLElement).dataset.seq)),
        );
      expect(seqs).toEqual([1, 2, 3, 4]);

      // The server stored the offline message once.
      const conversationId = await anna.page
        .getByTestId("conversation-item")
        .first()
        .getAttribute("data-conversation-id");
      const stored = await server.app.chat.history("anna", {
        conversationId: conversationId!,
      });
      expect(stored.messages.map((message) => message.text)).toEqual(expected);

      expectNoProblems(problems);
    } finally {
      await anna.context.close();
      await ben.context.close();
    }
  }, 60_000);

  it("resends with the same id after an unavailable ack", async () => {
    const server = await startServer(PUSH_ENV);
    const problems = newProblems();
    const context = await newUserContext(server, problems);
    // Passes every WebSocket frame through, except that the ack of the first
    // message:send is replaced by an `unavailable` error. The server has
    // stored that message all the same, as after a lost ack.
    let upgraded = false;
    let rewrittenAckId: string | null = null;
    const sentIds: string[] = [];
    await context.routeWebSocket(/\/socket\.io\//, (page) => {
      const upstream = page.connectToServer();
      page.onMessage((frame) => {
        if (frame === "5") upgraded = true;
        const send =
          typeof frame === "string" ? /^42(\d+)(\[.*)$/s.exec(frame) : null;
        const [event, payload] = send
          ? (JSON.parse(send[2]!) as [string, { clientMessageId?: string }])
          : [];
        if (send && event === "message:send") {
          sentIds.push(payload!.clientMessageId!);
          rewrittenAckId ??= send[1]!;
        }
        upstream.send(frame);
      });
      upstream.onMessage((frame) => {
        if (
          typeof frame === "string" &&
          frame.startsWith(`43${rewrittenAckId}[`) &&
          frame.includes('"ok":true')
        ) {
          page.send(
            `43${rewrittenAckId}[{"ok":false,"error":{"code":"unavailable","message":"Store unavailable"}}]`,
          );
          rewrittenAckId = "done";
          return;
        }
        page.send(frame);
      });
    });

    try {
      const page = await signIn(server, context, problems, "anna", "Anna");
      await startChat(page, "ben");
      await expect.poll(() => upgraded, { timeout: WAIT_MS }).toBe(true);

      await sendMessage(page, "Retry me");
      await expect
        .poll(() => rewrittenAckId, { timeout: WAIT_MS })
        .toBe("done");
      await waitForMessages(page, ["Retry me"]);
      await page
        .locator('[data-testid="message"][data-pending="true"]')
        .waitFor({ state: "detached", timeout: WAIT_MS });

      const conversationId = await page
        .getByTestId("conversation-item")
        .first()
        .getAttribute("data-conversation-id");
      const stored = await server.app.chat.history("anna", {
        conversationId: conversationId!,
      });
      expect(stored.messages.map((message) => message.text)).toEqual([
        "Retry me",
      ]);
      // Sent twice, both times with the same clientMessageId.
      expect(sentIds).toHaveLength(2);
      expect(sentIds[1]).toBe(sentIds[0]);
      expectNoProblems(problems);
    } finally {
      await context.close();
    }
  }, 60_000);

  it("pushes to a page that simulates the background", async () => {
    const server = await startServer(PUSH_ENV);
    const problems = newProblems();
    const anna = await openUser(server, problems, "anna", "Anna");
    const ben = await openUser(server, problems, "ben", "Ben");

    try {
      await startChat(anna.page, "ben");
      await openChat(ben.page, "Anna");
      expect(await ben.page.getByTestId("app-state").textContent()).toBe(
        "foreground",
      );

      await ben.page.getByTestId("attention-mode").selectOption("background");
      await expect
        .poll(() => ben.page.getByTestId("app-state").textContent(), {
          timeout: WAIT_MS,
        })
        .toBe("background");
      await expect
        .poll(
          async () =>
            (await server.app.attention.listDevices("ben"))[0]?.appState,
          { timeout: WAIT_MS },
        )
        .toBe("background");

      await sendMessage(anna.page, "Hey, you around?");
      await waitForMessages(ben.page, ["Hey, you around?"]);
      const content = ben.page
        .getByTestId("push-list")
        .getByTestId("push-content");
      await expect
        .poll(() => content.allTextContents(), { timeout: WAIT_MS })
        .toEqual(["New message from Anna: 'Hey, you around?'"]);
      expect(
        await anna.page.getByTestId("message-status").last().textContent(),
      ).toBe("Sent");

      // Back in the foreground, Ben reads what arrived meanwhile.
      await ben.page.getByTestId("attention-mode").selectOption("real");
      await expect
        .poll(
          () => anna.page.getByTestId("message-status").last().textContent(),
          { timeout: WAIT_MS },
        )
        .toBe("Read by ben");

      // In real mode a hidden page reports background.
      await ben.page.evaluate(() => {
        Object.defineProperty(document, "visibilityState", {
          configurable: true,
          get: () => "hidden",
        });
        document.dispatchEvent(new Event("visibilitychange"));
      });
      await expect
        .poll(() => ben.page.getByTestId("app-state").textContent(), {
          timeout: WAIT_MS,
        })
        .toBe("background");
      await expect
        .poll(
          async () =>
            (await server.app.attention.listDevices("ben"))[0]?.appState,
          { timeout: WAIT_MS },
        )
        .toBe("background");

      expectNoProblems(problems);
    } finally {
      await anna.context.close();
      await ben.context.close();
    }
  }, 60_000);

  it("collapses the conversation list at phone width", async () => {
    const server = await startServer(PUSH_ENV);
    const problems = newProblems();
    const cara = await openUser(server, problems, "cara", "Cara", {
      width: 390,
      height: 844,
    });

    try {
      const { page } = cara;
      await expect
        .poll(() => page.getByTestId("sidebar").isVisible(), {
          timeout: WAIT_MS,
        })
        .toBe(true);
      expect(await page.getByTestId("chat").isVisible()).toBe(false);

      await startChat(page, "dan");
      await expect
        .poll(() => page.getByTestId("sidebar").isVisible(), {
          timeout: WAIT_MS,
        })
        .toBe(false);
      expect(await page.getByTestId("composer-input").isVisible()).toBe(true);
      const width = await page.evaluate(
        () => document.documentElement.scrollWidth,
      );
      expect(width).toBeLessThanOrEqual(390);

      await page.getByTestId("back-to-list").click();
      await expect
        .poll(() => page.getByTestId("sidebar").isVisible(), {
          timeout: WAIT_MS,
        })
        .toBe(true);
      expect(await page.getByTestId("chat").isVisible()).toBe(false);

      expectNoProblems(problems);
    } finally {
      await cara.context.close();
    }
  }, 60_000);
});

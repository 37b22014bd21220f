import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../server/src/config.js";

describe("config", () => {
  it("has working defaults for the quick start", () => {
    const config = loadConfig({});
    expect(config.port).toBe(3000);
    expect(config.auth.devAuth).toBe(true);
    expect(config.auth.usesDevSecrets).toBe(true);
  });

  it("names the invalid variable", () => {
    expect(() => loadConfig({ PORT: "seventy" })).toThrow(/PORT/);
    expect(() => loadConfig({ HISTORY_LIMIT: "0" })).toThrow(/HISTORY_LIMIT/);
    expect(() => loadConfig({ DEV_AUTH: "maybe" })).toThrow(/DEV_AUTH/);
    expect(() => loadConfig({ AUTH_JWT_SECRET: "short" })).toThrow(
      /AUTH_JWT_SECRET/,
    );
  });

  it("refuses production without secrets or with dev auth", () => {
    expect(() => loadConfig({ NODE_ENV: "production" })).toThrow(ConfigError);
    expect(() => loadConfig({ NODE_ENV: "production" })).toThrow(
      /AUTH_JWT_SECRET, SERVER_API_KEY/,
    );
    const secrets = {
      AUTH_JWT_SECRET: "p".repeat(32),
      SERVER_API_KEY: "k".repeat(16),
    };
    expect(() =>
      loadConfig({ NODE_ENV: "production", DEV_AUTH: "true", ...secrets }),
    ).toThrow(/DEV_AUTH/);
    expect(
      loadConfig({ NODE_ENV: "production", ...secrets }).auth.devAuth,
    ).toBe(false);
  });

  it("treats empty variables as unset", () => {
    expect(loadConfig({ PORT: "", AUTH_JWT_SECRET: "" }).port).toBe(3000);
  });
});

describe("activity templates config", () => {
  it("names ACTIVITY_TEMPLATES_FILE when it cannot be used", async () => {
    const { mkdtempSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const dir = mkdtempSync(join(tmpdir(), "templates-"));
    const broken = join(dir, "broken.json");
    writeFileSync(broken, "{not json");
    const wrongShape = join(dir, "wrong.json");
    writeFileSync(
      wrongShape,
      JSON.stringify({ en: { actions: { like: { single: 3 } } } }),
    );

    expect(() =>
      loadConfig({ ACTIVITY_TEMPLATES_FILE: join(dir, "missing.json") }),
    ).toThrow(/ACTIVITY_TEMPLATES_FILE/);
    expect(() => loadConfig({ ACTIVITY_TEMPLATES_FILE: broken })).toThrow(
      /ACTIVITY_TEMPLATES_FILE: cannot read/,
    );
    expect(() => loadConfig({ ACTIVITY_TEMPLATES_FILE: wrongShape })).toThrow(
      /en\.actions\.like\.single/,
    );
  });
});

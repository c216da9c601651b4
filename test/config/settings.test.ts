import assert from "node:assert/strict";
import { test } from "node:test";
import { resolveSettings, settingFromEnv, upstreamVariables } from "../../src/config/resolve.js";
import { ConfigError, type Setting } from "../../src/config/setting.js";
import { SETTINGS, type SettingName } from "../../src/config/settings.js";
import { resolveRoutingConfig } from "../../src/router/config.js";

const ALL = Object.keys(SETTINGS) as SettingName[];

test("flag > variable > default, each setting on its own", () => {
  const env = { EDGELLM_PARALLEL: "2", EDGELLM_CTX_SIZE: "2048", EDGELLM_HOST: "0.0.0.0" };
  const { values, given } = resolveSettings(["parallel", "ctxSize", "host", "port"], { parallel: "8" }, env);
  assert.deepEqual(values, { parallel: 8, ctxSize: 2048, host: "0.0.0.0", port: 8080 });
  assert.deepEqual(given, { parallel: 8, ctxSize: 2048, host: "0.0.0.0" }, "a default is not 'given'");
});

test("an empty variable counts as unset", () => {
  const { values, given } = resolveSettings(
    ["parallel", "apiKey"],
    {},
    { EDGELLM_PARALLEL: "", EDGELLM_API_KEY: "" },
  );
  assert.deepEqual(values, { parallel: 4, apiKey: [] });
  assert.deepEqual(given, {});
});

test("bad values are refused with one line naming the flag or the variable", () => {
  const refused = (flags: object, env: NodeJS.ProcessEnv, message: string) =>
    assert.throws(
      () => resolveSettings(ALL, flags, env),
      (error: unknown) =>
        error instanceof ConfigError && error.message === message && !message.includes("\n"),
    );
  refused({ parallel: "0" }, {}, '--parallel must be a whole number from 1 to 64, got "0"');
  refused({}, { EDGELLM_PARALLEL: "abc" }, 'EDGELLM_PARALLEL must be a whole number from 1 to 64, got "abc"');
  refused({}, { EDGELLM_PORT: "80.5" }, 'EDGELLM_PORT must be a whole number from 0 to 65535, got "80.5"');
  refused({ ctxSize: "4k" }, {}, '--ctx-size must be a whole number from 64 up, got "4k"');
  refused(
    {},
    { EDGELLM_MMAP: "maybe" },
    'EDGELLM_MMAP must be true or false (1/0, yes/no, on/off), got "maybe"',
  );
  refused({ source: "github" }, {}, '--source must be one of huggingface, modelscope, got "github"');
  refused(
    {},
    { EDGELLM_LOG_LEVEL: "loud" },
    'EDGELLM_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"',
  );
  refused({}, { HF_ENDPOINT: "ftp://mirror" }, 'HF_ENDPOINT must be an http(s) URL, got "ftp://mirror"');
  refused(
    {},
    { EDGELLM_ROUTE_THRESHOLD: "2" },
    'EDGELLM_ROUTE_THRESHOLD must be a number from 0 to 1, got "2"',
  );
  for (const value of ["abc", "0", "-1", "1e9"])
    refused(
      { upstreamFirstByteTimeout: value },
      {},
      `--upstream-first-byte-timeout must be a number of seconds above 0 (up to 86400), got "${value}"`,
    );
  refused(
    {},
    { EDGELLM_UPSTREAM_IDLE_TIMEOUT: "soon" },
    'EDGELLM_UPSTREAM_IDLE_TIMEOUT must be a number of seconds above 0 (up to 86400), got "soon"',
  );
  // A flag that is given wins, so a bad variable behind it is never read.
  assert.equal(
    resolveSettings(["parallel"], { parallel: "3" }, { EDGELLM_PARALLEL: "abc" }).values.parallel,
    3,
  );
});

test("a secret's value is never quoted in an error", () => {
  assert.throws(
    () => resolveSettings(["hfToken"], {}, { HF_TOKEN: "   " }),
    (error: unknown) =>
      error instanceof ConfigError && error.message === "HF_TOKEN must be a value that is not empty",
  );
});

test("lists: a repeated flag appends, a variable splits at commas; a flag replaces the variable", () => {
  const env = { EDGELLM_API_KEY: "key-one-1, key-two-2,,", EDGELLM_CORS_ORIGINS: "https://a.example" };
  const { values } = resolveSettings(
    ["apiKey", "corsOrigins", "upstream"],
    {
      corsOrigins: ["https://b.example,https://c.example", "https://d.example"],
      upstream: ["a=http://x/v1,http://y/v1", "b=http://z/v1"],
    },
    env,
  );
  assert.deepEqual(values.apiKey, ["key-one-1", "key-two-2"]);
  assert.deepEqual(values.corsOrigins, ["https://b.example", "https://c.example", "https://d.example"]);
  assert.deepEqual(
    values.upstream,
    ["a=http://x/v1,http://y/v1", "b=http://z/v1"],
    "upstream URLs keep their commas",
  );
});

test("switches: a flag gives its value, a variable is parsed, EDGELLM_NO_CLOUD says the opposite of cloud", () => {
  assert.equal(resolveSettings(["mmap"], { mmap: true }, {}).values.mmap, true);
  assert.equal(resolveSettings(["mmap"], {}, { EDGELLM_MMAP: "ON" }).values.mmap, true);
  assert.equal(resolveSettings(["responseCache"], { responseCache: false }, {}).values.responseCache, false);
  assert.equal(
    resolveSettings(["responseCache"], {}, { EDGELLM_RESPONSE_CACHE: "0" }).values.responseCache,
    false,
  );
  assert.deepEqual(resolveSettings(["cloud"], {}, { EDGELLM_NO_CLOUD: "1" }).given, { cloud: false });
  assert.deepEqual(resolveSettings(["cloud"], {}, { EDGELLM_NO_CLOUD: "0" }).given, { cloud: true });
  assert.deepEqual(resolveSettings(["cloud"], {}, {}).values, { cloud: true });
  assert.deepEqual(resolveSettings(["auth"], {}, {}).values, { auth: true }, "--no-auth has no variable");
});

test("settingFromEnv: one setting from its variable, else its default", () => {
  assert.equal(settingFromEnv("hubConnectTimeout", {}), 10_000);
  assert.equal(settingFromEnv("hubConnectTimeout", { EDGELLM_CONNECT_TIMEOUT_MS: "250" }), 250);
  assert.equal(settingFromEnv("home", {}), undefined);
  assert.equal(settingFromEnv("offline", { EDGELLM_OFFLINE: "true" }), true);
  assert.throws(() => settingFromEnv("source", { EDGELLM_MODEL_SOURCE: "github" }), ConfigError);
});

test("upstreamVariables keeps only the per-upstream variables router/config.ts reads", () => {
  assert.deepEqual(
    upstreamVariables({ EDGELLM_UPSTREAM_A_MODEL: "m", EDGELLM_PARALLEL: "2", PATH: "/bin" }),
    {
      EDGELLM_UPSTREAM_A_MODEL: "m",
    },
  );
});

test("the routing file sits between what a flag or variable gave and the default", () => {
  const file = { cloud: false, redact: true, auto: { threshold: 0.3 }, cascade: { enabled: true } };
  const fromFile = resolveRoutingConfig(file, {});
  assert.deepEqual(
    [fromFile.cloud, fromFile.redact, fromFile.auto.threshold, fromFile.cascade.enabled],
    [false, true, 0.3, true],
  );
  const { given } = resolveSettings(
    ["cloud", "redact", "routeThreshold", "cascade"],
    {},
    {
      EDGELLM_NO_CLOUD: "0",
      EDGELLM_REDACT: "0",
      EDGELLM_ROUTE_THRESHOLD: "0.7",
    },
  );
  const overridden = resolveRoutingConfig(file, { settings: given });
  assert.deepEqual(
    [overridden.cloud, overridden.redact, overridden.auto.threshold, overridden.cascade.enabled],
    [true, false, 0.7, true],
    "a variable wins over the file; what no variable gave stays the file's",
  );
  const none = resolveRoutingConfig({}, {});
  assert.deepEqual(
    [none.cloud, none.redact, none.auto.threshold, none.defaultModel],
    [true, false, 0.5, "local"],
  );
});

test("every setting is complete: a flag or a variable, help, and a default its own parser accepts", () => {
  for (const [name, spec] of Object.entries(SETTINGS) as [string, Setting<unknown>][]) {
    assert.ok(spec.flag || spec.env || spec.envDoc, `${name} has neither a flag nor a variable`);
    assert.ok(spec.help.length > 0, `${name} has help`);
    if (spec.flag && !spec.env && !spec.envDoc) assert.equal(name, "auth", `${name} needs a variable`);
    const value = spec.default;
    if (value === undefined || typeof value === "boolean") continue;
    const text = Array.isArray(value) ? value.join(",") : String(value);
    if (text !== "") assert.deepEqual(spec.parse(text), value, `${name}'s default parses to itself`);
  }
});

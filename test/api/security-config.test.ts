import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { accessUrls, loadOrCreateAccessKey } from "../../src/api/security/access-key.js";
import { isLoopbackBind, resolveSecurity } from "../../src/api/security/config.js";
import { isHostAllowed } from "../../src/api/security/origins.js";
import { ConfigError } from "../../src/router/config.js";

// From flags to security options: when a key is generated and kept, what conflicts, what a bad file says.

const dirs: string[] = [];
async function tempHome(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "edgellm-security-home-"));
  dirs.push(dir);
  return dir;
}
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

test("loopback binds: open, loopback Hosts only, nothing generated", async () => {
  for (const host of ["127.0.0.1", "localhost", "::1", "127.0.0.5"]) {
    assert.ok(isLoopbackBind(host), host);
    const home = await tempHome();
    const { options, access } = await resolveSecurity({ host, home });
    assert.deepEqual(options.keys, []);
    assert.equal(access.generated, undefined);
    assert.equal(access.openToNetwork, false);
    assert.ok(options.hosts && !isHostAllowed(options.hosts, "attacker.example"));
    assert.equal(options.publicMetrics, false);
    await assert.rejects(stat(path.join(home, "api-key")));
  }
  const home = await tempHome();
  assert.equal(
    (await resolveSecurity({ host: "::1", home, publicMetrics: true })).options.publicMetrics,
    true,
  );
});

test("an exposed bind with no key gets a generated one, kept 0600 in the home folder and reused", async () => {
  for (const host of ["0.0.0.0", "::", "192.168.1.5", "my-box.lan"]) assert.ok(!isLoopbackBind(host), host);
  const home = path.join(await tempHome(), "nested");
  const first = await resolveSecurity({ host: "0.0.0.0", home });
  const generated = first.access.generated;
  assert.ok(generated?.created);
  assert.match(generated.key, /^sk-edgellm-[A-Za-z0-9_-]{43}$/);
  assert.equal(generated.file, path.join(home, "api-key"));
  assert.equal((await stat(generated.file)).mode & 0o777, 0o600);
  assert.equal((await stat(home)).mode & 0o777, 0o700);
  assert.equal((await readFile(generated.file, "utf8")).trim(), generated.key);
  assert.deepEqual(first.access.keyLabels, ["generated"]);
  assert.equal(first.options.keys?.length, 1);
  // With a key, the Host is not checked unless names are listed.
  assert.equal(first.options.hosts, null);

  const second = await resolveSecurity({ host: "0.0.0.0", home });
  assert.equal(second.access.generated?.key, generated.key);
  assert.equal(second.access.generated?.created, false);
  assert.equal(second.access.generated?.warning, undefined);
  // Two starts never race to two keys, and a key another user could read is pointed out.
  await chmod(generated.file, 0o644);
  assert.match((await loadOrCreateAccessKey(home)).warning ?? "", /can be read by other users \(mode 644\)/);
  await writeFile(generated.file, "short\n");
  await assert.rejects(loadOrCreateAccessKey(home), /does not hold a usable key/);
});

test("configured keys win over generating one; --no-auth opens an exposed bind with Host checks", async () => {
  const home = await tempHome();
  const keyed = await resolveSecurity({ host: "0.0.0.0", home, apiKeys: ["sk-test-flag-0123456789"] });
  assert.equal(keyed.access.generated, undefined);
  assert.equal(keyed.access.keyLabels.length, 1);
  await assert.rejects(stat(path.join(home, "api-key")));

  const open = await resolveSecurity({ host: "0.0.0.0", home, noAuth: true });
  assert.deepEqual(open.options.keys, []);
  assert.equal(open.access.openToNetwork, true);
  await assert.rejects(stat(path.join(home, "api-key")));
  // Open to the network, a rebound name would let any web site in through a visitor's browser.
  const hosts = open.options.hosts;
  assert.ok(hosts);
  assert.ok(isHostAllowed(hosts, "192.168.1.5:8080"));
  assert.ok(isHostAllowed(hosts, "localhost:8080"));
  assert.ok(!isHostAllowed(hosts, "attacker.example:8080"));
  const listed = await resolveSecurity({ host: "0.0.0.0", home, noAuth: true, allowedHosts: ["llm.lan"] });
  assert.ok(listed.options.hosts && isHostAllowed(listed.options.hosts, "llm.lan:8080"));
  const keyedListed = await resolveSecurity({
    host: "0.0.0.0",
    home,
    apiKeys: ["sk-test-flag-0123456789"],
    allowedHosts: ["llm.lan"],
  });
  assert.ok(keyedListed.options.hosts && !isHostAllowed(keyedListed.options.hosts, "other.lan"));
});

test("keys from the file and the flags are merged, labelled and deduplicated", async () => {
  const home = await tempHome();
  const file = path.join(home, "keys.txt");
  await writeFile(file, "alice: sk-test-alice-0123456789 rpm=5\nsk-test-bare-0123456789\n");
  const { options, access } = await resolveSecurity({
    host: "127.0.0.1",
    apiKeyFile: file,
    apiKeys: ["sk-test-alice-0123456789", " sk-test-flag-0123456789 ", ""],
    keyRpm: 10,
    keyTpd: 1000,
  });
  assert.equal(access.keyLabels.length, 3);
  assert.equal(access.keyLabels[0], "alice");
  assert.match(access.keyLabels[1], /^key-[0-9a-f]{4}$/);
  assert.deepEqual(options.limits, { rpm: 10, tpd: 1000 });
  assert.equal(options.keys?.[0].rpm, 5);
});

test("mistakes stop the server with a ConfigError that never quotes a key", async () => {
  const home = await tempHome();
  const empty = path.join(home, "empty.txt");
  await writeFile(empty, "# nothing yet\n");
  const twice = path.join(home, "twice.txt");
  await writeFile(twice, "a: sk-test-one-0123456789\na: sk-test-two-0123456789\n");
  const cases: [Parameters<typeof resolveSecurity>[0], RegExp][] = [
    [
      { host: "0.0.0.0", home, noAuth: true, apiKeys: ["sk-test-flag-0123456789"] },
      /--no-auth .* API keys are configured/,
    ],
    [{ host: "127.0.0.1", keyRpm: 5 }, /--key-rpm and --key-tpd limit API keys, but none/],
    [{ host: "127.0.0.1", apiKeys: ["short"] }, /--api-key: a key must have at least 8/],
    [{ host: "127.0.0.1", apiKeyFile: path.join(home, "missing.txt") }, /--api-key-file: cannot read/],
    [{ host: "127.0.0.1", apiKeyFile: empty }, /holds no key/],
    [{ host: "127.0.0.1", apiKeyFile: twice }, /the label 'a' is used twice/],
    [{ host: "127.0.0.1", corsOrigins: ["evil.example"] }, /--cors-origins: 'evil.example' is not an origin/],
    [{ host: "127.0.0.1", allowedHosts: ["llm.lan:8080"] }, /--allowed-hosts: 'llm.lan:8080'/],
  ];
  for (const [sources, why] of cases) {
    await assert.rejects(resolveSecurity(sources), (error: Error) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.match(error.message, why);
      assert.ok(!/sk-test|short/.test(error.message), error.message);
      return true;
    });
  }
  // An exposed server that cannot keep its key does not start open instead.
  await assert.rejects(resolveSecurity({ host: "0.0.0.0", home: empty }), (error: Error) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /bound to 0\.0\.0\.0 with no API key, and cannot keep a generated one/);
    return true;
  });
  // A generated key is a key: limits apply to it.
  const limited = await resolveSecurity({ host: "0.0.0.0", home, keyRpm: 5 });
  assert.deepEqual(limited.access.keyLabels, ["generated"]);
});

test("access URLs carry the key in the fragment; a wildcard bind is named by the machine, then 127.0.0.1", () => {
  const key = "sk-edgellm-abc_DEF-123";
  assert.deepEqual(accessUrls("http://0.0.0.0:8080", key, "my-box"), [
    `http://my-box:8080/#key=${key}`,
    `http://127.0.0.1:8080/#key=${key}`,
  ]);
  assert.deepEqual(accessUrls("http://[::]:9000", key, "my-box"), [
    `http://my-box:9000/#key=${key}`,
    `http://127.0.0.1:9000/#key=${key}`,
  ]);
  assert.deepEqual(accessUrls("http://192.168.1.5:8080", key, "my-box"), [
    `http://192.168.1.5:8080/#key=${key}`,
  ]);
  assert.deepEqual(accessUrls("http://[fd00::5]:8080", "a#b c", "my-box"), [
    "http://[fd00::5]:8080/#key=a%23b%20c",
  ]);
});

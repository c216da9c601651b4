/**
 * A child process for the kill -9 test: writes cache entries and spend through the store module in a loop,
 * printing each index once its transaction has committed, until it is killed.
 */
import { StateDb } from "../../src/store/state-db.js";

const db = new StateDb(process.argv[2]);
const store = db.entryStore<{ text: string }>("crash", { maxBytes: 1e9 });
for (let i = 0; ; i++) {
  store.put(
    { key: `k${i}`, value: { text: "x".repeat(2000) }, bytes: 2000, created: Date.now() },
    Date.now(),
  );
  db.setSpent("day", i);
  process.stdout.write(`${i}\n`);
}

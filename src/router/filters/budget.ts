import type { RouteFilter } from "./types.js";

/** Once the day's cloud spend reaches the budget, nothing more goes to the cloud until midnight. */
export const withinBudget: RouteFilter = (_candidate, { budget }) => {
  if (!budget.exhausted) return undefined;
  const spent = budget.spentToday.toFixed(4);
  return {
    kind: "budget",
    why: `the daily cloud budget is spent (${spent} of ${budget.daily}${budget.currency ?? ""})`,
  };
};

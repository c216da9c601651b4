import type { RouteFilter } from "./types.js";

/** The server and the request must both allow the cloud; a request can only restrict. */
export const cloudAllowed: RouteFilter = ({ hints }, snapshot) => {
  if (!snapshot.cloud) return { kind: "no-cloud", why: "the cloud is disabled on this server" };
  if (hints?.allowCloud === false) return { kind: "no-cloud", why: "the request does not allow the cloud" };
  return undefined;
};

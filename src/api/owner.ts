import type { FastifyRequest } from "fastify";
import type { Owner } from "../store/kb-store.js";

/**
 * Who owns what a request makes: the label of its API key, or null on a server without keys (loopback:
 * one owner). Only the same key finds it again; another key's ids are answered as unknown ones.
 */
export function ownerOf(request: FastifyRequest): Owner {
  return request.apiKey?.label ?? null;
}

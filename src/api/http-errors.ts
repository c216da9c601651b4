import http from "node:http";
import type { Socket } from "node:net";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import {
  BadHttpRequestError,
  HeadersTooLargeError,
  MethodNotAllowedError,
  NotFoundError,
  RequestTimeoutError,
} from "../provider/errors.js";
import { endpointOf, toErrorResponse, toWireErrorResponse } from "./errors.js";

/**
 * Errors raised before a request reaches a route: a request that never arrived whole, headers over
 * Node's limit, bytes that are not HTTP, a URL the router cannot decode, a path without a route. Each
 * gets the same OpenAI-shaped body as every other error.
 */

export interface EdgeLimits {
  bodyLimit: number;
  /** 0 when requests may take forever. */
  bodyTimeoutMs: number;
}

/** Methods a route may be registered for; OPTIONS is answered for every path by the CORS plugin. */
const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"] as const;

/** The not-found handler: 405 with `Allow` when the path has routes for other methods, else 404. */
export function notFoundHandler(app: FastifyInstance, limits: EdgeLimits) {
  return (request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split("?")[0];
    const allowed = METHODS.filter((method) => app.findRoute({ method, url: path }) !== null);
    const error =
      allowed.length > 0
        ? new MethodNotAllowedError(request.method, path, [...allowed, "OPTIONS"])
        : new NotFoundError(request.method, request.url);
    return send(reply, toWireErrorResponse(error, limits, endpointOf(path)));
  };
}

/** Fastify's `frameworkErrors`: a URL it cannot decode, or a path parameter over its length limit. */
export function frameworkErrors(limits: EdgeLimits) {
  return (error: Error, request: FastifyRequest, reply: FastifyReply) =>
    send(reply, toWireErrorResponse(error, limits, endpointOf(request.url.split("?")[0])));
}

function send(
  reply: FastifyReply,
  response: { status: number; headers: Record<string, string>; body: unknown },
) {
  return reply.code(response.status).headers(response.headers).send(response.body);
}

/**
 * The http server's `clientError` handler. Node calls it when a request times out, its headers overflow
 * or it cannot be parsed; no route runs, so the response is written on the socket directly, then the
 * connection is closed (its stream position is unknown).
 */
export function clientErrorHandler(limits: EdgeLimits) {
  return (error: NodeJS.ErrnoException, socket: Socket): void => {
    if (error.code === "ECONNRESET" || socket.destroyed) return;
    const edge =
      error.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? new RequestTimeoutError(limits.bodyTimeoutMs)
        : error.code === "HPE_HEADER_OVERFLOW"
          ? new HeadersTooLargeError(http.maxHeaderSize)
          : new BadHttpRequestError("The request is not valid HTTP/1.1.", "invalid_http_request");
    // A response already under way on this connection (a pipelined request's) must not be corrupted.
    const inFlight = (socket as Socket & { _httpMessage?: http.ServerResponse })._httpMessage;
    if (!socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    const { status, headers, body } = toErrorResponse(edge, limits);
    const json = JSON.stringify(body);
    const head = [
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}`,
      "Content-Type: application/json; charset=utf-8",
      `Content-Length: ${Buffer.byteLength(json)}`,
      "Connection: close",
      "X-Content-Type-Options: nosniff",
      ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    ];
    socket.end(`${head.join("\r\n")}\r\n\r\n${json}`);
    // A client that sends on and never reads would keep the socket open: close it once written.
    socket.once("finish", () => socket.destroy());
    setTimeout(() => socket.destroy(), 1000).unref();
  };
}

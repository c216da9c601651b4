import type { OutgoingHttpHeaders, ServerResponse } from "node:http";

/** Server-sent events framing, as OpenAI streams it: `data: <json>\n\n`, ended by `data: [DONE]`. */
export class SseWriter {
  constructor(private readonly res: ServerResponse) {}

  open(headers: OutgoingHttpHeaders = {}): void {
    this.res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      connection: "keep-alive",
      "x-accel-buffering": "no",
      ...headers,
    });
    this.res.flushHeaders();
  }

  send(data: unknown): void {
    if (!this.res.writableEnded) this.res.write(`data: ${JSON.stringify(data)}\n\n`);
  }

  /** A named event, as the Responses API streams them: `event: <name>\ndata: <json>\n\n`. */
  event(name: string, data: unknown): void {
    if (!this.res.writableEnded) this.res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** Ends the stream without `[DONE]`, which the Responses API does not send. */
  end(): void {
    if (!this.res.writableEnded) this.res.end();
  }

  done(): void {
    if (this.res.writableEnded) return;
    this.res.write("data: [DONE]\n\n");
    this.res.end();
  }

  /** After the stream has begun an error cannot change the status, so it is the final event. */
  fail(error: unknown): void {
    this.send(error);
    if (!this.res.writableEnded) this.res.end();
  }
}

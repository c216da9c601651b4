import assert from "node:assert/strict";
import OpenAI from "openai";

/**
 * What a request the official SDK sends is refused with: its status, and the error's `param` and `code`.
 * Fails the test when the request is accepted, or when the error is not an `invalid_request_error`.
 */
export async function refusal(
  request: Promise<unknown>,
): Promise<{ status: number; param: unknown; code: unknown }> {
  try {
    await request;
  } catch (error) {
    assert.ok(error instanceof OpenAI.APIError, String(error));
    const body = error.error as { param?: unknown; code?: unknown; type?: unknown };
    assert.equal(body.type, "invalid_request_error");
    return { status: error.status ?? 0, param: body.param, code: body.code };
  }
  assert.fail("the request was accepted");
}

import type { FunctionTool, NamespaceTool, Response, Tool } from "openai/resources/responses/responses";
import { clip, InvalidRequestError } from "../provider/errors.js";
import type { ToolChoice, ToolDefinition } from "../provider/types.js";
import type { ResponsesRequestBody } from "./responses-schema.js";

/**
 * Server side, inward, for `/v1/responses`: `tools` and `tool_choice` to the chat ones.
 *
 * A tool in `tools` is an offer, not a demand. Function tools are offered to the model as they are; a
 * `namespace` tool's functions are offered flat, each named `<namespace>__<name>` (as Codex itself flattens
 * them where a namespace cannot be kept), and their calls go back out under their namespace. A built-in tool
 * this server does not have (web_search, code_interpreter, custom, ...) is left out and named in
 * `ignored`; only a `tool_choice` that forces one is refused, naming it. (file_search is the knowledge
 * base's: the route takes it out before this runs.)
 */
export interface ResponsesTools {
  /** What the model is offered; undefined when nothing is. */
  tools?: ToolDefinition[];
  toolChoice?: ToolChoice;
  /** The tools as the Response repeats them: the ones kept, namespaces as namespaces. */
  echo: Tool[];
  /** The tool choice as the Response repeats it. */
  echoChoice: Response["tool_choice"];
  /** Built-in tool types offered and left out, in the order given, each once. */
  ignored: string[];
  /** A flat name the model calls, for each function of a namespace: its namespace and own name. */
  namespaced: Map<string, { namespace: string; name: string }>;
}

/** The name the model sees for function `name` of namespace `namespace` (Codex's `canonical_flat_name`). */
export function flatToolName(namespace: string, name: string): string {
  return `${namespace.replace(/_+$/, "")}__${name.replace(/^_+/, "")}`;
}

type FunctionBody = {
  type: "function";
  name: string;
  description?: string | null;
  parameters?: unknown;
  strict?: boolean | null;
};

function isFunction(tool: { type: string }): tool is FunctionBody {
  return tool.type === "function" && typeof (tool as { name?: unknown }).name === "string";
}

export function fromResponsesTools(req: ResponsesRequestBody): ResponsesTools {
  const offered: ToolDefinition[] = [];
  const echo: Tool[] = [];
  const ignored: string[] = [];
  const namespaced = new Map<string, { namespace: string; name: string }>();
  /** Namespace name -> the flat names of its functions, for allowed_tools. */
  const groups = new Map<string, string[]>();
  const offer = (fn: FunctionBody, name: string, param: string, fallbackDescription?: string) => {
    if (offered.some((t) => t.name === name))
      throw new InvalidRequestError(`Duplicate tool name '${clip(name)}'.`, param);
    const description = typeof fn.description === "string" ? fn.description : fallbackDescription;
    offered.push({
      name,
      ...(description !== undefined && { description }),
      ...(fn.parameters != null && { parameters: fn.parameters as ToolDefinition["parameters"] }),
    });
  };
  const ignore = (type: string) => {
    if (!ignored.includes(type)) ignored.push(type);
  };

  (req.tools ?? []).forEach((tool, i) => {
    if (isFunction(tool)) {
      offer(tool, tool.name, `tools[${i}].name`);
      echo.push(toEchoFunction(tool));
    } else if (tool.type === "namespace" && "tools" in tool && Array.isArray(tool.tools)) {
      const ns = tool as Extract<typeof tool, { type: "namespace" }>;
      const functions: NamespaceTool.Function[] = [];
      const flat: string[] = [];
      ns.tools.forEach((inner, j) => {
        if (!isFunction(inner)) {
          ignore(inner.type);
          return;
        }
        const name = flatToolName(ns.name, inner.name);
        offer(inner, name, `tools[${i}].tools[${j}].name`, ns.description);
        namespaced.set(name, { namespace: ns.name, name: inner.name });
        flat.push(name);
        const { type, name: own, description, parameters, strict } = toEchoFunction(inner);
        functions.push({ type, name: own, description, parameters, strict });
      });
      groups.set(ns.name, flat);
      if (functions.length > 0)
        echo.push({ type: "namespace", name: ns.name, description: ns.description, tools: functions });
    } else ignore(tool.type);
  });

  const choice = req.tool_choice ?? undefined;
  let toolChoice: ToolChoice | undefined;
  let tools = offered;
  let echoChoice: Response["tool_choice"] | undefined;
  if (choice === undefined || typeof choice === "string") toolChoice = choice;
  else if (choice.type === "function" && typeof choice.name === "string") toolChoice = { name: choice.name };
  else if (choice.type === "allowed_tools") {
    const allowed = allowedNames(choice, groups);
    tools = offered.filter((t) => allowed.has(t.name));
    toolChoice = choice.mode === "required" ? "required" : "auto";
    echoChoice = choice as Response["tool_choice"];
    if (toolChoice === "required" && tools.length === 0 && allowed.builtIn.length > 0)
      refuseForced(allowed.builtIn, "tool_choice.tools");
  } else refuseForced([String(choice.type)], "tool_choice.type");

  if (tools.length === 0) {
    if (toolChoice === "required" && ignored.length > 0) refuseForced(ignored, "tool_choice");
    if (toolChoice === "required" || typeof toolChoice === "object")
      throw new InvalidRequestError(
        "tool_choice asks for a tool call, but no tools were given.",
        "tool_choice",
      );
    return {
      toolChoice: toolChoice === "none" ? undefined : toolChoice,
      echo,
      echoChoice: echoChoice ?? toWireChoice(toolChoice),
      ignored,
      namespaced,
    };
  }
  if (typeof toolChoice === "object" && !tools.some((t) => t.name === (toolChoice as { name: string }).name))
    throw new InvalidRequestError(
      `tool_choice names '${clip(toolChoice.name)}', which is not one of the tools.`,
      "tool_choice.name",
    );
  return { tools, toolChoice, echo, echoChoice: echoChoice ?? toWireChoice(toolChoice), ignored, namespaced };
}

/** The flat names `allowed_tools` lets the model call, and the built-in tools it names. */
function allowedNames(
  choice: { type: string; [key: string]: unknown },
  groups: ReadonlyMap<string, string[]>,
): Set<string> & { builtIn: string[] } {
  const allowed = Object.assign(new Set<string>(), { builtIn: [] as string[] });
  const list = Array.isArray(choice.tools) ? choice.tools : [];
  for (const entry of list as { type?: unknown; name?: unknown; namespace?: unknown }[]) {
    if (entry === null || typeof entry !== "object") continue;
    const name = typeof entry.name === "string" ? entry.name : undefined;
    if (entry.type === "function" && name)
      allowed.add(typeof entry.namespace === "string" ? flatToolName(entry.namespace, name) : name);
    else if (entry.type === "namespace" && name) for (const flat of groups.get(name) ?? []) allowed.add(flat);
    else allowed.builtIn.push(String(entry.type));
  }
  return allowed;
}

function refuseForced(types: readonly string[], param: string): never {
  const names = types.map((t) => `'${clip(t)}'`).join(", ");
  throw new InvalidRequestError(
    `tool_choice forces ${names}: edgellm has no built-in tools (web_search, code_interpreter, image_generation, computer use, mcp, shell, apply_patch, custom); only function tools (alone or in a namespace) and file_search (the knowledge base) can be used.`,
    param,
    "unsupported_tool",
  );
}

function toEchoFunction(tool: FunctionBody): FunctionTool {
  return {
    type: "function",
    name: tool.name,
    description: tool.description ?? null,
    parameters:
      typeof tool.parameters === "object" && tool.parameters !== null
        ? (tool.parameters as Record<string, unknown>)
        : null,
    strict: tool.strict ?? null,
  };
}

function toWireChoice(choice: ToolChoice | undefined): Response["tool_choice"] {
  if (choice === undefined) return "auto";
  return typeof choice === "string" ? choice : { type: "function", name: choice.name };
}

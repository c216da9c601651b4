/**
 * OpenAI's attribute filters (`filters` of a vector store search and of the `file_search` tool): a comparison
 * of one attribute with a value, or `and` / `or` of filters. Pure; the API edge validates the shape.
 */

export type Scalar = string | number | boolean;

export type Filter =
  | { type: "eq" | "ne" | "gt" | "gte" | "lt" | "lte"; key: string; value: Scalar }
  | { type: "in" | "nin"; key: string; value: Scalar[] }
  | { type: "and" | "or"; filters: Filter[] };

/** Whether a file with these attributes passes. A missing attribute fails every comparison but `ne` and `nin`. */
export function matches(filter: Filter, attributes: Record<string, Scalar>): boolean {
  switch (filter.type) {
    case "and":
      return filter.filters.every((f) => matches(f, attributes));
    case "or":
      return filter.filters.some((f) => matches(f, attributes));
    case "in":
    case "nin": {
      const value = attributes[filter.key];
      const found = value !== undefined && filter.value.some((v) => v === value);
      return filter.type === "in" ? found : !found;
    }
    default: {
      const value = attributes[filter.key];
      if (filter.type === "ne") return value !== filter.value;
      if (value === undefined) return false;
      if (filter.type === "eq") return value === filter.value;
      // Ordering compares like with like: numbers as numbers, strings as strings (ISO dates sort right).
      if (typeof value !== typeof filter.value || typeof value === "boolean") return false;
      const a = value as number | string;
      const b = filter.value as number | string;
      if (filter.type === "gt") return a > b;
      if (filter.type === "gte") return a >= b;
      if (filter.type === "lt") return a < b;
      return a <= b;
    }
  }
}

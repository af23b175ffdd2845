import { getOption, hasOption, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { http } from "../../gen/google/api/annotations_pb.js";
import type { HttpRule } from "../../gen/google/api/http_pb.js";

/** One REST binding of an RPC, read from its `google.api.http` annotation. */
export interface RestBinding {
  method: DescMethod;
  verb: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** The template as written, e.g. `/v1/owner/customers/{id}`. */
  template: string;
  /** The same path in Fastify's syntax, e.g. `/v1/owner/customers/:id`. */
  path: string;
  /** Field names (proto) bound by the path. */
  pathFields: string[];
  /** "" (no body), "*" (every field not in the path) or a field name. */
  body: string;
}

function bindingOf(method: DescMethod, rule: HttpRule): RestBinding | undefined {
  const p = rule.pattern;
  if (p.case === undefined || p.case === "custom") return undefined;
  const verb = p.case.toUpperCase() as RestBinding["verb"];
  const pathFields: string[] = [];
  const path = p.value.replace(/\{([a-z_][a-z0-9_]*)\}/g, (_m, field: string) => {
    pathFields.push(field);
    return `:${field}`;
  });
  return { method, verb, template: p.value, path, pathFields, body: rule.body };
}

/** Every REST binding of a service's methods, additional bindings included. */
export function restBindings(service: DescService): RestBinding[] {
  const out: RestBinding[] = [];
  for (const method of service.methods) {
    if (!hasOption(method, http)) continue;
    const rule = getOption(method, http);
    for (const r of [rule, ...rule.additionalBindings]) {
      const b = bindingOf(method, r);
      if (b) out.push(b);
    }
  }
  return out;
}

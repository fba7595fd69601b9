/**
 * The operator API's reference page, `GET /docs`: one HTML page rendered on the node from the
 * OpenAPI document it serves at `/openapi.json` (the same `OpenApi.fromApi(AdminApi)` value). It
 * needs no network access: no script, no stylesheet, font or image from anywhere (the CSS is
 * inline), so it reads the same on an air-gapped operator's machine.
 *
 * Per operation: method and path, summary, description, whether the admin token is needed, its
 * parameters, its request body and its answers, each schema shown as a tree of fields (type,
 * required, description, bounds). Rendering is pure (`renderReference`); `serve` does it once.
 */
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as OpenApi from "effect/http-api/OpenApi"
import { AdminApi } from "./Api.ts"

type Json = any

const escape = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" })[c]!)

/** A schema nested deeper than this is shown by name only (schemas may be recursive). */
const schemaDepthMax = 8

const refName = (ref: string): string => ref.split("/").at(-1) ?? ref

/** Infinity/NaN alternatives Effect adds to JSON numbers are noise for an operator: dropped. */
const isNonFiniteAlternative = (schema: Json): boolean =>
  schema?.type === "string" && Array.isArray(schema.enum) && schema.enum.every((v: unknown) => ["Infinity", "-Infinity", "NaN"].includes(String(v)))

const bounds = (schema: Json): string => {
  const parts: Array<string> = []
  if (schema.minLength !== undefined) parts.push(`length ≥ ${schema.minLength}`)
  if (schema.maxLength !== undefined) parts.push(`length ≤ ${schema.maxLength}`)
  if (schema.minimum !== undefined) parts.push(`≥ ${schema.minimum}`)
  if (schema.maximum !== undefined) parts.push(`≤ ${schema.maximum}`)
  if (schema.exclusiveMinimum !== undefined) parts.push(`> ${schema.exclusiveMinimum}`)
  if (schema.minItems !== undefined) parts.push(`items ≥ ${schema.minItems}`)
  if (schema.maxItems !== undefined) parts.push(`items ≤ ${schema.maxItems}`)
  if (schema.pattern !== undefined) parts.push(`pattern ${schema.pattern}`)
  return parts.length === 0 ? "" : ` <span class="bounds">(${escape(parts.join(", "))})</span>`
}

/** A one-line name for a schema's type. */
const typeName = (schema: Json, components: Json): string => {
  if (schema === undefined || schema === null) return "any"
  if (typeof schema.$ref === "string") return refName(schema.$ref)
  const alternatives = (schema.anyOf ?? schema.oneOf) as Array<Json> | undefined
  if (alternatives !== undefined) {
    const kept = alternatives.filter((alternative) => !isNonFiniteAlternative(alternative))
    return kept.map((alternative) => typeName(alternative, components)).join(" | ")
  }
  if (schema.enum !== undefined) return schema.enum.map((value: unknown) => JSON.stringify(value)).join(" | ")
  if (schema.const !== undefined) return JSON.stringify(schema.const)
  if (schema.type === "array") return `array of ${typeName(schema.items, components)}`
  if (Array.isArray(schema.type)) return schema.type.join(" | ")
  return schema.type ?? "any"
}

/** The object fields of a schema (following one $ref and anyOf members that are objects). */
const objectOf = (schema: Json, components: Json): Json | undefined => {
  if (schema === undefined || schema === null) return undefined
  if (typeof schema.$ref === "string") return objectOf(components?.schemas?.[refName(schema.$ref)], components)
  if (schema.type === "object" && schema.properties !== undefined) return schema
  if (schema.type === "array") return objectOf(schema.items, components)
  const alternatives = (schema.anyOf ?? schema.oneOf) as Array<Json> | undefined
  return alternatives?.map((alternative) => objectOf(alternative, components)).find((found) => found !== undefined)
}

const renderFields = (schema: Json, components: Json, depth: number): string => {
  const object = objectOf(schema, components)
  if (object === undefined || depth >= schemaDepthMax) return ""
  const required = new Set<string>(object.required ?? [])
  const rows = Object.entries(object.properties as Record<string, Json>).map(([name, field]) => {
    const description = field.description === undefined ? "" : ` — ${escape(String(field.description))}`
    return `<li><code>${escape(name)}</code> <span class="type">${escape(typeName(field, components))}</span>` +
      `${required.has(name) ? " <span class=\"req\">required</span>" : ""}${bounds(field)}${description}` +
      `${renderFields(field, components, depth + 1)}</li>`
  })
  return `<ul>${rows.join("")}</ul>`
}

const renderSchema = (schema: Json, components: Json): string => {
  const description = schema?.description === undefined ? "" : ` — ${escape(String(schema.description))}`
  return `<div class="schema"><span class="type">${escape(typeName(schema, components))}</span>${bounds(schema ?? {})}` +
    `${description}${renderFields(schema, components, 0)}</div>`
}

const methods = ["get", "post", "put", "patch", "delete"] as const

interface Operation {
  readonly method: string
  readonly path: string
  readonly op: Json
}

const operationsOf = (spec: Json): ReadonlyArray<Operation> =>
  Object.entries(spec.paths as Record<string, Json>).flatMap(([path, item]) =>
    methods.filter((method) => item[method] !== undefined).map((method) => ({ method, path, op: item[method] }))
  )

const anchor = (operation: Operation): string => `op-${operation.op.operationId ?? `${operation.method}-${operation.path}`}`.replace(/[^A-Za-z0-9_.-]/g, "-")

const renderOperation = (operation: Operation, components: Json): string => {
  const { op } = operation
  const guarded = Array.isArray(op.security) && op.security.length > 0
  const parameters = (op.parameters ?? []) as Array<Json>
  const body = op.requestBody?.content?.["application/json"]?.schema
  const answers = Object.entries((op.responses ?? {}) as Record<string, Json>)
  return `<section class="op" id="${escape(anchor(operation))}">
<h3><span class="method ${operation.method}">${operation.method.toUpperCase()}</span> <code>${escape(operation.path)}</code></h3>
<p class="summary">${escape(op.summary ?? "(no summary)")}</p>
<p>${escape(op.description ?? "")}</p>
<p class="auth">${guarded ? "Needs <code>Authorization: Bearer &lt;admin token&gt;</code>." : "No token needed."}</p>
${parameters.length === 0 ? "" : `<h4>Parameters</h4><ul>${
    parameters.map((parameter) =>
      `<li><code>${escape(parameter.name)}</code> in ${escape(parameter.in)} <span class="type">${escape(typeName(parameter.schema, components))}</span>` +
      `${parameter.required === true ? " <span class=\"req\">required</span>" : ""}${bounds(parameter.schema ?? {})}</li>`
    ).join("")
  }</ul>`}
${body === undefined ? "" : `<h4>Request body (JSON)</h4>${renderSchema(body, components)}`}
<h4>Answers</h4><ul>${
    answers.map(([status, answer]) => {
      const schema = answer?.content?.["application/json"]?.schema
      return `<li><b>${escape(status)}</b> ${escape(answer?.description ?? "")}${schema === undefined ? "" : renderSchema(schema, components)}</li>`
    }).join("")
  }</ul>
</section>`
}

const style = `body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
code{font:13px ui-monospace,monospace;background:#f2f2f4;padding:0 .2em;border-radius:3px}
.op{border-top:1px solid #ddd;padding:.5rem 0}.summary{font-weight:600}.type{color:#6a3d9a;font-family:ui-monospace,monospace;font-size:13px}
.req{color:#b00020;font-size:12px}.bounds{color:#666;font-size:12px}.auth{color:#555;font-size:13px}
.method{display:inline-block;min-width:4.2em;text-align:center;border-radius:3px;color:#fff;font-size:13px;padding:0 .3em}
.get{background:#2e7d32}.post{background:#1565c0}.put{background:#6a1b9a}.patch{background:#ef6c00}.delete{background:#c62828}
nav ul{columns:2}ul ul{margin:.2rem 0}`

/** The whole page for an OpenAPI document. Pure. */
export const renderReference = (spec: Json): string => {
  const operations = operationsOf(spec)
  const byTag = new Map<string, Array<Operation>>()
  for (const operation of operations) {
    const tag = String(operation.op.tags?.[0] ?? "other")
    byTag.set(tag, [...(byTag.get(tag) ?? []), operation])
  }
  const toc = [...byTag].map(([tag, ops]) =>
    `<li>${escape(tag)}<ul>${
      ops.map((operation) => `<li><a href="#${escape(anchor(operation))}">${operation.method.toUpperCase()} ${escape(operation.path)}</a> — ${escape(operation.op.summary ?? "")}</li>`).join("")
    }</ul></li>`
  ).join("")
  const sections = [...byTag].map(([tag, ops]) =>
    `<h2 id="tag-${escape(tag)}">${escape(tag)}</h2>${ops.map((operation) => renderOperation(operation, spec.components)).join("\n")}`
  ).join("\n")
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(spec.info?.title ?? "API")} — reference</title><style>${style}</style></head>
<body><h1>${escape(spec.info?.title ?? "API")} <small>version ${escape(String(spec.info?.version ?? ""))}</small></h1>
<p>Rendered by the node from <a href="openapi.json">/openapi.json</a>. Amounts are decimal strings. Errors answer
<code>{ "_tag", "message" }</code> with the status listed.</p>
<nav><h2>Operations</h2><ul>${toc}</ul></nav>
${sections}
</body></html>`
}

export const referencePath = "/docs"

/** The admin API's page as a response (the server renders it once, when it starts). */
export const referenceResponse = (): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.html(renderReference(OpenApi.fromApi(AdminApi)))

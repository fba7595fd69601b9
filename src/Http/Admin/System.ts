/**
 * `GET /healthz` (no token): 200 `{ status: "ok", checks }` when every dependency answers, else 503
 * `{ status: "unavailable", checks, message }` naming the ones that do not (see `Health.ts`).
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as HttpApiBuilder from "effect/http-api/HttpApiBuilder"
import * as HttpApiEndpoint from "effect/http-api/HttpApiEndpoint"
import * as HttpApiGroup from "effect/http-api/HttpApiGroup"
import { Health } from "../../Health.ts"
import type { AdminApi } from "./Api.ts"
import { doc } from "./Common.ts"

const Checks = Schema.Record(Schema.String, Schema.Literals(["ok", "unavailable"])).annotate({
  description: "Each dependency (ledger, and redis when configured) and whether it answers"
})

export class DependencyUnavailable extends Schema.TaggedError<DependencyUnavailable>()(
  "DependencyUnavailable",
  { message: Schema.String, status: Schema.Literal("unavailable"), checks: Checks },
  { httpApiStatus: 503 }
) {}

export class SystemGroup extends HttpApiGroup.make("system").add(
  HttpApiEndpoint.get("health", "/healthz", {
    success: Schema.Struct({ status: Schema.Literal("ok"), checks: Checks }),
    error: DependencyUnavailable
  }).annotateMerge(doc(
    "Health",
    "Whether the node and each of its dependencies (ledger, Redis) answer now; 503 names the ones that do not. No token needed."
  ))
) {}

export const systemHandlers = (api: typeof AdminApi) =>
  HttpApiBuilder.group(
    api,
    "system",
    (handlers) =>
      Effect.gen(function*() {
        const health = yield* Health
        return handlers.handle("health", () =>
          Effect.flatMap(health.check, (report) => {
            if (report.healthy) return Effect.succeed({ status: "ok" as const, checks: report.checks })
            const down = Object.entries(report.checks).filter(([, state]) => state !== "ok").map(([name]) => name)
            return Effect.fail(
              new DependencyUnavailable({ message: `unavailable: ${down.join(", ")}`, status: "unavailable", checks: report.checks })
            )
          }))
      })
  )

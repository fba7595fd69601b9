/** `GET /healthz`: is the node up (no token). */
import { Effect, Schema } from "effect"
import { HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import type { AdminApi } from "./Api.ts"
import { doc } from "./Common.ts"

export class SystemGroup extends HttpApiGroup.make("system").add(
  HttpApiEndpoint.get("health", "/healthz", { success: Schema.Struct({ status: Schema.Literal("ok") }) }).annotateMerge(doc(
    "Is the node up",
    "Answers {\"status\":\"ok\"} while the admin API runs. No token needed."
  ))
) {}

export const systemHandlers = (api: typeof AdminApi) =>
  HttpApiBuilder.group(
    api,
    "system",
    (handlers) => handlers.handle("health", () => Effect.succeed({ status: "ok" as const }))
  )

/**
 * Request validation against the Open Payments OpenAPI specifications, with `@interledger/openapi`
 * over the specs `@interledger/open-payments` ships (`getAuthServerOpenAPI`,
 * `getResourceServerOpenAPI`): the grant request and the incoming payment creation body are checked
 * against the spec before the handlers read them (the handlers still check what the spec cannot:
 * the wallet address's asset, an expiry in the future, ...).
 *
 * The specs load once, asynchronously, on the first request that needs them (both packages are
 * imported then too: loaded, they cost ~10 MiB of RSS, 4 MiB of it V8 heap, that a node serving
 * no Open Payments request never needs); that request and any arriving before they are loaded wait
 * for them (bounded: they are local files). Answers are checked the other way in the tests, by the
 * `@interledger/open-payments` client's response validation.
 */
import type { RequestValidator } from "@interledger/openapi"
import * as Effect from "effect/Effect"
import type { OpRequest } from "./Http.ts"

export type Validated = "grant" | "createIncomingPayment"

/** Validates a request of kind `kind`: undefined when valid, else the spec's complaint. */
export type Validate = (kind: Validated, request: OpRequest, body: unknown) => Effect.Effect<string | undefined>

const loadValidators = async () => {
  const [{ getAuthServerOpenAPI, getResourceServerOpenAPI }, { HttpMethod, isValidationError }] = await Promise.all([
    import("@interledger/open-payments"),
    import("@interledger/openapi")
  ])
  const [auth, resource] = await Promise.all([getAuthServerOpenAPI(), getResourceServerOpenAPI()])
  return {
    isValidationError,
    grant: auth.createRequestValidator<unknown>({ path: "/", method: HttpMethod.POST }),
    createIncomingPayment: resource.createRequestValidator<unknown>({ path: "/incoming-payments", method: HttpMethod.POST })
  }
}

export const makeValidate = (): Validate => {
  // Loaded once, by the first request that validates (a failure to load is reported to that
  // request and every later one, as a defect, never as an unhandled rejection).
  let validators: ReturnType<typeof loadValidators> | undefined
  const loaded = () => (validators ??= loadValidators())
  return (kind, request, body) =>
    Effect.map(Effect.promise(loaded), (loaded) => {
      const isValidationError = loaded.isValidationError
      const validator: RequestValidator<unknown> = loaded[kind]
      try {
        validator({
          body,
          headers: request.headers,
          query: Object.fromEntries(request.query),
          params: {}
        })
        return undefined
      } catch (error) {
        if (!isValidationError(error)) return "the request does not match the Open Payments specification"
        return error.errors.map((e) => e.message).join("; ").slice(0, 500)
      }
    })
}

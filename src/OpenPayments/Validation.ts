/**
 * Request validation against the Open Payments OpenAPI specifications, with `@interledger/openapi`
 * over the specs `@interledger/open-payments` ships (`getAuthServerOpenAPI`,
 * `getResourceServerOpenAPI`): the grant request and the incoming payment creation body are checked
 * against the spec before the handlers read them (the handlers still check what the spec cannot:
 * the wallet address's asset, an expiry in the future, ...).
 *
 * The specs load once, asynchronously, when the server starts; a request arriving before they are
 * loaded waits for them (bounded: they are local files). Answers are checked the other way in the
 * tests, by the `@interledger/open-payments` client's response validation.
 */
import { getAuthServerOpenAPI, getResourceServerOpenAPI } from "@interledger/open-payments"
import { HttpMethod, isValidationError, type RequestValidator } from "@interledger/openapi"
import { Effect } from "effect"
import type { OpRequest } from "./Http.ts"

export type Validated = "grant" | "createIncomingPayment"

/** Validates a request of kind `kind`: undefined when valid, else the spec's complaint. */
export type Validate = (kind: Validated, request: OpRequest, body: unknown) => Effect.Effect<string | undefined>

export const makeValidate = (): Validate => {
  const validators = Promise.all([getAuthServerOpenAPI(), getResourceServerOpenAPI()]).then(([auth, resource]) => ({
    grant: auth.createRequestValidator<unknown>({ path: "/", method: HttpMethod.POST }),
    createIncomingPayment: resource.createRequestValidator<unknown>({ path: "/incoming-payments", method: HttpMethod.POST })
  }))
  // A failure to load is reported per request (as a defect), never as an unhandled rejection.
  validators.catch(() => undefined)
  return (kind, request, body) =>
    Effect.map(Effect.promise(() => validators), (loaded) => {
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

/** `events list|replay`: parsing (pure), rendering, --help, and bad usage (exit 2 before any request). */
import { describe, expect, it } from "vitest"
import { runOperatorCommand } from "../src/OperatorCli.ts"
import { eventLine, eventsListText, eventsRequest, eventsUsage } from "../src/OperatorCliEvents.ts"

const capture = async (command: string, args: Array<string>) => {
  const out: Array<string> = []
  const err: Array<string> = []
  // ADMIN_URL points at a closed port: only commands that fail before sending are used here.
  const code = await runOperatorCommand(command, args, { ADMIN_URL: "http://127.0.0.1:9", ADMIN_TOKEN: "x" }, {
    out: (text) => out.push(text),
    err: (text) => err.push(text)
  })
  return { code, out: out.join("\n"), err: err.join("\n") }
}

describe("events command", () => {
  it("list: query built from the options", () => {
    expect(eventsRequest([]).path).toBe("/events")
    expect(eventsRequest(["list", "--json"]).path).toBe("/events")
    expect(eventsRequest(["list", "--state", "failed", "--limit", "20", "--before", "41"]).path)
      .toBe("/events?state=failed&limit=20&before=41")
    expect(eventsRequest(["replay", "0b6e-11"])).toMatchObject({ method: "POST", path: "/events/0b6e-11/replay" })
  })

  it("bad usage is refused with the reason", () => {
    expect(() => eventsRequest(["list", "--state", "lost"])).toThrow(/--state/)
    expect(() => eventsRequest(["list", "--limit", "0"])).toThrow(/--limit/)
    expect(() => eventsRequest(["list", "--limit", "501"])).toThrow(/--limit/)
    expect(() => eventsRequest(["list", "--before", "-1"])).toThrow()
    expect(() => eventsRequest(["list", "extra"])).toThrow()
    expect(() => eventsRequest(["replay"])).toThrow(/one event id/)
    expect(() => eventsRequest(["replay", "../x"])).toThrow(/one event id/)
    expect(() => eventsRequest(["replay", "a", "b"])).toThrow(/one event id/)
    expect(() => eventsRequest(["purge"])).toThrow(/unknown action/)
  })

  it("--help prints the usage; bad usage exits 2 with it", async () => {
    const help = await capture("events", ["--help"])
    expect(help).toMatchObject({ code: 0, out: eventsUsage })
    const bad = await capture("events", ["replay"])
    expect(bad.code).toBe(2)
    expect(bad.err).toContain("events replay takes one event id")
    expect((await capture("help", [])).out).toContain("events [list|replay ID]")
  })

  it("renders one line per event with its delivery", () => {
    const event = {
      seq: 7,
      id: "e-1",
      type: "outgoing_payment.failed",
      resourceId: "p-1",
      createdAt: 0,
      deliveryState: "pending",
      attempts: 2,
      nextAttemptAt: 1_000,
      lastError: "http://h/x: HTTP 500"
    }
    expect(eventLine(event)).toBe(
      "7  1970-01-01T00:00:00.000Z  outgoing_payment.failed  p-1  pending (attempt 3 at 1970-01-01T00:00:01.000Z)  e-1  last error: http://h/x: HTTP 500"
    )
    expect(eventLine({ ...event, deliveryState: "delivered", lastError: null })).toMatch(/ delivered  e-1$/)
    expect(eventsListText([])).toBe("no events")
  })
})

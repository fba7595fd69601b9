/**
 * The Lua script behind every step of `ReceiptTotalsRedis` (add, reserve, commit, release), one
 * atomic call each. Keys and replies are described at `totalsScript`; the storage layout and why the
 * arithmetic is on decimal strings are in `ReceiptTotalsRedis.ts`.
 */
import { luaDecimal } from "../RedisLuaDecimal.ts"

/** Reply error of a stored value that is not a decimal total (a defect, not an outage). */
export const corruptMarker = "RECEIPT_TOTALS_CORRUPT"

/** Due pending packets one call lapses (bounds the work of a call; the rest go in later calls). */
export const lapsedPerCallMax = 64

/**
 * KEYS[1] connection total, KEYS[2] packet record, then (with a payment) KEYS[3] payment total,
 * KEYS[4] pending hash, KEYS[5] pending sum, KEYS[6] pending ids by lapse time.
 * ARGV[1] op ("add" | "reserve" | "commit" | "release"), ARGV[2] amount, ARGV[3] connection TTL in
 * ms, ARGV[4] payment cap ("" when none), ARGV[5] packet id, ARGV[6] pending ms, ARGV[7] grace ms,
 * ARGV[8] most pending packets per payment, ARGV[9] most lapses per call.
 * Replies:
 * - add / reserve: {1, connectionTotal[, countedTotal]} accepted; {0, countedTotal} refused;
 *   {0, countedTotal, "released"} a reserve of a released packet; {3} too many pending; {4} the
 *   packet id was reserved before (a defect).
 * - commit: {1, connectionTotal[, paymentTotal]} committed (now or before); {2, "released"|"unknown"}.
 * - release: {1} released; {2} it was committed.
 */
export const totalsScript = `${luaDecimal}
local function corrupt(what)
  error("${corruptMarker} " .. what)
end

-- a - b, failing as corrupt when b > a
local function takeAway(a, b)
  if greater(b, a) then corrupt("pending sum is below a pending amount") end
  return sub(a, b)
end

local function total(key)
  local v = redis.call("GET", key)
  if not v then return "0" end
  if not isDecimal(v) then corrupt("stored total is not a decimal number") end
  return v
end

local op, amount, ttlMs, cap, packetId = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local pendingMs, graceMs = tonumber(ARGV[6]), tonumber(ARGV[7])
local pendingMax, lapsedMax = tonumber(ARGV[8]), tonumber(ARGV[9])
local C, E, P, H, S, Z = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local hasPayment = #KEYS == 6
if not (isDecimal(amount) and (cap == "" or isDecimal(cap))) then corrupt("amount or cap is not a decimal number") end

local time = redis.call("TIME")
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

-- takes one packet out of the payment's pending set (no-op when it is not in it)
local function unpend(id)
  local a = redis.call("HGET", H, id)
  if not a then return end
  if not isDecimal(a) then corrupt("pending amount is not a decimal number") end
  local left = takeAway(total(S), a)
  if left == "0" then redis.call("DEL", S) else redis.call("SET", S, left) end
  redis.call("HDEL", H, id)
  redis.call("ZREM", Z, id)
end

-- committed + pending, after lapsing at most lapsedMax due packets
local function counted()
  local due = redis.call("ZRANGEBYSCORE", Z, "-inf", now, "LIMIT", 0, lapsedMax)
  for k = 1, #due do unpend(due[k]) end
  return add(total(P), total(S))
end

local function record()
  local v = redis.call("GET", E)
  if not v then return nil, nil end
  local state, a = string.match(v, "^([pcr]) (%d+)$")
  if not state then corrupt("packet record is malformed") end
  return state, a
end

local function commitAmount(a)
  local connection = add(total(C), a)
  redis.call("SET", C, connection, "PX", ttlMs)
  if not hasPayment then return {1, connection} end
  local payment = add(total(P), a)
  redis.call("SET", P, payment)
  return {1, connection, payment}
end

if op == "add" or op == "reserve" then
  local before = "0"
  if op == "reserve" then
    local state = record()
    if state == "r" then
      if hasPayment then before = counted() end
      return {0, before, "released"}
    end
    if state then return {4} end
  end
  if hasPayment then before = counted() end
  local after = add(before, amount)
  if hasPayment and cap ~= "" and greater(after, cap) then return {0, before} end
  if op == "add" then
    local reply = commitAmount(amount)
    if hasPayment then reply[3] = after end
    return reply
  end
  if hasPayment then
    if redis.call("ZCARD", Z) >= pendingMax then return {3} end
    redis.call("HSET", H, packetId, amount)
    redis.call("ZADD", Z, now + pendingMs, packetId)
    redis.call("SET", S, add(total(S), amount))
  end
  redis.call("SET", E, "p " .. amount, "PX", pendingMs + graceMs)
  local connection = add(total(C), amount)
  if hasPayment then return {1, connection, after} end
  return {1, connection}
end

if op == "commit" then
  local state, a = record()
  if not state then return {2, "unknown"} end
  if state == "r" then return {2, "released"} end
  if state == "c" then
    if hasPayment then return {1, total(C), total(P)} end
    return {1, total(C)}
  end
  if hasPayment then unpend(packetId) end
  redis.call("SET", E, "c " .. a, "KEEPTTL")
  return commitAmount(a)
end

if op == "release" then
  local state, a = record()
  if not state then
    redis.call("SET", E, "r 0", "PX", graceMs)
    return {1}
  end
  if state == "c" then return {2} end
  if hasPayment then unpend(packetId) end
  redis.call("SET", E, "r " .. a, "KEEPTTL")
  return {1}
end

return redis.error_reply("unknown receipt totals operation")
`

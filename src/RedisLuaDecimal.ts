/**
 * Decimal-string arithmetic for Redis Lua scripts, shared by the rate limiter's amount bucket
 * (`Connector/RateLimiterRedis.ts`) and the receipt totals (`Stream/ReceiptTotalsRedisScript.ts`).
 * Amounts are u64/u128 and Lua numbers are doubles, so sums and comparisons are done digit by digit
 * on canonical decimal strings ("0" or no leading zero). Splice a constant at the top of a script.
 */

/** `isDecimal`, `greater` (a > b), `add` (a + b), `sub` (a - b for a >= b: the caller checks). */
export const luaDecimal = `
local function isDecimal(s)
  return s == "0" or string.find(s, "^[1-9][0-9]*$") ~= nil
end

-- a > b for canonical decimal strings
local function greater(a, b)
  if #a ~= #b then return #a > #b end
  for k = 1, #a do
    local x, y = string.byte(a, k), string.byte(b, k)
    if x ~= y then return x > y end
  end
  return false
end

-- canonical form of little-endian digit values
local function fromDigits(digits)
  local n = #digits
  while n > 1 and digits[n] == 0 do n = n - 1 end
  local chars = {}
  for k = n, 1, -1 do chars[#chars + 1] = string.char(48 + digits[k]) end
  return table.concat(chars)
end

-- a + b
local function add(a, b)
  local digits = {}
  local i, j, carry = #a, #b, 0
  while i > 0 or j > 0 or carry > 0 do
    local sum = carry
    if i > 0 then sum = sum + string.byte(a, i) - 48; i = i - 1 end
    if j > 0 then sum = sum + string.byte(b, j) - 48; j = j - 1 end
    if sum >= 10 then carry = 1; sum = sum - 10 else carry = 0 end
    digits[#digits + 1] = sum
  end
  return fromDigits(digits)
end

-- a - b, for a >= b (the caller checks)
local function sub(a, b)
  local digits = {}
  local i, j, borrow = #a, #b, 0
  while i > 0 do
    local d = string.byte(a, i) - 48 - borrow
    if j > 0 then d = d - (string.byte(b, j) - 48); j = j - 1 end
    if d < 0 then d = d + 10; borrow = 1 else borrow = 0 end
    digits[#digits + 1] = d
    i = i - 1
  end
  return fromDigits(digits)
end
`

/** `mul` (a * b); needs `luaDecimal` before it. */
export const luaDecimalMul = `
-- a * b, schoolbook (operands are at most ~40 digits)
local function mul(a, b)
  local digits = {}
  for k = 1, #a + #b do digits[k] = 0 end
  for i = #a, 1, -1 do
    local x = string.byte(a, i) - 48
    local carry, pos = 0, #a - i + 1
    for j = #b, 1, -1 do
      local v = digits[pos] + x * (string.byte(b, j) - 48) + carry
      digits[pos] = v % 10
      carry = (v - v % 10) / 10
      pos = pos + 1
    end
    while carry > 0 do
      local v = digits[pos] + carry
      digits[pos] = v % 10
      carry = (v - v % 10) / 10
      pos = pos + 1
    end
  end
  return fromDigits(digits)
end
`

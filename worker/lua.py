"""The job state machine as Redis Lua scripts: each transition is atomic, keyed on the job's
status and on the running attempt's token, and updates the metrics counters in the same step.

Every transition script takes the same keys and leading arguments:
  KEYS: job hash, events stream, lease, set of running jobs, stats hash
  ARGV: now, job id, key prefix, result TTL (s), events kept; then its own arguments.
A job ends exactly once: only ``_finish`` writes a final status and the ``end`` event, and
every caller checks first that the job is not final (and, for a worker, that it still holds
the running attempt).
"""

from __future__ import annotations

_COMMON = """
local function is_final(s) return s == 'succeeded' or s == 'failed' or s == 'canceled' end
local function count(field, by) redis.call('HINCRBY', KEYS[5], field, by) end

-- why the last attempt's process is gone: killed at the hard time limit, or lost
local function lost_reason()
  local deadline = tonumber(redis.call('HGET', KEYS[1], 'deadline') or '0')
  if deadline > 0 and tonumber(ARGV[1]) >= deadline - 2 then return 'time_limit' end
  return 'worker_lost'
end

local function lost_error(reason, attempts)
  local detail = "the job's process was lost " .. attempts .. ' time(s)'
  if reason == 'time_limit' then detail = 'the job ran past its hard time limit' end
  return cjson.encode({reason = reason, type = reason, detail = detail})
end

-- the one way a job ends: status, the end event, counters, expiry, owner's active set
local function finish(status, err, reason)
  local from = redis.call('HGET', KEYS[1], 'status')
  redis.call('HSET', KEYS[1], 'status', status, 'finished_at', ARGV[1])
  local ending = {status = status}
  if err ~= '' then
    redis.call('HSET', KEYS[1], 'error', err)
    ending['error'] = cjson.decode(err)
  end
  local owner = redis.call('HGET', KEYS[1], 'owner')
  if owner then redis.call('SREM', ARGV[3] .. 'active:' .. owner, ARGV[2]) end
  redis.call('SREM', KEYS[4], ARGV[2])
  redis.call('DEL', KEYS[3])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'event', 'end',
             'data', cjson.encode(ending))
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
  count('jobs:' .. from, -1)
  count('finished:' .. status, 1)
  if reason ~= '' then count('failed:' .. reason, 1) end
end
"""

# ARGV[6..]: status, error JSON or '', reason or '', token ('' = any unfinished job: the API)
FINISH = (
    _COMMON
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status or is_final(status) then return 0 end
if ARGV[9] ~= '' and (status ~= 'running' or redis.call('HGET', KEYS[1], 'token') ~= ARGV[9])
then return 0 end
finish(ARGV[6], ARGV[7], ARGV[8])
return 1
"""
)

# ARGV[6..]: token, lease ms, worker, pid, queue, max attempts, deadline (epoch s)
START = (
    _COMMON
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing', ''} end
if is_final(status) then return {'final', status} end
local ttl = redis.call('PTTL', KEYS[3])
if ttl > 0 then return {'leased', tostring(ttl)} end
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
if status == 'running' then  -- the last attempt's process is gone
  if redis.call('HGET', KEYS[1], 'cancel_requested') == '1' then
    finish('canceled', '', '')
    return {'final', 'canceled'}
  end
  if attempts >= tonumber(ARGV[11]) then
    local reason = lost_reason()
    finish('failed', lost_error(reason, attempts), reason)
    return {'final', 'failed'}
  end
else
  count('jobs:queued', -1)
  count('jobs:running', 1)
end
attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
count('attempts', 1)
redis.call('SET', KEYS[3], ARGV[6], 'PX', ARGV[7])
redis.call('HSET', KEYS[1], 'status', 'running', 'token', ARGV[6], 'worker', ARGV[8],
           'pid', ARGV[9], 'queue', ARGV[10], 'deadline', ARGV[12], 'attempt_started_at', ARGV[1])
redis.call('HSETNX', KEYS[1], 'started_at', ARGV[1])
redis.call('SADD', KEYS[4], ARGV[2])
return {'started', tostring(attempts)}
"""
)

# ARGV[6..]: max attempts. A running job whose lease is gone goes back to the queue, or fails.
REQUEUE = (
    _COMMON
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'running' then
  redis.call('SREM', KEYS[4], ARGV[2])
  return {'gone', ''}
end
if redis.call('PTTL', KEYS[3]) > 0 then return {'alive', ''} end
local queue = redis.call('HGET', KEYS[1], 'queue') or ''
if redis.call('HGET', KEYS[1], 'cancel_requested') == '1' then
  finish('canceled', '', '')
  return {'canceled', queue}
end
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
local reason = lost_reason()
if attempts >= tonumber(ARGV[6]) then
  finish('failed', lost_error(reason, attempts), reason)
  return {'failed', queue}
end
redis.call('HSET', KEYS[1], 'status', 'queued', 'last_lost', reason)
redis.call('HDEL', KEYS[1], 'token')
redis.call('SREM', KEYS[4], ARGV[2])
count('jobs:running', -1)
count('jobs:queued', 1)
count('requeued:' .. reason, 1)
return {'requeued', queue}
"""
)

# ARGV[6..]: nothing. Queued: canceled now. Running: flagged, stops after its current chunk.
CANCEL = (
    _COMMON
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return false end
if status == 'queued' then
  finish('canceled', '', '')
  return 'canceled'
end
if status == 'running' then redis.call('HSET', KEYS[1], 'cancel_requested', '1') end
return status
"""
)

# KEYS: job hash, lease. ARGV: token, lease ms. The heartbeat of a live attempt.
RENEW = """
if redis.call('HGET', KEYS[1], 'status') == 'running'
   and redis.call('HGET', KEYS[1], 'token') == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

# KEYS: the owner's active set, this minute's rate counter. ARGV: key prefix.
# The active count is derived from the jobs' states: ended or expired members are dropped.
ADMIT = """
local submitted = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], 120)
local active = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local s = redis.call('HGET', ARGV[1] .. 'job:' .. id, 'status')
  if s == 'queued' or s == 'running' then active = active + 1
  else redis.call('SREM', KEYS[1], id) end
end
return {submitted, active}
"""

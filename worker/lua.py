"""The job state machine as Redis Lua scripts: each transition is atomic, keyed on the job's
status and on the running attempt's token, and updates the metrics counters in the same step.

A job runs as one unit of work, or, when sharded (worker.shards), as several: shard k is the
unit ``{id}/{k}`` with its own hash, attempts, lease and token, while the job's hash keeps the
job's status. An unsharded job's unit is the job itself (unit hash = job hash, unit = id), so
the same scripts serve both.

Every transition script takes the same keys and leading arguments:
  KEYS: job hash, events stream, the unit's lease, set of running units, stats hash, unit hash
  ARGV: now, job id, key prefix, result TTL (s), events kept, unit; then its own arguments.
A job ends exactly once: only ``finish`` writes a final status and the ``end`` event, and
every caller checks first that the job is not final (and, for a worker, that its unit still
holds the running attempt).
"""

from __future__ import annotations

_COMMON = """
local function is_final(s) return s == 'succeeded' or s == 'failed' or s == 'canceled' end
local function count(field, by) redis.call('HINCRBY', KEYS[5], field, by) end
local sharded = KEYS[6] ~= KEYS[1]

-- why the last attempt's process is gone: killed at the hard time limit, or lost
local function lost_reason()
  local deadline = tonumber(redis.call('HGET', KEYS[6], 'deadline') or '0')
  if deadline > 0 and tonumber(ARGV[1]) >= deadline - 2 then return 'time_limit' end
  return 'worker_lost'
end

local function lost_error(reason, attempts)
  local detail = "the job's process was lost " .. attempts .. ' time(s)'
  if reason == 'time_limit' then detail = 'the job ran past its hard time limit' end
  return cjson.encode({reason = reason, type = reason, detail = detail})
end

-- the one way a job ends: status, the end event, counters, expiry, owner's active set, and
-- every shard's unit (its running entry and lease: the shards still going stop at their
-- next heartbeat or chunk)
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
  for k = 0, tonumber(redis.call('HGET', KEYS[1], 'shards') or '0') - 1 do
    local unit = ARGV[2] .. '/' .. k
    redis.call('SREM', KEYS[4], unit)
    redis.call('DEL', ARGV[3] .. 'lease:' .. unit)
    redis.call('EXPIRE', ARGV[3] .. 'shard:' .. unit, ARGV[4])
  end
  redis.call('DEL', ARGV[3] .. 'shards-done:' .. ARGV[2])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'event', 'end',
             'data', cjson.encode(ending))
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
  count('jobs:' .. from, -1)
  count('finished:' .. status, 1)
  if reason ~= '' then count('failed:' .. reason, 1) end
end

-- does the attempt holding ``token`` still run this unit of a running job?
local function holds(token)
  return redis.call('HGET', KEYS[1], 'status') == 'running'
     and redis.call('HGET', KEYS[6], 'status') == 'running'
     and redis.call('HGET', KEYS[6], 'token') == token
end
"""

# ARGV[7..]: status, error JSON or '', reason or '', token ('' = any unfinished job: the API)
FINISH = (
    _COMMON
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status or is_final(status) then return 0 end
if ARGV[10] ~= '' and not holds(ARGV[10]) then return 0 end
finish(ARGV[7], ARGV[8], ARGV[9])
return 1
"""
)

# ARGV[7..]: token, lease ms, worker, pid, queue, max attempts, deadline (epoch s)
START = (
    _COMMON
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing', ''} end
if is_final(status) then return {'final', status} end
local ttl = redis.call('PTTL', KEYS[3])
if ttl > 0 then return {'leased', tostring(ttl)} end
local unit = redis.call('HGET', KEYS[6], 'status')
if unit == 'done' then return {'final', 'done'} end  -- a finished shard never runs again
-- a canceled job starts nothing more: not a lost unit's retry, nor a shard taken from the queue
-- before the running ones reach their next chunk (they find the job final there and stop)
if redis.call('HGET', KEYS[1], 'cancel_requested') == '1' then
  finish('canceled', '', '')
  return {'final', 'canceled'}
end
local attempts = tonumber(redis.call('HGET', KEYS[6], 'attempts') or '0')
if unit == 'running' then  -- the last attempt's process is gone
  if attempts >= tonumber(ARGV[12]) then
    local reason = lost_reason()
    finish('failed', lost_error(reason, attempts), reason)
    return {'final', 'failed'}
  end
elseif status == 'queued' then
  count('jobs:queued', -1)
  count('jobs:running', 1)
  redis.call('HSET', KEYS[1], 'status', 'running')
end
attempts = redis.call('HINCRBY', KEYS[6], 'attempts', 1)
count('attempts', 1)
redis.call('SET', KEYS[3], ARGV[7], 'PX', ARGV[8])
redis.call('HSET', KEYS[6], 'status', 'running', 'token', ARGV[7], 'worker', ARGV[9],
           'pid', ARGV[10], 'queue', ARGV[11], 'deadline', ARGV[13], 'attempt_started_at', ARGV[1])
redis.call('HSETNX', KEYS[1], 'started_at', ARGV[1])
redis.call('SADD', KEYS[4], ARGV[6])
return {'started', tostring(attempts)}
"""
)

# ARGV[7..]: max attempts. A running unit whose lease is gone goes back to the queue, or its
# job fails.
REQUEUE = (
    _COMMON
    + """
if redis.call('HGET', KEYS[1], 'status') ~= 'running'
   or redis.call('HGET', KEYS[6], 'status') ~= 'running' then
  redis.call('SREM', KEYS[4], ARGV[6])
  return {'gone', ''}
end
if redis.call('PTTL', KEYS[3]) > 0 then return {'alive', ''} end
local queue = redis.call('HGET', KEYS[6], 'queue') or ''
if redis.call('HGET', KEYS[1], 'cancel_requested') == '1' then
  finish('canceled', '', '')
  return {'canceled', queue}
end
local attempts = tonumber(redis.call('HGET', KEYS[6], 'attempts') or '0')
local reason = lost_reason()
if attempts >= tonumber(ARGV[7]) then
  finish('failed', lost_error(reason, attempts), reason)
  return {'failed', queue}
end
redis.call('HSET', KEYS[6], 'status', 'queued', 'last_lost', reason)
redis.call('HDEL', KEYS[6], 'token')
redis.call('SREM', KEYS[4], ARGV[6])
if not sharded then  -- the job waits again; a sharded job runs on while its shard waits
  count('jobs:running', -1)
  count('jobs:queued', 1)
end
count('requeued:' .. reason, 1)
return {'requeued', queue}
"""
)

# ARGV[7..]: nothing. Queued: canceled now. Running: flagged, stops after its current chunk.
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

# ARGV[7..]: token, lease ms. The heartbeat of a live attempt.
RENEW = (
    _COMMON
    + """
if not holds(ARGV[7]) then return 0 end
redis.call('SET', KEYS[3], ARGV[7], 'PX', ARGV[8])
return 1
"""
)

# ARGV[7..]: token, shards of the job, done-set key. A shard whose result is stored: 'done'
# (its unit ends), 'merge' (every shard is done and this one merges them, still holding its
# lease: if it dies, its redelivery merges) or 'lost' (the attempt no longer holds the unit).
SHARD_DONE = (
    _COMMON
    + """
if not holds(ARGV[7]) then return 'lost' end
redis.call('SADD', ARGV[9], ARGV[6])
if redis.call('SCARD', ARGV[9]) >= tonumber(ARGV[8]) then return 'merge' end
redis.call('HSET', KEYS[6], 'status', 'done', 'finished_at', ARGV[1])
redis.call('HDEL', KEYS[6], 'token')
redis.call('DEL', KEYS[3])
redis.call('SREM', KEYS[4], ARGV[6])
return 'done'
"""
)

# ARGV[7..]: token, shards, phase, run-steps done, runs going, chunk, chunks of this shard,
# steps per run. Records the shard's progress and writes the job's, summed over its shards,
# in one step (so that it never goes back). Returns {cancel requested, 'running'}, or
# {0, 'lost'} once the attempt no longer holds its running shard (the job ended, or the
# shard was handed to another attempt).
SHARD_PROGRESS = (
    _COMMON
    + """
if not holds(ARGV[7]) then return {0, 'lost'} end
redis.call('HSET', KEYS[6], 'run_steps', ARGV[10], 'running', ARGV[11], 'chunk', ARGV[12],
           'chunks', ARGV[13])
local sum = {run_steps = 0, runs = 0, running = 0, chunk = 0, chunks = 0, done = 0}
for k = 0, tonumber(ARGV[8]) - 1 do
  local v = redis.call('HMGET', ARGV[3] .. 'shard:' .. ARGV[2] .. '/' .. k,
                       'run_steps', 'runs', 'running', 'chunk', 'chunks', 'status')
  sum.run_steps = sum.run_steps + tonumber(v[1] or '0')
  sum.runs = sum.runs + tonumber(v[2] or '0')
  sum.running = sum.running + tonumber(v[3] or v[2] or '0')
  sum.chunk = sum.chunk + tonumber(v[4] or '0')
  sum.chunks = sum.chunks + tonumber(v[5] or '1')
  if v[6] == 'done' then sum.done = sum.done + 1 end
end
local steps = tonumber(ARGV[14])
local progress = cjson.encode({
  phase = ARGV[9], steps_done = math.floor(sum.run_steps / sum.runs), steps_total = steps,
  fraction = sum.run_steps / (sum.runs * steps), chunk = sum.chunk, chunks = sum.chunks,
  runs_running = sum.running, shards = tonumber(ARGV[8]), shards_done = sum.done})
redis.call('HSET', KEYS[1], 'progress', progress)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'event', 'progress', 'data', progress)
return {tonumber(redis.call('HGET', KEYS[1], 'cancel_requested') or '0'), 'running'}
"""
)

# KEYS: the leader's job hash, the list of queued jobs of its structure, running set, stats,
# the queue's message list (kombu's: one JSON message per task, pushed left, popped right).
# ARGV: now, leader id, key prefix, most runs in all, token, lease ms, worker, pid, queue,
# deadline, list TTL (s). The leader (already started) takes queued jobs of its structure off
# the list, oldest first, while their runs fit (then back to a power of two of runs in all),
# and starts each under this attempt's token with its own lease: canceled, started or ended
# ones are dropped. Each taken job's own message leaves the queue here: a batch of n jobs
# costs the worker one delivery, not n (a message already handed to a worker finds its job
# done; a job of a lost batch is requeued, with a new message, by the reaper). Every job
# taken gets the batch's ids in 'batch'. Returns the ids, the leader first.
TAKE_BATCH = """
local function count(field, by) redis.call('HINCRBY', KEYS[4], field, by) end
redis.call('LREM', KEYS[2], 0, ARGV[2])
local total = tonumber(redis.call('HGET', KEYS[1], 'batch_runs') or '1')
local taken, sizes = {ARGV[2]}, {total}
while total < tonumber(ARGV[4]) do
  local id = redis.call('LPOP', KEYS[2])
  if not id then break end
  local job = ARGV[3] .. 'job:' .. id
  if redis.call('HGET', job, 'status') == 'queued'
     and redis.call('HGET', job, 'cancel_requested') ~= '1' then
    local runs = tonumber(redis.call('HGET', job, 'batch_runs') or '1')
    if total + runs > tonumber(ARGV[4]) then
      redis.call('LPUSH', KEYS[2], id)  -- the next batch's
      break
    end
    total = total + runs
    taken[#taken + 1], sizes[#sizes + 1] = id, runs
  end
end
-- a power of two of runs at most: few program widths, each compiled once. The rest go back
-- to the front of the list, and their own messages stay queued: the next delivery, at once,
-- takes them with whatever came since.
local width = 1
while width * 2 <= total do width = width * 2 end
while total > width and #taken > 1 do
  redis.call('LPUSH', KEYS[2], taken[#taken])
  total = total - sizes[#sizes]
  taken[#taken], sizes[#sizes] = nil, nil
end
for n = 2, #taken do
  local job = ARGV[3] .. 'job:' .. taken[n]
  redis.call('HINCRBY', job, 'attempts', 1)
  redis.call('SET', ARGV[3] .. 'lease:' .. taken[n], ARGV[5], 'PX', ARGV[6])
  redis.call('HSET', job, 'status', 'running', 'token', ARGV[5], 'worker', ARGV[7],
             'pid', ARGV[8], 'queue', ARGV[9], 'deadline', ARGV[10],
             'attempt_started_at', ARGV[1])
  redis.call('HSETNX', job, 'started_at', ARGV[1])
  redis.call('SADD', KEYS[3], taken[n])
  count('jobs:queued', -1)
  count('jobs:running', 1)
  count('attempts', 1)
end
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('EXPIRE', KEYS[2], ARGV[11]) end
if #taken > 1 then
  local companion = {}
  for n = 2, #taken do companion[taken[n]] = true end
  for _, message in ipairs(redis.call('LRANGE', KEYS[5], 0, -1)) do
    local id = string.match(message, '"argsrepr": "%[.(%x+).%]"')  -- ['id']
    if id and companion[id] and string.find(message, '"task": "optserve.run_job"', 1, true) then
      redis.call('LREM', KEYS[5], 1, message)
      count('messages_dropped', 1)
    end
  end
  local ids = cjson.encode(taken)
  for _, id in ipairs(taken) do redis.call('HSET', ARGV[3] .. 'job:' .. id, 'batch', ids) end
  count('batches', 1)
  count('batched_jobs', #taken)
end
return taken
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

# The ids (ARGV[3..]) whose job hash names the owner ARGV[2]; ARGV[1]: the key prefix. A
# batch's status lists its owner's other jobs without a round trip per job.
SAME_OWNER = """
local out = {}
for i = 3, #ARGV do
  if redis.call('HGET', ARGV[1] .. 'job:' .. ARGV[i], 'owner') == ARGV[2] then
    out[#out + 1] = ARGV[i]
  end
end
return out
"""

# KEYS: the job's hash, the owner's jobs (sorted set), the owner's active set, stats, owner
# stats, the batch list of its structure (the job's hash again when it has none), then the
# queue of each message. ARGV: id, score (creation ms), list TTL (s), shard key prefix, owner,
# then counted groups: n, the hash's field/value pairs; n, each shard's (lo, hi); the messages.
# A submission in one call: the job stored as queued, with its shards, its batch entry and
# its Celery messages (worker.messages), all at once or not at all.
CREATE = """
local id, at = ARGV[1], 6
local function group(width)
  local n = tonumber(ARGV[at])
  local items = {}
  for k = 1, n * width do items[k] = ARGV[at + k] end
  at = at + n * width + 1
  return n, items
end
local _, fields = group(2)
redis.call('HSET', KEYS[1], unpack(fields))
local shards, bounds = group(2)
for k = 1, shards do
  local lo, hi = bounds[2 * k - 1], bounds[2 * k]
  redis.call('HSET', ARGV[4] .. (k - 1), 'status', 'queued', 'lo', lo, 'hi', hi,
             'runs', tonumber(hi) - tonumber(lo), 'attempts', 0)
end
if KEYS[6] ~= KEYS[1] then
  redis.call('RPUSH', KEYS[6], id)
  redis.call('EXPIRE', KEYS[6], ARGV[3])
end
redis.call('ZADD', KEYS[2], ARGV[2], id)
redis.call('SADD', KEYS[3], id)
redis.call('HINCRBY', KEYS[4], 'jobs:queued', 1)
redis.call('HINCRBY', KEYS[4], 'submitted', 1)
redis.call('HINCRBY', KEYS[5], ARGV[5], 1)
for k = 7, #KEYS do redis.call('LPUSH', KEYS[k], ARGV[at + k - 7]) end
return 1
"""

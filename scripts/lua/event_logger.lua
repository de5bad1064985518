-- event_logger.lua: counts the engine's events per topic.
--
-- Subscribes to every event (oa.on("*")) and counts them by topic. Every
-- FLUSH_MS the counts are saved in the script's own store under the key
-- "counts" (oa.store.set), as a table {topic = count}; they are read back
-- when the script starts, so the counts survive restarts of the script and
-- of the engine. Read them in another script with oa.store (per script: the
-- key belongs to event_logger) or look at them with GET /api/scripts.
--
-- The engine imports this example disabled: it acts only after an
-- administrator enables it (admin UI, Scripts; or
-- POST /api/scripts/event_logger/enable).

-- How often to save the counts, in milliseconds.
local FLUSH_MS = 10 * 1000
-- The store key the counts are kept under.
local KEY = "counts"

-- Counts so far, starting from what an earlier run saved.
local counts = oa.store.get(KEY) or {}
-- Whether counts changed since they were last saved.
local dirty = false

oa.on("*", function(topic)
  counts[topic] = (counts[topic] or 0) + 1
  dirty = true
end)

oa.every(FLUSH_MS, function()
  if not dirty then
    return
  end
  local ok, err = oa.store.set(KEY, counts)
  if ok then
    dirty = false
    local topics = 0
    for _ in pairs(counts) do
      topics = topics + 1
    end
    oa.log.debug(string.format("saved the counts of %d topics", topics))
  else
    oa.log.warn("could not save the counts: " .. tostring(err))
  end
end)

oa.log.info(string.format("counting events per topic, saved every %d s under '%s'",
  FLUSH_MS // 1000, KEY))

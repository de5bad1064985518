-- watchdog.lua: restarts a plugin whose health turns bad.
--
-- The engine asks every running plugin for its health and publishes
-- "plugin.health" {"name": "...", "health": "ok" | "degraded" | "bad",
-- "detail": {...}} whenever it changes. When a plugin reports "bad", this
-- script restarts it with oa.plugins.restart, at most once per
-- MIN_INTERVAL_MS for each plugin (a plugin that stays bad after its restart
-- is left alone until the interval has passed), and logs what it does.
--
-- The engine imports this example disabled: it acts only after an
-- administrator enables it (admin UI, Scripts; or
-- POST /api/scripts/watchdog/enable).

-- At most one restart per plugin in this many milliseconds.
local MIN_INTERVAL_MS = 60 * 1000

-- The loop clock (oa.now(), milliseconds) of each plugin's last restart.
local last_restart = {}

-- Restarts plugin name unless it was restarted less than
-- MIN_INTERVAL_MS ago.
local function restart(name)
  local now = oa.now()
  local last = last_restart[name]
  if last ~= nil and now - last < MIN_INTERVAL_MS then
    oa.log.warn(string.format(
      "plugin %s reports bad health again; not restarting it before %d s have passed "
        .. "since its last restart (%d s ago)",
      name, MIN_INTERVAL_MS // 1000, (now - last) // 1000))
    return
  end
  last_restart[name] = now
  oa.log.warn("plugin " .. name .. " reports bad health; restarting it")
  -- A failed restart is an answer, not an error: log it and carry on.
  local ok, err = oa.plugins.restart(name)
  if ok then
    oa.log.info("restarted plugin " .. name)
  else
    oa.log.error("could not restart plugin " .. name .. ": " .. tostring(err))
  end
end

oa.on("plugin.health", function(topic, ev)
  if ev.health == "bad" and type(ev.name) == "string" then
    restart(ev.name)
  end
end)

oa.log.info(string.format("watching plugin health (at most one restart per plugin every %d s)",
  MIN_INTERVAL_MS // 1000))

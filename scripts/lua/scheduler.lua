-- scheduler.lua: runs a plugin command on a schedule.
--
-- Every PERIOD_MS this script calls the "echo" command of the example-echo
-- plugin with a line of text and logs the answer. It shows oa.every and
-- oa.call; put your own plugin, command and arguments in the constants.
-- A command that fails (for instance because the plugin is disabled) is
-- logged as a warning; it is not a script error, so the script keeps its
-- schedule.
--
-- The engine imports this example disabled: it acts only after an
-- administrator enables it (admin UI, Scripts; or
-- POST /api/scripts/scheduler/enable).

-- How often to run, in milliseconds (here: every 5 minutes).
local PERIOD_MS = 5 * 60 * 1000
-- What to run.
local PLUGIN = "example-echo"
local COMMAND = "echo"

local runs = 0

oa.every(PERIOD_MS, function()
  runs = runs + 1
  local result, err = oa.call(PLUGIN, COMMAND, { text = "scheduled run " .. runs })
  if result == nil then
    oa.log.warn(string.format("run %d: %s %s failed: %s", runs, PLUGIN, COMMAND, tostring(err)))
    return
  end
  oa.log.info(string.format("run %d: %s %s answered %q (its count: %s)", runs, PLUGIN, COMMAND,
    tostring(result.echo), tostring(result.count)))
end)

oa.log.info(string.format("calling %s %s every %d s", PLUGIN, COMMAND, PERIOD_MS // 1000))

// Where a run's time goes: the time spent inside this plugin's methods (its reads of the source
// database: SQL, row decoding, paging) against the rest, the core's own work. Measured at the
// plugin boundary: every method of the plugin's Apps and connections, as registered with the core,
// is wrapped with a clock, and so is the core's `plugin.createImports`, which the plugin's
// `importRecords` calls back into (that callback is the core's work, so it is taken out again).
"use strict";

/**
 * Wraps the registered methods of the plugin named `pluginName`. Returns `read()`: the seconds inside
 * the plugin so far, and calls and seconds by method. Overlapping calls count once (each moment goes to
 * the innermost method in progress, none while a core callback runs), so the total never exceeds wall time.
 * `clock` (seconds) is for tests.
 */
function timePluginMethods({ api, corePlugin, pluginName, clock = () => Number(process.hrtime.bigint()) / 1e9 }) {
  const registered = api.plugins.plugins.find((p) => p.name === pluginName);
  if (!registered) throw new Error(`plugin ${pluginName} is not registered with the core`);

  const stack = []; // the plugin methods in progress, the innermost last
  let inCore = 0; // core callbacks in progress, inside them
  let last = 0; // when the clock was last read
  let seconds = 0;
  const byMethod = {};
  // the time since the last change belongs to the innermost plugin method, unless the core was running
  const tick = () => {
    const t = clock();
    if (stack.length > 0 && inCore === 0) {
      seconds += t - last;
      byMethod[stack[stack.length - 1]].seconds += t - last;
    }
    last = t;
  };
  const change = (apply) => {
    tick();
    apply();
  };

  function measured(fn, onEnter, onExit) {
    return function (...args) {
      change(onEnter);
      let result;
      try {
        result = fn.apply(this, args);
      } catch (error) {
        change(onExit);
        throw error;
      }
      if (result && typeof result.then === "function") {
        return result.then(
          (value) => (change(onExit), value),
          (error) => {
            change(onExit);
            throw error;
          }
        );
      }
      change(onExit);
      return result;
    };
  }

  const owners = [...(registered.apps || []), ...(registered.connections || [])];
  for (const owner of owners) {
    for (const [name, fn] of Object.entries(owner.methods || {})) {
      if (typeof fn !== "function") continue;
      const stats = (byMethod[name] = byMethod[name] || { calls: 0, seconds: 0 });
      owner.methods[name] = measured(
        fn,
        () => {
          stack.push(name);
          stats.calls++;
        },
        () => stack.splice(stack.lastIndexOf(name), 1)
      );
    }
  }
  const createImports = corePlugin.createImports;
  corePlugin.createImports = measured(createImports, () => inCore++, () => inCore--);

  return {
    read() {
      tick();
      return { seconds, methods: JSON.parse(JSON.stringify(byMethod)) };
    },
  };
}

module.exports = { timePluginMethods };

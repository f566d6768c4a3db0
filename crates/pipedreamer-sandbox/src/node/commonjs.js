// The CommonJS runtime, one per realm and frozen: `define` makes the record of one CommonJS
// file in one run (`node/commonjs.rs` generates the calls), so everything a record holds
// (`module`, its `exports`, whether the body ran) belongs to that run.
import { NotCapable } from "pipedreamer:node/errors";

const RECORD = 0, NAMESPACE = 1, DEFAULT = 2;

// `path`: the file, relative to the workflow directory. `table`: `[specifier, take, get]` for
// each `require` the graph resolved (`get` returns the imported namespace; `take` says what
// `require` returns from it). `forbidden`: `[specifier, module]` for each `require` of a module
// the sandbox refuses. `body`: the file's code in the CommonJS wrapper.
export function define(path, table, forbidden, body) {
  const filename = "/" + path;
  const dirname = filename.slice(0, filename.lastIndexOf("/")) || "/";
  const targets = new Map(table.map(([specifier, take, get]) => [specifier, [take, get]]));
  const refused = new Map(forbidden);
  const module = { id: filename, filename, path: dirname, exports: {}, loaded: false, children: [], paths: [] };
  let state = "new";
  function require(specifier) {
    specifier = String(specifier);
    const target = targets.get(specifier);
    if (target !== undefined) {
      const [take, get] = target;
      const namespace = get();
      if (take === RECORD) return namespace.__pipedreamer_record.load();
      return take === DEFAULT ? namespace.default : namespace;
    }
    const denied = refused.get(specifier);
    if (denied !== undefined) {
      throw new NotCapable(`require("${specifier}") in ${path}: \`${denied}\` is not available in the sandbox (no file system, processes, environment or sockets; HTTP goes through fetch)`);
    }
    const error = new Error(`Cannot find module '${specifier}' (required by ${path}): it was not found when the workflow was loaded (\`pipedreamer validate\` lists missing packages; only literal require("...") calls are resolved)`);
    error.code = "MODULE_NOT_FOUND";
    throw error;
  }
  require.resolve = (specifier) => {
    throw new NotCapable(`require.resolve("${specifier}") in ${path}: the sandbox has no file system`);
  };
  module.require = require;
  const load = () => {
    // A cycle: the module being loaded gets the exports filled so far, as in Node.
    if (state !== "new") return module.exports;
    state = "running";
    try {
      body.call(module.exports, module.exports, require, module, filename, dirname);
    } catch (e) {
      // Node forgets a module whose body threw, so a later require runs it again.
      state = "new";
      module.exports = {};
      throw e;
    }
    state = "done";
    module.loaded = true;
    return module.exports;
  };
  return Object.freeze({ load });
}

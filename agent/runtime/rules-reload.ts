/**
 * Rules reload: the rules file watched (its folder, since editors replace files by
 * renaming; debounced, since they write in several steps), and on a change or SIGHUP the
 * file loaded and compiled. An invalid file is rejected with its problems logged and the
 * running rules stay; a valid one is handed to `apply`, which swaps it in between two readings.
 */

import { type FSWatcher, watch } from "node:fs";
import { basename, dirname } from "node:path";
import type { Clock, TimerHandle } from "../../lib/clock.js";
import { formatProblem } from "../../rules/validate-yaml.js";
import { type CompiledRules, loadRulesFile, type RulesLoadResult } from "../compile/load.js";
import type { Logger } from "./log.js";
import type { AgentCounters } from "./metrics.js";

/** Editors write a file in several steps; reload once they are done. */
const DEBOUNCE_MS = 200;

export interface RulesReloadOptions {
  file: string;
  clock: Clock;
  logger: Logger;
  counters: AgentCounters;
  /** swaps the rules in; returns the rule names before and after */
  apply: (rules: CompiledRules) => { before: readonly string[]; after: readonly string[] };
}

export interface ReloadOutcome {
  ok: boolean;
  problems: string[];
}

export class RulesReload {
  private watcher: FSWatcher | undefined;
  private timer: TimerHandle | undefined;

  constructor(private readonly options: RulesReloadOptions) {}

  /** Calls `changed` (debounced) whenever the rules file changes on disk. */
  watch(changed: () => void): void {
    const { file, clock, logger } = this.options;
    const cannot = (err: Error) =>
      logger.warn({ err: err.message }, "cannot watch the rules file; reload with SIGHUP");
    try {
      this.watcher = watch(dirname(file), (_event, name) => {
        if (name !== basename(file)) return;
        if (this.timer !== undefined) clock.clearTimer(this.timer);
        this.timer = clock.setTimer(changed, DEBOUNCE_MS);
      });
      this.watcher.on("error", cannot);
    } catch (err) {
      cannot(err as Error);
    }
  }

  stop(): void {
    if (this.timer !== undefined) this.options.clock.clearTimer(this.timer);
    this.watcher?.close();
  }

  /** Loads the file and, if it is valid, applies it. */
  reload(): ReloadOutcome {
    const { file, logger, counters, apply } = this.options;
    let loaded: RulesLoadResult;
    try {
      loaded = loadRulesFile(file);
    } catch (err) {
      // A bug in the checker must not stop the agent: the running rules stay.
      loaded = {
        ok: false,
        unreadable: false,
        problems: [{ where: file, path: "", message: `cannot check: ${(err as Error).message}` }],
      };
    }
    if (!loaded.ok) {
      counters.reloadsRejected++;
      const problems = loaded.problems.map(formatProblem);
      logger.error({ file, problems }, "rules reload rejected: the running rules stay");
      return { ok: false, problems };
    }
    const { before, after } = apply(loaded);
    counters.reloads++;
    logger.info(
      {
        file,
        rules: after,
        added: after.filter((n) => !before.includes(n)),
        removed: before.filter((n) => !after.includes(n)),
      },
      "rules reloaded",
    );
    return { ok: true, problems: [] };
  }
}

/** `brook rules check`: rules files checked, every problem at its file:line:col (agent/rules-check.ts). */
import type { Command } from "commander";
import { checkRulesFiles } from "../rules-check.js";

export function register(program: Command): void {
  const rules = program.command("rules").description("work with rules files");
  rules
    .command("check")
    .argument("<files...>", "rules files (YAML or JSON)")
    .option("--explain", "print each rule's compiled plan")
    .description(
      "validate rules files: every error as FILE:LINE:COL: path: message; exit 0 valid, 1 invalid, 2 unreadable",
    )
    .action((files: string[], opts: { explain?: boolean }) => {
      process.exitCode = checkRulesFiles(files, opts.explain === true, (line) =>
        process.stdout.write(`${line}\n`),
      );
    });
}

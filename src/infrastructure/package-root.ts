import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The checkout's root folder (the one holding package.json), found by walking
 * up from `moduleUrl`. The same module runs from its source (`src/…`, under
 * vitest and tsx) and compiled (`dist/src/…`), one folder deeper, so paths to
 * files outside the compiled code (proto/, the portal's build) start here.
 */
export function packageRoot(moduleUrl: string): string {
  let dir = dirname(fileURLToPath(moduleUrl));
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(moduleUrl)}`);
    dir = parent;
  }
}

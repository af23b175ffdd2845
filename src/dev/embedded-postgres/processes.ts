import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync, readlinkSync, realpathSync } from "node:fs";
import { createServer } from "node:net";
import { basename, join, resolve } from "node:path";

/**
 * The process toolkit of the embedded PostgreSQL (local development only):
 * reading a cluster's `postmaster.pid`, telling a live postmaster of this
 * cluster from a reused pid, finding the processes still in the cluster
 * after a hard kill, stopping them signal by signal, and probing ports.
 * Linux's /proc first, `ps` where there is none.
 */

/** How long fast shutdown (SIGINT) may take under load before the next signal. */
export const STOP_TIMEOUT_MS = 15_000;

/** The pid (line 1) of a `postmaster.pid`; undefined when there is no file. */
export function readPostmasterPid(clusterDir: string): { pid: number | undefined } | undefined {
  let text: string;
  try {
    text = readFileSync(join(clusterDir, "postmaster.pid"), "utf8");
  } catch {
    return undefined;
  }
  const pid = Number.parseInt(text.split("\n")[0] ?? "", 10);
  return { pid: Number.isInteger(pid) && pid > 0 ? pid : undefined };
}

/** True when the process exists (a zombie does not count: it is dead, just not reaped). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if (errorCode(error) !== "EPERM") return false;
  }
  return procStat(pid)?.state !== "Z";
}

/** True when the process is a `postgres` server started with `-D <clusterDir>`. */
export function isPostmasterOf(pid: number, clusterDir: string): boolean {
  const args = commandLine(pid);
  if (args === undefined || basename(args[0] ?? "") !== "postgres") return false;
  const flag = args.indexOf("-D");
  const dir = flag === -1 ? undefined : args[flag + 1];
  return dir !== undefined && sameDir(dir, clusterDir);
}

export function isNodeProcess(pid: number): boolean {
  try {
    return realpathSync(`/proc/${pid}/exe`) === realpathSync(process.execPath);
  } catch {
    return basename(commandLine(pid)?.[0] ?? "").startsWith("node");
  }
}

/**
 * Processes whose working directory is the cluster: PostgreSQL's postmaster
 * and all its children chdir there. Undefined where there is no /proc.
 */
export function clusterProcesses(clusterDir: string): number[] | undefined {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return undefined;
  }
  const target = realpathSync(clusterDir);
  return entries
    .filter((name) => /^\d+$/.test(name) && Number(name) !== process.pid)
    .map(Number)
    .filter((pid) => {
      try {
        return readlinkSync(`/proc/${pid}/cwd`) === target && isAlive(pid);
      } catch {
        return false; // gone meanwhile, or not ours to inspect
      }
    });
}

/**
 * Sends each signal in turn (undefined: just wait), moving on to the next when
 * the process has not exited in time. Fast shutdown (SIGINT) can take a while
 * under load, hence its longer allowance; orphaned backends that are idle exit
 * within milliseconds, busy ones only when killed, hence the short first wait.
 */
export async function terminate(pid: number, signals: (NodeJS.Signals | undefined)[]): Promise<void> {
  for (const signal of signals) {
    if (!isAlive(pid)) return;
    if (signal !== undefined) {
      try {
        process.kill(pid, signal);
      } catch {
        return; // exited meanwhile
      }
    }
    await waitForExit(pid, signal === "SIGINT" ? STOP_TIMEOUT_MS : signal === undefined ? 1_000 : 3_000);
  }
}

export async function waitForExit(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export async function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", () => resolve(false));
    probe.listen({ port, host: "127.0.0.1", exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen({ port: 0, host: "127.0.0.1", exclusive: true }, () => {
      const address = probe.address();
      probe.close(() => {
        if (typeof address === "object" && address !== null) resolve(address.port);
        else reject(new Error("no free port"));
      });
    });
  });
}

/** The argument vector of a process: /proc on Linux, `ps` elsewhere (split on spaces). */
export function commandLine(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((arg) => arg !== "");
  } catch {
    try {
      const command = execFileSync("ps", ["-o", "command=", "-p", String(pid)], { encoding: "utf8", stdio: "pipe" });
      return command.trim().split(/\s+/);
    } catch {
      return undefined;
    }
  }
}

export function parentPid(pid: number): number | undefined {
  const fromProc = procStat(pid)?.ppid;
  if (fromProc !== undefined) return fromProc;
  try {
    const output = execFileSync("ps", ["-o", "ppid=", "-p", String(pid)], { encoding: "utf8", stdio: "pipe" });
    const ppid = Number.parseInt(output, 10);
    return Number.isInteger(ppid) ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/** State and parent from /proc/<pid>/stat; the command name may contain spaces, so parse after its ")". */
export function procStat(pid: number): { state: string; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: state ?? "", ppid: Number(ppid) };
  } catch {
    return undefined;
  }
}

export function sameDir(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return resolve(a) === resolve(b);
  }
}

export function errorCode(error: unknown): string | undefined {
  return (error as { code?: string } | null)?.code;
}

export async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

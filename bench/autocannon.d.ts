/** autocannon ships no type declarations; the bench uses its programmatic API only. */
declare module "autocannon" {
  import type { EventEmitter } from "node:events";
  /** Starts a run; the returned tracker emits `response` events and is also a promise of the result. */
  function autocannon(opts: Record<string, unknown>): EventEmitter & PromiseLike<Record<string, any>>;
  export default autocannon;
}

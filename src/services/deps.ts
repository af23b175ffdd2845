import type { FastifyBaseLogger } from "fastify";
import type { Config } from "../config/config.js";
import type { KvStore } from "../infrastructure/kv-store.js";
import type { TokenService } from "../infrastructure/secrets.js";
import type { AccountRepository } from "../persistence/account-repository.js";
import type { CustomerRepository } from "../persistence/customer-repository.js";
import type { Db } from "../persistence/db.js";
import type { LifecycleRepository } from "../persistence/lifecycle-repository.js";
import type { CatalogueRepository } from "../persistence/catalogue-repository.js";
import type { LotRepository } from "../persistence/lot-repository.js";
import type { CachedReads } from "./cached-reads.js";

/** What the RPC implementations are built from. */
export interface ServiceDeps {
  config: Config;
  db: Db;
  kv: KvStore;
  /** Every cached read (program, lists, API keys, owner tokens) and `changed(businessId, what)`. */
  reads: CachedReads;
  tokens: TokenService;
  customers: CustomerRepository;
  /** Refunds and voids (contract §8). */
  lifecycle: LifecycleRepository;
  /** Rewards and promotions (contract §9). */
  catalogue: CatalogueRepository;
  /** Point lots (contract §10). */
  lots: LotRepository;
  accounts: AccountRepository;
  log: FastifyBaseLogger;
}

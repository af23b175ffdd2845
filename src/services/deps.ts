import type { FastifyBaseLogger } from "fastify";
import type { Config } from "../config/config.js";
import type { ApiKeyCache } from "../infrastructure/api-key-cache.js";
import type { OwnerTokenCache } from "../infrastructure/owner-token-cache.js";
import type { BusinessReadCache } from "../infrastructure/business-read-cache.js";
import type { KvStore } from "../infrastructure/kv-store.js";
import type { TokenService } from "../infrastructure/secrets.js";
import type { AccountRepository } from "../persistence/account-repository.js";
import type { CustomerRepository } from "../persistence/customer-repository.js";
import type { Db } from "../persistence/db.js";
import type { LifecycleRepository } from "../persistence/lifecycle-repository.js";
import type { CatalogueRepository } from "../persistence/catalogue-repository.js";
import type { LotRepository } from "../persistence/lot-repository.js";

/** What the RPC implementations are built from. */
export interface ServiceDeps {
  config: Config;
  db: Db;
  kv: KvStore;
  apiKeys: ApiKeyCache;
  /** Each owner's token generation: log-out and password change end older tokens everywhere. */
  ownerTokens: OwnerTokenCache;
  /** Short-lived reads of a business's data (the owner's customer list), dropped on every write. */
  reads: BusinessReadCache;
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

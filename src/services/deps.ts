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
import type { EventRepository } from "../persistence/event-repository.js";
import type { WebhookRepository } from "../persistence/webhook-repository.js";
import type { SecretBox } from "../infrastructure/webhook-secrets.js";
import type { Resolver } from "../infrastructure/webhook-sender.js";
import type { DeliveryQueue } from "./events.js";

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
  /** Events of every change (contract §11). */
  events: EventRepository;
  /** Webhook endpoints, deliveries, attempts. */
  webhooks: WebhookRepository;
  /** Seals the endpoints' signing secrets at rest. */
  secretBox: SecretBox;
  /** Queues delivery attempts on the job engine, in the caller's transaction. */
  deliveryQueue: DeliveryQueue;
  /** How webhook hosts are resolved (tests map names to loopback); the system's by default. */
  webhookResolver?: Resolver;
  log: FastifyBaseLogger;
}

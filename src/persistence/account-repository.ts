import { newId as createId } from "../infrastructure/ids.js";
import type { Db } from "./db.js";
import { ApiKeySchema, type ApiKey } from "./entities/api-key.js";
import { OwnerSchema, type Owner } from "./entities/owner.js";
import type { Program } from "./entities/program.js";
import { CATALOGUE_SELECT, catalogueFromJson, type Catalogue, type ProgramView } from "./catalogue-repository.js";
import { StoreSchema, type Store } from "./entities/store.js";

/** An API key as authentication needs it (what the cache holds). */
export interface ApiKeyPrincipal {
  id: string;
  businessId: string;
  storeId: string | null;
}

/** A program row as the `Program` entity names its fields. */
const PROGRAM_COLUMNS = `business_id as "businessId", mode, spend_rate_hundredths as "spendRateHundredths",
  points_per_unit as "pointsPerUnit", points_per_visit as "pointsPerVisit",
  reward_threshold as "rewardThreshold", reward_title as "rewardTitle",
  default_country as "defaultCountry", currency, timezone,
  points_expire_after_months as "pointsExpireAfterMonths", expiry_warning_days as "expiryWarningDays",
  expiry_since as "expirySince", updated_at as "updatedAt"`;
/** The program fields an owner may change, and their columns. */
const PROGRAM_FIELDS: Record<keyof ProgramChanges, string> = {
  mode: "mode",
  spendRateHundredths: "spend_rate_hundredths",
  pointsPerUnit: "points_per_unit",
  pointsPerVisit: "points_per_visit",
  rewardThreshold: "reward_threshold",
  rewardTitle: "reward_title",
  defaultCountry: "default_country",
  currency: "currency",
  timezone: "timezone",
  pointsExpireAfterMonths: "points_expire_after_months",
  expiryWarningDays: "expiry_warning_days",
};

/** The program fields an owner may change. */
export type ProgramChanges = Omit<Program, "businessId" | "updatedAt" | "expirySince">;
const STORE_COLUMNS = `id, business_id as "businessId", name, created_at as "createdAt", archived_at as "archivedAt"`;
const API_KEY_COLUMNS = `id, business_id as "businessId", name, prefix, key_hash as "keyHash", store_id as "storeId",
  created_at as "createdAt", last_used_at as "lastUsedAt", revoked_at as "revokedAt"`;

/**
 * Businesses, owners, programs, stores, API keys and the audit trail; every
 * query filters by business.
 *
 * Writes are SQL through `Db`, so that they join the caller's transaction
 * (the idempotency interceptor's, or `db.tx`) on the pg pool, where a change
 * and its audit event commit together. (On Node 20 a MikroORM flush also
 * taxed every later promise of the process through an AsyncLocalStorage; on
 * Node 24 it does not, so that is no longer a reason: see
 * test/transaction-scope.test.ts.) Reads of entities use MikroORM (`find`,
 * `findOne`), on a fork per operation.
 */
export function createAccountRepository(db: Db) {
  /** A fresh EntityManager for one read (requests get no request-scoped fork). */
  const em = () => db.orm.em.fork();

  return {
    async register(input: {
      businessName: string;
      email: string;
      passwordHash: string;
      program: Omit<ProgramChanges, "pointsExpireAfterMonths" | "expiryWarningDays">;
    }): Promise<{ businessId: string; ownerId: string }> {
      const businessId = createId();
      const ownerId = createId();
      const p = input.program;
      await db.tx(async () => {
        await db.query(`insert into business (id, name) values (?, ?)`, [businessId, input.businessName]);
        await db.query(`insert into owner (id, business_id, email, password_hash) values (?, ?, ?, ?)`, [
          ownerId,
          businessId,
          input.email,
          input.passwordHash,
        ]);
        await db.query(
          `insert into program (business_id, mode, spend_rate_hundredths, points_per_unit, points_per_visit,
                                reward_threshold, reward_title, default_country, currency, timezone)
           values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          [businessId, p.mode, p.spendRateHundredths, p.pointsPerUnit, p.pointsPerVisit, p.rewardThreshold, p.rewardTitle, p.defaultCountry, p.currency, p.timezone],
        );
        // The default reward (contract §9): the one reward_threshold / reward_title describe.
        await db.query(`insert into reward (id, business_id, title, cost, is_default) values (?, ?, ?, ?, true)`, [
          createId(), businessId, p.rewardTitle, p.rewardThreshold,
        ]);
      });
      return { businessId, ownerId };
    },

    async getAccount(businessId: string, ownerId: string) {
      const rows = await db.query<{ business_name: string; email: string }>(
        `select b.name as business_name, o.email from owner o join business b on b.id = o.business_id
         where o.business_id = ? and o.id = ?`,
        [businessId, ownerId],
      );
      return rows[0];
    },

    async findOwnerByEmail(email: string): Promise<Owner | null> {
      return em().findOne(OwnerSchema, { email }, { disableIdentityMap: true });
    },

    /** The owner of a token, for a password change; undefined when deleted. */
    async findOwner(businessId: string, ownerId: string): Promise<{ email: string; passwordHash: string } | undefined> {
      const rows = await db.query<{ email: string; passwordHash: string }>(
        `select email, password_hash as "passwordHash" from owner where business_id = ? and id = ?`,
        [businessId, ownerId],
      );
      return rows[0];
    },

    /** The owner's token generation (owner-token-cache.ts); undefined when the owner is gone. */
    async ownerTokenGeneration(ownerId: string): Promise<number | undefined> {
      const rows = await db.query<{ g: number }>(`select token_generation as g from owner where id = ?`, [ownerId]);
      return rows[0]?.g;
    },

    /**
     * Ends every token of the owner issued so far, and sets a new password
     * hash if given; returns the new generation, or undefined when the owner
     * is gone. Call inside the transaction of its audit event.
     */
    async endOwnerTokens(businessId: string, ownerId: string, newPasswordHash?: string): Promise<number | undefined> {
      const rows = await db.query<{ g: number }>(
        `update owner set token_generation = token_generation + 1, password_hash = coalesce(?, password_hash)
         where business_id = ? and id = ? returning token_generation as g`,
        [newPasswordHash ?? null, businessId, ownerId],
      );
      return rows[0]?.g;
    },

    /**
     * The program of a business with its rewards and active promotions, in
     * one read (contract §9). Every POS call needs it: it is cached by
     * src/services/cached-reads.ts (`reads.program`), not read here per call.
     */
    async readProgram(businessId: string): Promise<ProgramView> {
      const rows = await db.query<Program & { catalogue: unknown }>(
        `select ${PROGRAM_COLUMNS}, ${CATALOGUE_SELECT} as catalogue from program where business_id = ?`,
        [businessId],
      );
      const row = rows[0];
      if (!row) throw new Error(`business ${businessId} has no program`);
      const { catalogue, ...rest } = row;
      return { ...rest, ...catalogueFromJson(catalogue) };
    },

    async updateProgram(businessId: string, changes: Partial<ProgramChanges>): Promise<Program> {
      const sets = ["updated_at = now()"];
      // From the first policy on, the business keeps lots (contract §10).
      if ((changes.pointsExpireAfterMonths ?? 0) > 0) sets.push("expiry_since = coalesce(expiry_since, now())");
      const params: unknown[] = [];
      for (const [field, column] of Object.entries(PROGRAM_FIELDS)) {
        const value = changes[field as keyof typeof PROGRAM_FIELDS];
        if (value === undefined) continue;
        sets.push(`${column} = ?`);
        params.push(value);
      }
      const rows = await db.query<Program>(`update program set ${sets.join(", ")} where business_id = ? returning ${PROGRAM_COLUMNS}`, [
        ...params,
        businessId,
      ]);
      if (!rows[0]) throw new Error(`business ${businessId} has no program`);
      if (changes.rewardThreshold !== undefined || changes.rewardTitle !== undefined) {
        // The default reward is the one these two describe.
        await db.query(`update reward set cost = ?, title = ? where business_id = ? and is_default`, [
          rows[0].rewardThreshold, rows[0].rewardTitle, businessId,
        ]);
      }
      return rows[0];
    },

    async createStore(businessId: string, name: string): Promise<Store> {
      const rows = await db.query<Store>(`insert into store (id, business_id, name) values (?, ?, ?) returning ${STORE_COLUMNS}`, [
        createId(),
        businessId,
        name,
      ]);
      return rows[0]!;
    },

    /** The stores in use, oldest first; archived ones too with `includeArchived`. */
    async listStores(businessId: string, opts: { includeArchived?: boolean } = {}): Promise<Store[]> {
      return em().find(StoreSchema, opts.includeArchived ? { businessId } : { businessId, archivedAt: null }, {
        orderBy: { createdAt: "asc", id: "asc" },
      });
    },

    /** Is the store one of the business's, and in use (not archived)? */
    async storeExists(businessId: string, storeId: string): Promise<boolean> {
      const rows = await db.query(`select 1 from store where business_id = ? and id = ? and archived_at is null`, [businessId, storeId]);
      return rows.length > 0;
    },

    /** Renames a store in use; undefined when there is none with that id. */
    async renameStore(businessId: string, id: string, name: string): Promise<Store | undefined> {
      const rows = await db.query<Store>(
        `update store set name = ? where business_id = ? and id = ? and archived_at is null returning ${STORE_COLUMNS}`,
        [name, businessId, id],
      );
      return rows[0];
    },

    /**
     * Deletes a store, or archives it when ledger rows or API keys name it.
     * Locks the store's row first, so a check-in or key naming it meanwhile
     * either commits before (and is seen) or finds it archived. Call inside
     * a transaction.
     */
    async deleteStore(businessId: string, id: string): Promise<"deleted" | "archived" | "not_found" | "in_use"> {
      const found = await db.query(`select 1 from store where business_id = ? and id = ? and archived_at is null for update`, [businessId, id]);
      if (found.length === 0) return "not_found";
      const [use] = await db.query<{ active_keys: string; history: boolean }>(
        `select (select count(*) from api_key where business_id = ? and store_id = ? and revoked_at is null) as active_keys,
                exists (select 1 from ledger_entry where business_id = ? and store_id = ?)
                or exists (select 1 from redemption where business_id = ? and store_id = ?)
                or exists (select 1 from api_key where business_id = ? and store_id = ?) as history`,
        [businessId, id, businessId, id, businessId, id, businessId, id],
      );
      if (Number(use!.active_keys) > 0) return "in_use";
      if (use!.history) {
        await db.query(`update store set archived_at = now() where business_id = ? and id = ?`, [businessId, id]);
        return "archived";
      }
      await db.query(`delete from store where business_id = ? and id = ?`, [businessId, id]);
      return "deleted";
    },

    async createApiKey(input: { businessId: string; name: string; prefix: string; keyHash: string; storeId: string | null }): Promise<ApiKey> {
      const rows = await db.query<ApiKey>(
        `insert into api_key (id, business_id, name, prefix, key_hash, store_id) values (?, ?, ?, ?, ?, ?) returning ${API_KEY_COLUMNS}`,
        [createId(), input.businessId, input.name, input.prefix, input.keyHash, input.storeId],
      );
      return rows[0]!;
    },

    async listApiKeys(businessId: string): Promise<ApiKey[]> {
      return em().find(ApiKeySchema, { businessId }, { orderBy: { createdAt: "desc", id: "desc" } });
    },

    /** Revokes a key; returns its hash (to evict from the cache) or null. */
    async revokeApiKey(businessId: string, id: string): Promise<string | null> {
      const rows = await db.query<{ key_hash: string }>(
        `update api_key set revoked_at = coalesce(revoked_at, now()) where business_id = ? and id = ? returning key_hash`,
        [businessId, id],
      );
      return rows[0]?.key_hash ?? null;
    },

    /** Renames a key; undefined when the business has no key with that id. */
    async renameApiKey(businessId: string, id: string, name: string): Promise<ApiKey | undefined> {
      const rows = await db.query<ApiKey>(`update api_key set name = ? where business_id = ? and id = ? returning ${API_KEY_COLUMNS}`, [
        name,
        businessId,
        id,
      ]);
      return rows[0];
    },

    async findActiveApiKey(keyHash: string): Promise<ApiKeyPrincipal | undefined> {
      const rows = await db.query<{ id: string; business_id: string; store_id: string | null }>(
        `select id, business_id, store_id from api_key where key_hash = ? and revoked_at is null`,
        [keyHash],
      );
      const row = rows[0];
      return row && { id: row.id, businessId: row.business_id, storeId: row.store_id };
    },

    async touchApiKey(id: string): Promise<void> {
      await db.query(`update api_key set last_used_at = now() where id = ?`, [id]);
    },

    /** Writes a PII-free audit event (ids and figures only). */
    async audit(event: {
      businessId: string;
      actorType: "owner" | "api_key";
      actorId: string;
      action: string;
      subjectId: string;
      data?: Record<string, unknown>;
    }): Promise<void> {
      await db.query(
        `insert into audit_event (id, business_id, actor_type, actor_id, action, subject_id, data) values (?, ?, ?, ?, ?, ?, ?::jsonb)`,
        [createId(), event.businessId, event.actorType, event.actorId, event.action, event.subjectId, JSON.stringify(event.data ?? {})],
      );
    },

    async dashboard(businessId: string, days: number, threshold: number) {
      const [counts, daily] = await Promise.all([
        db.query<{ total: string; active: string; blocked: string; rewards: string }>(
          `select count(*) as total,
                  count(*) filter (where status = 'ACTIVE') as active,
                  count(*) filter (where status = 'BLOCKED') as blocked,
                  count(*) filter (where status = 'ACTIVE' and total_points >= ?) as rewards
           from customer where business_id = ?`,
          [threshold, businessId],
        ),
        // Each figure sums one ledger type (or one sign of ADJUSTMENT); issued
        // and redeemed are named sums of them (proto GetDashboardResponse).
        db.query<{ day: string; earned: string; promotion: string; bonus: string; deducted: string; imported: string; opening: string; redeemed: string; expired: string }>(
          `select to_char(d.day, 'YYYY-MM-DD') as day,
                  coalesce(sum(l.delta) filter (where l.type = 'CHECKIN'), 0) as earned,
                  coalesce(sum(l.delta) filter (where l.type = 'PROMOTION'), 0) as promotion,
                  coalesce(sum(l.delta) filter (where l.type = 'ADJUSTMENT' and l.delta > 0), 0) as bonus,
                  coalesce(-sum(l.delta) filter (where l.type = 'ADJUSTMENT' and l.delta < 0), 0) as deducted,
                  coalesce(sum(l.delta) filter (where l.type = 'IMPORT'), 0) as imported,
                  coalesce(sum(l.delta) filter (where l.type = 'INITIAL'), 0) as opening,
                  coalesce(-sum(l.delta) filter (where l.type = 'REDEMPTION'), 0) as redeemed,
                  coalesce(-sum(l.delta) filter (where l.type = 'EXPIRY'), 0) as expired
           from generate_series((now() at time zone 'utc')::date - (? - 1), (now() at time zone 'utc')::date, interval '1 day') as d(day)
           left join ledger_entry l on l.business_id = ? and l.created_at >= d.day at time zone 'utc'
                and l.created_at < (d.day + interval '1 day') at time zone 'utc'
           group by d.day order by d.day`,
          [days, businessId],
        ),
      ]);
      const c = counts[0]!;
      // count(*) and sum(int) are bigint, which node-pg gives as text: read
      // as exact whole numbers (the point sums pass 2^31; the proto fields
      // are doubles, exact to 2^53).
      return {
        totalCustomers: wholeNumber(c.total),
        activeCustomers: wholeNumber(c.active),
        blockedCustomers: wholeNumber(c.blocked),
        rewardsAvailable: wholeNumber(c.rewards),
        daily: daily.map((d) => ({
          date: d.day,
          earned: wholeNumber(d.earned),
          promotion: wholeNumber(d.promotion),
          bonus: wholeNumber(d.bonus),
          deducted: wholeNumber(d.deducted),
          imported: wholeNumber(d.imported),
          opening: wholeNumber(d.opening),
          redeemed: wholeNumber(d.redeemed),
          expired: wholeNumber(d.expired),
        })),
      };
    },
  };
}

export type AccountRepository = ReturnType<typeof createAccountRepository>;

/** A bigint column's text as a number, refused (a bug, INTERNAL) beyond what a double holds exactly. */
function wholeNumber(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new Error("a database sum is beyond 2^53");
  return n;
}

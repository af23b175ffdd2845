import { create, toJson } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import {
  BusinessSettings,
  ChangePasswordResponseSchema,
  CreateApiKeyResponseSchema,
  CreateStoreResponseSchema,
  GetAccountResponseSchema,
  GetDashboardResponseSchema,
  DailyPointsSchema,
  GetProgramResponseSchema,
  ListApiKeysResponseSchema,
  ListStoresResponseSchema,
  LoginResponseSchema,
  LogoutResponseSchema,
  OwnerAuth,
  RegisterResponseSchema,
  DeleteStoreResponseSchema,
  RevokeApiKeyResponseSchema,
  UpdateApiKeyResponseSchema,
  UpdateProgramResponseSchema,
  UpdateStoreResponseSchema,
  CreateRewardResponseSchema,
  ListRewardsResponseSchema,
  UpdateRewardResponseSchema,
  DeactivateRewardResponseSchema,
  CreatePromotionResponseSchema,
  ListPromotionsResponseSchema,
  UpdatePromotionResponseSchema,
  EndPromotionResponseSchema,
} from "../../gen/loyalty/v1/account_pb.js";
import { ProgramMode, ProgramSchema } from "../../gen/loyalty/v1/types_pb.js";
import { emit, eventRequest } from "./events.js";
import { DomainError, invalidArgument, notFound } from "../domain/errors.js";
import { isKnownCountry } from "../domain/phone.js";
import { DEFAULT_PROGRAM, spendRateToHundredths } from "../domain/points.js";
import * as v from "../domain/validation.js";
import {
  dummyPasswordHash,
  generateApiKey,
  hashApiKey,
  hashPassword,
  verifyPassword,
} from "../infrastructure/secrets.js";
import type { ProgramChanges } from "../persistence/account-repository.js";
import { kClientAddress, ownerPrincipal } from "./principal.js";
import type { ServiceDeps } from "./deps.js";
import { clientAddressOf, createAuthThrottle } from "./login-throttle.js";
import { apiKeyToProto, programToProto, storeToProto } from "./mappers.js";
import { defaultCurrency, defaultTimezone, timezone } from "../domain/locale.js";
import { MAX_REWARDS, promotionFrom, promotionToProto, rewardFields, rewardToProto, tooManyActive } from "./catalogue.js";
import { MAX_ACTIVE_PROMOTIONS } from "../domain/promotions.js";
import { expiryMonths, warningDays } from "../domain/expiry.js";
import { tracksLots } from "./expiry.js";

function country(value: string): string {
  const c = value.trim().toUpperCase();
  if (!isKnownCountry(c)) throw invalidArgument("defaultCountry must be an ISO 3166 alpha-2 country code");
  return c;
}

/** The ISO 4217 codes the runtime knows (Intl), read once. */
const CURRENCIES = new Set(Intl.supportedValuesOf("currency"));

function currency(value: string): string {
  const c = value.trim().toUpperCase();
  if (!/^[A-Z]{3}$/.test(c) || !CURRENCIES.has(c)) throw invalidArgument("currency must be an ISO 4217 currency code");
  return c;
}

/** OwnerAuth: register a business, log owners in, change passwords, log out everywhere. */
export function createOwnerAuthService(deps: ServiceDeps): ServiceImpl<typeof OwnerAuth> {
  const { accounts, tokens, config, db, reads } = deps;
  const throttle = createAuthThrottle(deps.kv, {
    loginPerAccount: config.loginAttemptsPerAccount,
    loginPerAddress: config.loginAttemptsPerAddress,
    registerPerAddress: config.registrationsPerAddress,
  });
  const unauthorized = () => new DomainError("unauthenticated", "invalid email or password");
  const addressOf = (ctx: HandlerContext) =>
    clientAddressOf(ctx.values.get(kClientAddress), ctx.requestHeader.get("x-forwarded-for"), config.trustProxy);

  /**
   * Ends every token of the owner (and sets a new password hash, if given)
   * with its audit event; once committed — by this transaction or the
   * idempotency interceptor's — every instance learns the new generation.
   * Evicted before the commit, another instance could read the old one back.
   */
  async function endTokens(businessId: string, ownerId: string, action: string, passwordHash?: string): Promise<number> {
    const generation = await db.tx(async () => {
      const g = await accounts.endOwnerTokens(businessId, ownerId, passwordHash);
      if (g === undefined) throw new DomainError("unauthenticated", "invalid or expired token");
      await accounts.audit({ businessId, actorType: "owner", actorId: ownerId, action, subjectId: ownerId });
      return g;
    });
    await reads.changed(businessId, { ownerTokensEnded: { ownerId, generation } });
    return generation;
  }

  return {
    async register(req, ctx) {
      const businessName = v.text(req.businessName, "businessName", { max: 200, required: true });
      const email = v.email(req.email);
      const password = v.password(req.password);
      const defaultCountry = req.defaultCountry === undefined || req.defaultCountry === "" ? "IE" : country(req.defaultCountry);
      // Counted before the argon2 hash, the costly part.
      await throttle.beginRegister(addressOf(ctx));
      const passwordHash = await hashPassword(password);
      const { businessId, ownerId } = await accounts.register({
        businessName,
        email,
        passwordHash,
        program: { ...DEFAULT_PROGRAM, defaultCountry, currency: defaultCurrency(defaultCountry), timezone: defaultTimezone(defaultCountry) },
      });
      const { token, expiresIn } = await tokens.sign({ ownerId, businessId, generation: 0 });
      return create(RegisterResponseSchema, { success: true, token, expiresIn, businessId, ownerId });
    },

    async login(req, ctx) {
      if (req.email.trim() === "" || req.password === "") throw unauthorized();
      const email = req.email.trim().toLowerCase();
      // A control character (NUL above all) never matches an account, and
      // PostgreSQL refuses NUL in text: answer like any wrong email.
      if (email.length > 320 || req.password.length > 256 || /[\u0000-\u001f\u007f]/.test(email)) throw unauthorized();
      // Counted before the password is verified: concurrent guesses cannot
      // all pass a count that is read, checked and written afterwards.
      const attempt = await throttle.beginLogin(email, addressOf(ctx));
      const owner = await accounts.findOwnerByEmail(email);
      const ok = await verifyPassword(owner?.passwordHash ?? (await dummyPasswordHash()), req.password);
      if (!owner || !ok) throw unauthorized();
      await attempt.succeeded();
      const { token, expiresIn } = await tokens.sign({ ownerId: owner.id, businessId: owner.businessId, generation: owner.tokenGeneration });
      return create(LoginResponseSchema, { success: true, token, expiresIn });
    },

    async changePassword(req, ctx) {
      const p = ownerPrincipal(ctx);
      if (req.currentPassword === "") throw invalidArgument("currentPassword is required");
      if (req.currentPassword.length > 256) throw invalidArgument("currentPassword is not the account's password");
      const newPassword = v.password(req.newPassword);
      if (newPassword === req.currentPassword) throw invalidArgument("newPassword must differ from currentPassword");
      const owner = await accounts.findOwner(p.businessId, p.ownerId);
      if (!owner) throw new DomainError("unauthenticated", "invalid or expired token");
      // Counted like a log-in, before the password is verified: a stolen
      // token does not make the password guessable.
      const attempt = await throttle.beginLogin(owner.email, addressOf(ctx));
      if (!(await verifyPassword(owner.passwordHash, req.currentPassword))) {
        throw invalidArgument("currentPassword is not the account's password");
      }
      await attempt.succeeded();
      const passwordHash = await hashPassword(newPassword);
      const generation = await endTokens(p.businessId, p.ownerId, "owner.password_changed", passwordHash);
      const { token, expiresIn } = await tokens.sign({ ownerId: p.ownerId, businessId: p.businessId, generation });
      return create(ChangePasswordResponseSchema, { success: true, token, expiresIn });
    },

    async logout(_req, ctx) {
      const p = ownerPrincipal(ctx);
      await endTokens(p.businessId, p.ownerId, "owner.logged_out");
      return create(LogoutResponseSchema, { success: true });
    },
  };
}

/** BusinessSettings: program, API keys, stores and dashboard (JWT auth). */
export function createBusinessSettingsService(deps: ServiceDeps): ServiceImpl<typeof BusinessSettings> {
  const { accounts, db, catalogue, reads } = deps;

  /** The program with its catalogue and redeemed counts (owner reads). */
  async function programWithRewards(businessId: string) {
    const [program, rewards] = await Promise.all([reads.program(businessId), catalogue.listRewards(businessId)]);
    const out = programToProto(program);
    out.rewards = rewards.map(rewardToProto);
    out.defaultRewardId = rewards.find((r) => r.isDefault)?.id ?? "";
    return out;
  }

  async function rewardById(businessId: string, id: string) {
    const r = (await catalogue.listRewards(businessId)).find((x) => x.id === id);
    if (!r) throw notFound("reward not found");
    return r;
  }

  /** The program or its catalogue changed (once committed, every instance reads it again). */
  const catalogueChanged = (businessId: string) => reads.changed(businessId, "program");

  async function audit(businessId: string, ownerId: string, action: string, subjectId: string, data?: Record<string, unknown>) {
    await accounts.audit({ businessId, actorType: "owner", actorId: ownerId, action, subjectId, data });
  }

  async function checkStore(businessId: string, storeId: string | undefined): Promise<string | null> {
    if (storeId === undefined || storeId.trim() === "") return null;
    const id = v.id(storeId, "storeId");
    if (!(await accounts.storeExists(businessId, id))) throw invalidArgument("storeId is not a store of this business");
    return id;
  }

  return {
    async getAccount(_req, ctx) {
      const p = ownerPrincipal(ctx);
      const account = await accounts.getAccount(p.businessId, p.ownerId);
      if (!account) throw notFound("account not found");
      return create(GetAccountResponseSchema, {
        businessId: p.businessId,
        businessName: account.business_name,
        ownerId: p.ownerId,
        email: account.email,
      });
    },

    async getProgram(_req, ctx) {
      const p = ownerPrincipal(ctx);
      return create(GetProgramResponseSchema, { program: await programWithRewards(p.businessId) });
    },

    async updateProgram(req, ctx) {
      const p = ownerPrincipal(ctx);
      const changes: Partial<ProgramChanges> = {};
      if (req.mode !== undefined) {
        // An unknown number (proto3 enums are open) has no name: refused like UNSPECIFIED.
        const mode = ProgramMode[req.mode] as string | undefined;
        if (mode !== "SPEND" && mode !== "UNIT" && mode !== "VISIT") throw invalidArgument("mode must be SPEND, UNIT or VISIT");
        changes.mode = mode;
      }
      if (req.pointsPerCurrencyUnit !== undefined) changes.spendRateHundredths = spendRateToHundredths(req.pointsPerCurrencyUnit);
      if (req.pointsPerUnit !== undefined) changes.pointsPerUnit = v.wholeNumber(req.pointsPerUnit, "pointsPerUnit", 1, 10_000);
      if (req.pointsPerVisit !== undefined) changes.pointsPerVisit = v.wholeNumber(req.pointsPerVisit, "pointsPerVisit", 1, 10_000);
      if (req.rewardThreshold !== undefined) {
        changes.rewardThreshold = v.wholeNumber(req.rewardThreshold, "rewardThreshold", 1, 1_000_000);
      }
      if (req.rewardTitle !== undefined) changes.rewardTitle = v.text(req.rewardTitle, "rewardTitle", { max: 100, required: true });
      if (req.defaultCountry !== undefined) changes.defaultCountry = country(req.defaultCountry);
      if (req.currency !== undefined) changes.currency = currency(req.currency);
      if (req.timezone !== undefined) changes.timezone = timezone(req.timezone);
      if (req.pointsExpireAfterMonths !== undefined) changes.pointsExpireAfterMonths = expiryMonths(req.pointsExpireAfterMonths);
      if (req.expiryWarningDays !== undefined) changes.expiryWarningDays = warningDays(req.expiryWarningDays);
      // The change and its audit event together.
      const program = await db.tx(async () => {
        const before = toJson(ProgramSchema, programToProto(await reads.program(p.businessId)), { alwaysEmitImplicit: true }) as Record<string, unknown>;
        const updated = await accounts.updateProgram(p.businessId, changes);
        await catalogueChanged(p.businessId);
        const after = toJson(ProgramSchema, programToProto(updated), { alwaysEmitImplicit: true }) as Record<string, unknown>;
        const previous: Record<string, unknown> = {};
        for (const key of Object.keys(after)) if (JSON.stringify(after[key]) !== JSON.stringify(before[key])) previous[key] = before[key] ?? null;
        if (Object.keys(previous).length > 0) {
          await emit(deps, p.businessId, [{ type: "program.updated", customerId: null, object: after, previous }], eventRequest(ctx));
        }
        await accounts.audit({
          businessId: p.businessId,
          actorType: "owner",
          actorId: p.ownerId,
          action: "program.updated",
          subjectId: p.businessId,
          data: { fields: Object.keys(changes) },
        });
        return updated;
      });
      void program;
      return create(UpdateProgramResponseSchema, { success: true, program: await programWithRewards(p.businessId) });
    },

    async createApiKey(req, ctx) {
      const p = ownerPrincipal(ctx);
      const name = v.text(req.name, "name", { max: 100 });
      const storeId = await checkStore(p.businessId, req.storeId);
      const apiKey = generateApiKey();
      const row = await db.tx(async () => {
        const created = await accounts.createApiKey({
          businessId: p.businessId,
          name,
          prefix: apiKey.slice(0, 8),
          keyHash: hashApiKey(apiKey),
          storeId,
        });
        await accounts.audit({ businessId: p.businessId, actorType: "owner", actorId: p.ownerId, action: "api_key.created", subjectId: created.id });
        return created;
      });
      return create(CreateApiKeyResponseSchema, {
        success: true,
        apiKey,
        id: row.id,
        prefix: row.prefix,
        createdAt: timestampFromDate(new Date(row.createdAt)),
      });
    },

    async listApiKeys(_req, ctx) {
      const p = ownerPrincipal(ctx);
      const keys = await accounts.listApiKeys(p.businessId);
      return create(ListApiKeysResponseSchema, { apiKeys: keys.map(apiKeyToProto) });
    },

    async revokeApiKey(req, ctx) {
      const p = ownerPrincipal(ctx);
      const id = v.id(req.id, "id");
      const keyHash = await db.tx(async () => {
        const hash = await accounts.revokeApiKey(p.businessId, id);
        if (!hash) throw notFound("API key not found");
        await accounts.audit({ businessId: p.businessId, actorType: "owner", actorId: p.ownerId, action: "api_key.revoked", subjectId: id });
        return hash;
      });
      // Evicted from every instance's cache so that all refuse it at once —
      // after the commit (with an Idempotency-Key, the interceptor's): evicted
      // before it, the key could be cached again as valid from the
      // uncommitted past by a till's call in between.
      await reads.changed(p.businessId, { apiKeyRevoked: keyHash });
      return create(RevokeApiKeyResponseSchema, { success: true });
    },

    async updateApiKey(req, ctx) {
      const p = ownerPrincipal(ctx);
      const id = v.id(req.id, "id");
      const name = v.text(req.name, "name", { max: 100 });
      const key = await db.tx(async () => {
        const renamed = await accounts.renameApiKey(p.businessId, id, name);
        if (!renamed) throw notFound("API key not found");
        await accounts.audit({ businessId: p.businessId, actorType: "owner", actorId: p.ownerId, action: "api_key.renamed", subjectId: id });
        return renamed;
      });
      return create(UpdateApiKeyResponseSchema, { success: true, apiKey: apiKeyToProto(key) });
    },

    async createStore(req, ctx) {
      const p = ownerPrincipal(ctx);
      const name = v.text(req.name, "name", { max: 200, required: true });
      const store = await db.tx(async () => {
        const created = await accounts.createStore(p.businessId, name);
        await accounts.audit({ businessId: p.businessId, actorType: "owner", actorId: p.ownerId, action: "store.created", subjectId: created.id });
        return created;
      });
      return create(CreateStoreResponseSchema, { success: true, store: storeToProto(store) });
    },

    async listStores(req, ctx) {
      const p = ownerPrincipal(ctx);
      const stores = await accounts.listStores(p.businessId, { includeArchived: req.includeArchived });
      return create(ListStoresResponseSchema, { stores: stores.map(storeToProto) });
    },

    async updateStore(req, ctx) {
      const p = ownerPrincipal(ctx);
      const id = v.id(req.id, "id");
      const name = v.text(req.name, "name", { max: 200, required: true });
      const store = await db.tx(async () => {
        const renamed = await accounts.renameStore(p.businessId, id, name);
        if (!renamed) throw notFound("store not found");
        await accounts.audit({ businessId: p.businessId, actorType: "owner", actorId: p.ownerId, action: "store.renamed", subjectId: id });
        return renamed;
      });
      return create(UpdateStoreResponseSchema, { success: true, store: storeToProto(store) });
    },

    async deleteStore(req, ctx) {
      const p = ownerPrincipal(ctx);
      const id = v.id(req.id, "id");
      const outcome = await db.tx(async () => {
        const result = await accounts.deleteStore(p.businessId, id);
        if (result === "not_found") throw notFound("store not found");
        if (result === "in_use") {
          throw new DomainError("failed_precondition", "store has active API keys bound to it; revoke them first");
        }
        await accounts.audit({
          businessId: p.businessId,
          actorType: "owner",
          actorId: p.ownerId,
          action: result === "archived" ? "store.archived" : "store.deleted",
          subjectId: id,
        });
        return result;
      });
      return create(DeleteStoreResponseSchema, { success: true, archived: outcome === "archived" });
    },

    async createReward(req, ctx) {
      const p = ownerPrincipal(ctx);
      const f = rewardFields(req);
      if (f.title === undefined) throw invalidArgument("title is required");
      if (req.cost === 0) throw invalidArgument(`cost must be a whole number from 1 to 10000000`);
      const id = await db.tx(async () => {
        await db.query(`select pg_advisory_xact_lock(hashtext('rewards:' || ?))`, [p.businessId]);
        if ((await catalogue.countRewards(p.businessId)) >= MAX_REWARDS) {
          throw new DomainError("failed_precondition", `a catalogue holds at most ${MAX_REWARDS} rewards`);
        }
        const created = await catalogue.createReward(p.businessId, {
          title: f.title!,
          cost: f.cost!,
          stock: f.stock ?? null,
          perCustomerLimit: f.perCustomerLimit ?? null,
        });
        await audit(p.businessId, p.ownerId, "reward.created", created);
        await catalogueChanged(p.businessId);
        return created;
      });
      return create(CreateRewardResponseSchema, { success: true, reward: rewardToProto(await rewardById(p.businessId, id)) });
    },

    async listRewards(_req, ctx) {
      const p = ownerPrincipal(ctx);
      return create(ListRewardsResponseSchema, { rewards: (await catalogue.listRewards(p.businessId)).map(rewardToProto) });
    },

    async updateReward(req, ctx) {
      const p = ownerPrincipal(ctx);
      const id = v.id(req.id, "id");
      const f = rewardFields(req);
      if (req.clearStock && f.stock !== undefined) throw invalidArgument("give stock or clearStock, not both");
      if (req.clearPerCustomerLimit && f.perCustomerLimit !== undefined) {
        throw invalidArgument("give perCustomerLimit or clearPerCustomerLimit, not both");
      }
      await db.tx(async () => {
        const done = await catalogue.updateReward(p.businessId, id, {
          title: f.title,
          cost: f.cost,
          active: req.active,
          stock: req.clearStock ? null : f.stock,
          perCustomerLimit: req.clearPerCustomerLimit ? null : f.perCustomerLimit,
        });
        if (!done) throw notFound("reward not found");
        if (done.isDefault) {
          if (req.active === false) throw new DomainError("failed_precondition", "the default reward cannot be deactivated: change its title and cost instead");
          if (f.title !== undefined || f.cost !== undefined) await accounts.updateProgram(p.businessId, { rewardTitle: done.title, rewardThreshold: done.cost });
        }
        await audit(p.businessId, p.ownerId, "reward.updated", id, { fields: Object.keys(req).filter((k) => k !== "id" && !k.startsWith("$")) });
        await catalogueChanged(p.businessId);
      });
      return create(UpdateRewardResponseSchema, { success: true, reward: rewardToProto(await rewardById(p.businessId, id)) });
    },

    async deactivateReward(req, ctx) {
      const p = ownerPrincipal(ctx);
      const id = v.id(req.id, "id");
      await db.tx(async () => {
        const current = await catalogue.updateReward(p.businessId, id, {});
        if (!current) throw notFound("reward not found");
        if (current.isDefault) throw new DomainError("failed_precondition", "the default reward cannot be deactivated: change its title and cost instead");
        await catalogue.updateReward(p.businessId, id, { active: false });
        await audit(p.businessId, p.ownerId, "reward.deactivated", id);
        await catalogueChanged(p.businessId);
      });
      return create(DeactivateRewardResponseSchema, { success: true, reward: rewardToProto(await rewardById(p.businessId, id)) });
    },

    async createPromotion(req, ctx) {
      const p = ownerPrincipal(ctx);
      const program = await reads.program(p.businessId);
      const promotion = await promotionFrom(deps, p.businessId, req);
      await db.tx(async () => {
        if ((await catalogue.lockPromotions(p.businessId)) >= MAX_ACTIVE_PROMOTIONS) throw tooManyActive();
        await catalogue.savePromotion(p.businessId, promotion, true);
        await audit(p.businessId, p.ownerId, "promotion.created", promotion.id);
        await catalogueChanged(p.businessId);
      });
      const saved = await catalogue.findPromotion(p.businessId, promotion.id);
      return create(CreatePromotionResponseSchema, { success: true, promotion: promotionToProto(saved!, program) });
    },

    async listPromotions(_req, ctx) {
      const p = ownerPrincipal(ctx);
      const [program, list] = await Promise.all([reads.program(p.businessId), catalogue.listPromotions(p.businessId)]);
      return create(ListPromotionsResponseSchema, { promotions: list.map((x) => promotionToProto(x, program)) });
    },

    async updatePromotion(req, ctx) {
      const p = ownerPrincipal(ctx);
      const id = v.id(req.id, "id");
      const program = await reads.program(p.businessId);
      const saved = await db.tx(async () => {
        const active = await catalogue.lockPromotions(p.businessId);
        const base = await catalogue.findPromotion(p.businessId, id, true);
        if (!base) throw notFound("promotion not found");
        const next = await promotionFrom(deps, p.businessId, req, base);
        if (next.active && !base.active && active >= MAX_ACTIVE_PROMOTIONS) throw tooManyActive();
        await catalogue.savePromotion(p.businessId, next, false);
        await audit(p.businessId, p.ownerId, "promotion.updated", id);
        await catalogueChanged(p.businessId);
        return next;
      });
      return create(UpdatePromotionResponseSchema, { success: true, promotion: promotionToProto(saved, program) });
    },

    async endPromotion(req, ctx) {
      const p = ownerPrincipal(ctx);
      const id = v.id(req.id, "id");
      const program = await reads.program(p.businessId);
      const saved = await db.tx(async () => {
        const base = await catalogue.findPromotion(p.businessId, id, true);
        if (!base) throw notFound("promotion not found");
        const next = { ...base, active: false };
        await catalogue.savePromotion(p.businessId, next, false);
        await audit(p.businessId, p.ownerId, "promotion.ended", id);
        await catalogueChanged(p.businessId);
        return next;
      });
      return create(EndPromotionResponseSchema, { success: true, promotion: promotionToProto(saved, program) });
    },

    async getDashboard(req, ctx) {
      const p = ownerPrincipal(ctx);
      const days = req.days === 0 ? 30 : v.wholeNumber(req.days, "days", 1, 365);
      const program = await reads.program(p.businessId);
      const [d, expiring] = await Promise.all([
        accounts.dashboard(p.businessId, days, program.rewardThreshold),
        // Points whose instant comes within 30 days from now (contract §10); none without a policy.
        tracksLots(program) ? deps.lots.expiringBefore(p.businessId, new Date(Date.now() + 30 * 86_400_000)) : 0,
      ]);
      const sum = (f: (x: (typeof d.daily)[number]) => number) => d.daily.reduce((s, x) => s + f(x), 0);
      // Issued: check-ins, their promotions, bonuses and imports; redeemed: rewards only (proto comments).
      const issued = (x: (typeof d.daily)[number]) => x.earned + x.promotion + x.bonus + x.imported;
      return create(GetDashboardResponseSchema, {
        totalCustomers: d.totalCustomers,
        activeCustomers: d.activeCustomers,
        blockedCustomers: d.blockedCustomers,
        rewardsAvailable: d.rewardsAvailable,
        pointsIssued: sum(issued),
        pointsRedeemed: sum((x) => x.redeemed),
        pointsEarned: sum((x) => x.earned),
        pointsBonus: sum((x) => x.bonus),
        pointsDeducted: sum((x) => x.deducted),
        pointsImported: sum((x) => x.imported),
        pointsOpening: sum((x) => x.opening),
        pointsPromotion: sum((x) => x.promotion),
        pointsExpiring30Days: expiring,
        pointsExpired: sum((x) => x.expired),
        daily: d.daily.map((x) => create(DailyPointsSchema, { date: x.date, issued: issued(x), redeemed: x.redeemed })),
      });
    },
  };
}

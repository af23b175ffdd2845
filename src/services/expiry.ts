import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ExpiringPointsSchema, PointLotSchema, type ExpiringPoints } from "../../gen/loyalty/v1/types_pb.js";
import { lotExpiresAt } from "../domain/expiry.js";
import type { ProgramView } from "../persistence/catalogue-repository.js";
import type { LotRow, LotTerms } from "../persistence/lot-repository.js";
import { expiryShape } from "./reference-shape.js";
import type { ServiceDeps } from "./deps.js";

/**
 * Point expiry on the request paths (contract §10): whether a business keeps
 * lots, the terms of points earned now, and the look-ups' additions. A
 * business that never set a policy (`expirySince` null) pays one property
 * read on its check-ins and redemptions and gets the reference's answers.
 */

/** Does the business keep lots: has it ever had an expiry policy? */
export function tracksLots(program: ProgramView): boolean {
  return program.expirySince !== null;
}

/** The terms of points earned now: undefined under "never" (no lot). */
export function lotTerms(program: ProgramView, now: Date = new Date()): LotTerms | undefined {
  if (program.pointsExpireAfterMonths === 0) return undefined;
  return { earnedAt: now, expiresAt: lotExpiresAt(now, program.pointsExpireAfterMonths, program.timezone) };
}

/** A customer's points that will expire, soonest first; [] and no query for a business without lots. */
export async function expiringPoints(deps: ServiceDeps, program: ProgramView, customerId: string): Promise<ExpiringPoints[]> {
  if (!tracksLots(program)) return [];
  const rows = await deps.lots.expiring(program.businessId, customerId);
  return rows.map((r) => create(ExpiringPointsSchema, { points: r.points, expiresAt: timestampFromDate(r.expiresAt) }));
}

/** A business without an expiry policy answers without the expiry additions over REST (the reference's shape). */
export function expiryShaped<T extends object>(program: ProgramView, message: T): T {
  return tracksLots(program) ? message : expiryShape(message);
}

export function lotToProto(l: LotRow) {
  return create(PointLotSchema, {
    id: l.id,
    points: l.points,
    remaining: l.remaining,
    expired: l.expired_points,
    earnedAt: timestampFromDate(l.earned_at),
    expiresAt: timestampFromDate(l.expires_at),
    checkinId: l.checkin_id ?? "",
  });
}

import { isFieldSet, type DescMessage, type Message } from "@bufbuild/protobuf";
import { isExpiryShaped, isReferenceShaped } from "../services/reference-shape.js";

/**
 * Answers in the published reference's shape (issue 15): a business that
 * never touched the rewards catalogue (only its default reward, no active
 * promotion) gets over REST byte for byte the answers it got before the
 * catalogue existed. The catalogue's scalar additions are proto3
 * `optional` (left unset, no JSON codec emits them); its list
 * `availableRewards` is repeated, which the REST JSON would write as `[]`:
 * the REST gateway leaves it out of an answer the service marked
 * (`services/reference-shape.ts`). A check-in's answer is
 * known by its content (`basePoints` unset), so an idempotent replay,
 * decoded from storage, keeps the shape. (Connect JSON writes every
 * implicit value, the empty list included; binary gRPC and Connect never
 * carry an empty list.)
 */
const LIST = "availableRewards";

/**
 * The same for point expiry (issue 16): a business that never had an expiry
 * policy answers its look-ups over REST without `expiringPoints` (an empty
 * list), `lots` (empty) and `nextExpiry` (null); the service marks them
 * (`isExpiryShaped`).
 */
const EXPIRY_LISTS = ["expiringPoints", "lots"];
const EXPIRY_MESSAGES = ["nextExpiry"];

/** Response fields that answers in the reference's shape may leave out over REST (OpenAPI does not require them). */
export const OMITTABLE_FIELDS: readonly string[] = [LIST, ...EXPIRY_LISTS, ...EXPIRY_MESSAGES];

/** Drops the empty catalogue list (and expiry additions) of an answer in the reference's shape from its REST JSON. */
export function applyReferenceShape(desc: DescMessage, message: Message, json: Record<string, unknown>): void {
  if (isExpiryShaped(message)) {
    for (const k of EXPIRY_LISTS) if (Array.isArray(json[k]) && (json[k] as unknown[]).length === 0) delete json[k];
    for (const k of EXPIRY_MESSAGES) if (json[k] === null) delete json[k];
  }
  const list = json[LIST];
  if (!Array.isArray(list) || list.length !== 0) return;
  const base = desc.fields.find((f) => f.localName === "basePoints");
  if (isReferenceShaped(message) || (base !== undefined && !isFieldSet(message, base))) delete json[LIST];
}

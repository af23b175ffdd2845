import { isFieldSet, type DescMessage, type Message } from "@bufbuild/protobuf";
import { isReferenceShaped } from "../services/reference-shape.js";

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

/** Drops the empty catalogue list of an answer in the reference's shape from its REST JSON. */
export function applyReferenceShape(desc: DescMessage, message: Message, json: Record<string, unknown>): void {
  const list = json[LIST];
  if (!Array.isArray(list) || list.length !== 0) return;
  const base = desc.fields.find((f) => f.localName === "basePoints");
  if (isReferenceShaped(message) || (base !== undefined && !isFieldSet(message, base))) delete json[LIST];
}

/**
 * Answers in the published reference's shape (issue 15): a business that
 * never touched the rewards catalogue (only its default reward, no active
 * promotion) gets byte-for-byte the answers it got before the catalogue
 * existed. The catalogue's scalar additions are `optional` in the proto
 * (left unset, they are not emitted); its lists (`availableRewards`) are
 * repeated, which REST would emit as `[]` — a message marked here has its
 * empty lists left out of the REST JSON. (Connect JSON and binary gRPC
 * never carry an empty list anyway.)
 */
const marked = new WeakSet<object>();

export function referenceShape<T extends object>(message: T): T {
  marked.add(message);
  return message;
}

/** Drops the empty lists of a marked message's REST JSON. */
export function applyReferenceShape(message: object, json: Record<string, unknown>): void {
  if (!marked.has(message)) return;
  for (const [k, v] of Object.entries(json)) if (Array.isArray(v) && v.length === 0) delete json[k];
}
